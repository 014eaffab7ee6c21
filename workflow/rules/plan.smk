# nnU-Net fingerprint + plan (every configuration: 2d, and 2d_lowres at a coarser spacing), the
# preprocessing of each configuration in nnunet.configurations, then the patient-grouped folds
# (before any training: parallel training jobs would otherwise race to create splits_final.json).


rule plan:
    input:
        raw=rules.dataset.output.raw,
    output:
        plans=PLANS,
        fingerprint=f"{PRE_DIR}/dataset_fingerprint.json",
    log:
        f"{RESULTS}/logs/plan.log",
    benchmark:
        f"{BENCH}/plan.tsv"
    # planning and preprocessing as one cluster job (each job waits in a queue)
    group:
        "plan"
    conda:
        CONDA_ENV
    threads: config["nnunet"]["processes"]
    resources:
        mem_mb=config["nnunet"]["mem_mb"],
    params:
        code=CODE["plan"],
        root=lambda w, input: Path(input.raw).parents[1],
        dataset_id=config["dataset"]["id"],
        options=plan_options(),
    shell:
        "python -m hipseg plan --nnunet-root {params.root} --dataset-id {params.dataset_id}"
        " --processes {threads} --options {params.options:q} > {log} 2>&1"


rule preprocess:
    input:
        unpack(preprocess_inputs),
    output:
        # a manifest, not directory(): Snakemake's timestamp file inside nnU-Net's data folder
        # would break nnU-Net's dataset-format detection
        f"{PRE_DIR}/hipseg_preprocessed_{{conf}}.json",
    log:
        f"{RESULTS}/logs/preprocess/{{conf}}.log",
    benchmark:
        f"{BENCH}/preprocess/{{conf}}.tsv"
    group:
        "plan"
    conda:
        CONDA_ENV
    threads: config["nnunet"]["processes"]
    resources:
        mem_mb=config["nnunet"]["mem_mb"],
    params:
        code=CODE["preprocess"],
        root=lambda w, input: Path(input.plans).parents[2],
        dataset_id=config["dataset"]["id"],
    shell:
        "python -m hipseg preprocess --nnunet-root {params.root} --dataset-id {params.dataset_id}"
        " --configuration {wildcards.conf} --processes {threads} --manifest {output}"
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
