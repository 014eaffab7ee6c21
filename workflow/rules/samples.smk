# Full validation of the sample sheet (every file, sizes, label values) before anything runs.
# The validated copy carries keyed pseudonyms, never the sheet's patient values.


rule validate_samples:
    input:
        lambda w: sheet_files(),
    output:
        f"{RESULTS}/samples/validated.tsv",
    log:
        f"{RESULTS}/logs/validate_samples.log",
    benchmark:
        f"{BENCH}/validate_samples.tsv"
    localrule: True
    conda:
        CONDA_ENV
    params:
        code=CODE["validate_samples"],
        key="--demo-key" if config["deid"]["use_demo_key"] else "",
        sheet=lambda w: sample_sheet(),
        source=source_options(),
    shell:
        "python -m hipseg validate-samples {params.sheet:q} --out {output} {params.key}"
        " --source {params.source:q} > {log} 2>&1 || (cat {log} >&2; exit 1)"
