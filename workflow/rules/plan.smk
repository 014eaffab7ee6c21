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
        code=CODE["plan"],
        root=lambda w, input: Path(input.raw).parents[1],
        options=cli_args(
            dataset_id=config["dataset"]["id"],
            configuration=CONF,
            planner=config["nnunet"]["planner"],
            overrides=json.dumps(
                config["nnunet"].get("plans_overrides") or {}, sort_keys=True
            ),
            gpu_memory_gb=config["nnunet"].get("gpu_memory_target_gb"),
        ),
    shell:
        "python -m hipseg plan --nnunet-root {params.root} --processes {threads}"
        " --manifest {output.manifest} {params.options} > {log} 2>&1"


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
        code=CODE["splits"],
        options=cli_args(folds=5, seed=config["dataset"]["seed"]),
    shell:
        "python -m hipseg splits --cases {input.cases} --out {output} {params.options}"
        " > {log} 2>&1"
