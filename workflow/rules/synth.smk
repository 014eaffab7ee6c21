# Synthetic demo data: AP pelvis radiographs as DICOM CR + label maps + a sample sheet.
# A checkpoint: the sample sheet it writes decides which per-radiograph jobs exist. Its
# radiographs carry burned-in names: the report's figures are made after deid (report.smk).


checkpoint synth:
    output:
        sheet=f"{DEMO_DIR}/samples.tsv",
        dicom=directory(f"{DEMO_DIR}/dicom"),
        labels=directory(f"{DEMO_DIR}/labels"),
        truth=directory(f"{DEMO_DIR}/truth"),
    log:
        f"{RESULTS}/logs/synth.log",
    benchmark:
        f"{BENCH}/synth.tsv"
    conda:
        CONDA_ENV
    params:
        code=CODE["synth"],
        out=lambda w, output: Path(output.sheet).parent,
        options=options("demo"),
    shell:
        "python -m hipseg synth --out {params.out} --options {params.options:q} > {log} 2>&1"
