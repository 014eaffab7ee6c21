# Training: folds 0-4 and "all", one job each (GPU jobs on a cluster, CPU on the demo).
# A rerun after a kill resumes from nnU-Net's latest checkpoint (same settings only).


def train_inputs(wildcards):
    inputs = {"plans": PLANS, "data": rules.plan.output.manifest}
    if wildcards.fold != "all":
        inputs["splits"] = rules.splits.output[0]
    return inputs


rule train:
    input:
        unpack(train_inputs),
    output:
        f"{MODEL_DIR}/fold_{{fold}}/checkpoint_final.pth",
    log:
        f"{RESULTS}/logs/train/fold_{{fold}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/train/fold_{{fold}}.tsv"
    conda:
        CONDA_ENV
    threads: config["train"]["threads"]
    resources:
        gpu=config["train"]["resources"]["gpu"],
        mem_mb=config["train"]["resources"]["mem_mb"],
        runtime=config["train"]["resources"]["runtime"],
    params:
        root=NNUNET,
        conf=CONF,
        id=config["dataset"]["id"],
        trainer=config["train"]["trainer"],
        epochs=config["train"]["epochs"],
        iterations=config["train"]["iterations_per_epoch"],
        val_iterations=config["train"]["val_iterations_per_epoch"],
        checkpoint_every=config["train"]["checkpoint_every"],
        device=config["train"]["device"],
        n_proc_da=config["train"]["n_proc_da"],
        validate="--validate" if config["train"]["validate"] else "--no-validate",
        seed=(
            f"--seed {config['train']['seed']}"
            if config["train"]["seed"] is not None
            else ""
        ),
    shell:
        "python -m hipseg train --nnunet-root {params.root} --dataset-id {params.id} --fold {wildcards.fold}"
        " --configuration {params.conf} --trainer {params.trainer} --epochs {params.epochs}"
        " --iterations {params.iterations} --val-iterations {params.val_iterations}"
        " --checkpoint-every {params.checkpoint_every} --device {params.device}"
        " --threads {threads} --n-proc-da {params.n_proc_da} {params.seed}"
        " {params.validate} > {log} 2>&1"
