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
        f"{BENCH}/dataset.tsv"
    localrule: True
    conda:
        CONDA_ENV
    params:
        code=CODE["dataset"],
        raw_root=lambda w, output: Path(output.raw).parent,
        out_dir=lambda w, output: Path(output.summary).parent,
        manifests=lambda w, input: [f"{d}/manifest.json" for d in input],
        options=options("dataset"),
    shell:
        "python -m hipseg dataset --manifests {params.manifests} --raw-root {params.raw_root}"
        " --out-dir {params.out_dir} --options {params.options:q} > {log} 2>&1"
