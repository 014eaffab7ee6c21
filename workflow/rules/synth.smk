# Synthetic demo data: AP pelvis radiographs as DICOM CR + label maps + a sample sheet.
# A checkpoint: the sample sheet it writes decides which per-radiograph jobs exist.


checkpoint synth:
    output:
        sheet=f"{DEMO_DIR}/samples.tsv",
        dicom=directory(f"{DEMO_DIR}/dicom"),
        labels=directory(f"{DEMO_DIR}/labels"),
        montage=f"{DEMO_DIR}/montage.png",
        gallery=f"{DEMO_DIR}/gallery.png",
    log:
        f"{RESULTS}/logs/synth.log",
    benchmark:
        f"{RESULTS}/benchmarks/synth.tsv"
    conda:
        CONDA_ENV
    params:
        code=CODE["synth"],
        out=lambda w, output: Path(output.sheet).parent,
        options=cli_args(
            preset=config["demo"]["preset"],
            seed=config["demo"]["seed"],
            n_patients=config["demo"]["n_patients"],
        ),
    shell:
        "python -m hipseg synth --out {params.out} --montage {output.montage}"
        " --gallery {output.gallery}"
        " {params.options} > {log} 2>&1"
