# nnU-Net fingerprint + plan + preprocess, then the patient-grouped folds (before any training:
# parallel training jobs would otherwise race to create splits_final.json).


rule plan:
    input:
        raw=rules.dataset.output.raw,
    output:
        plans=PLANS,
        fingerprint=f"{PRE_DIR}/dataset_fingerprint.json",
        # a manifest, not directory(): Snakemake's timestamp file inside nnU-Net's data folder
        # would break nnU-Net's dataset-format detection
        manifest=f"{PRE_DIR}/hipseg_preprocessed.json",
    log:
        f"{RESULTS}/logs/plan.log",
    benchmark:
        f"{RESULTS}/benchmarks/plan.tsv"
    conda:
        CONDA_ENV
    threads: config["nnunet"]["processes"]
    resources:
        mem_mb=config["nnunet"]["mem_mb"],
    params:
        root=NNUNET,
        conf=CONF,
        id=config["dataset"]["id"],
        planner=config["nnunet"]["planner"],
        overrides=json.dumps(
            config["nnunet"].get("plans_overrides") or {}, sort_keys=True
        ),
        gpu_memory=(
            f"--gpu-memory-gb {config['nnunet']['gpu_memory_target_gb']}"
            if config["nnunet"].get("gpu_memory_target_gb")
            else ""
        ),
    shell:
        "python -m hipseg plan --nnunet-root {params.root} --dataset-id {params.id} --configuration {params.conf}"
        " --planner {params.planner} --overrides {params.overrides:q} --processes {threads}"
        " --manifest {output.manifest}"
        " {params.gpu_memory} > {log} 2>&1"


rule splits:
    input:
        cases=rules.dataset.output.cases,
        plans=rules.plan.output.plans,
    output:
        f"{PRE_DIR}/splits_final.json",
    log:
        f"{RESULTS}/logs/splits.log",
    conda:
        CONDA_ENV
    params:
        folds=5,
        seed=config["dataset"]["seed"],
    shell:
        "python -m hipseg splits --cases {input.cases} --out {output} --folds {params.folds}"
        " --seed {params.seed} > {log} 2>&1"
