# Full validation of the sample sheet (every file, sizes, label values) before anything runs.


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
    conda:
        CONDA_ENV
    params:
        code=CODE["validate_samples"],
    shell:
        "python -m hipseg validate-samples {input} --out {output} > {log} 2>&1 || (cat {log} >&2; exit 1)"
