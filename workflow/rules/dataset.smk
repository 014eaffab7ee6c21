# nnU-Net raw dataset (imagesTr/labelsTr/imagesTs/labelsTs + dataset.json), split by patient.


rule dataset:
    input:
        lambda w: expand(rules.crop.output, id=all_ids()),
    output:
        raw=directory(RAW_DIR),
        cases=f"{RESULTS}/dataset/cases.tsv",
        summary=f"{RESULTS}/dataset/summary.json",
    log:
        f"{RESULTS}/logs/dataset.log",
    benchmark:
        f"{RESULTS}/benchmarks/dataset.tsv"
    conda:
        CONDA_ENV
    params:
        raw_root=f"{NNUNET}/nnUNet_raw",
        out_dir=f"{RESULTS}/dataset",
        id=config["dataset"]["id"],
        name=config["dataset"]["name"],
        test_fraction=config["dataset"]["test_fraction"],
        seed=config["dataset"]["seed"],
        channel=config["dataset"]["channel_name"],
        manifests=lambda w, input: [f"{d}/manifest.json" for d in input],
    shell:
        "python -m hipseg dataset --manifests {params.manifests} --raw-root {params.raw_root}"
        " --dataset-id {params.id} --name {params.name} --test-fraction {params.test_fraction}"
        " --seed {params.seed} --channel-name {params.channel} --out-dir {params.out_dir}"
        " > {log} 2>&1"
