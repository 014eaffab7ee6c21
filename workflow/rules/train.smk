# Training: folds 0-4 and "all" of each configuration, one job each (GPU jobs on a cluster, CPU
# on the demo).
# A rerun after a kill resumes from nnU-Net's latest checkpoint (same settings only).


rule train:
    input:
        unpack(train_inputs),
    output:
        CHECKPOINT_PATTERN,
    log:
        f"{RESULTS}/logs/train/{{conf}}/fold_{{fold}}.log",
    benchmark:
        f"{BENCH}/train/{{conf}}/fold_{{fold}}.tsv"
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
        dataset_id=config["dataset"]["id"],
        options=options("train"),
    shell:
        "python -m hipseg train --nnunet-root {params.root} --dataset-id {params.dataset_id}"
        " --configuration {wildcards.conf} --fold {wildcards.fold} --threads {threads}"
        " --options {params.options:q} > {log} 2>&1"
