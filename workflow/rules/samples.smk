# Full validation of the sample sheet (every file, sizes, label values) before anything runs.
# The validated copy carries keyed pseudonyms, never the sheet's patient values.


rule validate_samples:
    input:
        lambda w: (
            sample_sheet()
            if not config["demo"]["enabled"]
            else checkpoints.synth.get().output.sheet
        ),
    output:
        f"{RESULTS}/samples/validated.tsv",
    log:
        f"{RESULTS}/logs/validate_samples.log",
    benchmark:
        f"{BENCH}/validate_samples.tsv"
    conda:
        CONDA_ENV
    params:
        code=CODE["validate_samples"],
        key="--demo-key" if config["deid"]["use_demo_key"] else "",
    shell:
        "python -m hipseg validate-samples {input:q} --out {output} {params.key}"
        " > {log} 2>&1 || (cat {log} >&2; exit 1)"
