# Training: folds 0-4 and "all", one job each (GPU jobs on a cluster, CPU on the demo).
# A rerun after a kill resumes from nnU-Net's latest checkpoint (same settings only).


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
        gpu_mem_mb=config["train"]["resources"]["gpu_mem_mb"],
        scratch_mb=config["train"]["resources"]["scratch_mb"],
    params:
        code=CODE["train"],
        root=lambda w, input: Path(input.plans).parents[2],
        options=cli_args(
            dataset_id=config["dataset"]["id"],
            configuration=CONF,
            trainer=config["train"]["trainer"],
            epochs=config["train"]["epochs"],
            iterations=config["train"]["iterations_per_epoch"],
            val_iterations=config["train"]["val_iterations_per_epoch"],
            checkpoint_every=config["train"]["checkpoint_every"],
            device=config["train"]["device"],
            n_proc_da=config["train"]["n_proc_da"],
            seed=config["train"]["seed"],
            validate=config["train"]["validate"],
        ),
    shell:
        "python -m hipseg train --nnunet-root {params.root} --fold {wildcards.fold}"
        " --threads {threads} {params.options} > {log} 2>&1"
