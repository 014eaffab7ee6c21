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
        f"{BENCH}/plan.tsv"
    conda:
        CONDA_ENV
    threads: config["nnunet"]["processes"]
    resources:
        mem_mb=config["nnunet"]["mem_mb"],
    params:
        code=CODE["plan"],
        root=lambda w, input: Path(input.raw).parents[1],
        dataset_id=config["dataset"]["id"],
        options=options("nnunet"),
    shell:
        "python -m hipseg plan --nnunet-root {params.root} --dataset-id {params.dataset_id}"
        " --processes {threads} --manifest {output.manifest} --options {params.options:q}"
        " > {log} 2>&1"


rule splits:
    input:
        cases=rules.dataset.output.cases,
        plans=rules.plan.output.plans,
    output:
        f"{PRE_DIR}/splits_final.json",
    log:
        f"{RESULTS}/logs/splits.log",
    benchmark:
        f"{BENCH}/splits.tsv"
    localrule: True
    conda:
        CONDA_ENV
    params:
        code=CODE["splits"],
        options=options("dataset"),
    shell:
        "python -m hipseg splits --cases {input.cases} --out {output}"
        " --options {params.options:q} > {log} 2>&1"
