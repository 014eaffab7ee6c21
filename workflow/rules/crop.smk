# One-joint cropping: left and right hip images (2D NIfTI, true spacing), one side mirrored.


rule crop:
    input:
        dicom=rules.deid.output.dicom,
        audit=rules.deid.output.audit,
        labels=lambda w: sample(w, "labels"),
    output:
        directory(f"{RESULTS}/joints/{{id}}"),
    log:
        f"{RESULTS}/logs/crop/{{id}}.log",
    conda:
        CONDA_ENV
    params:
        code=CODE["crop"],
        hips=lambda w: sample(w, "hips"),
        split=lambda w: sample(w, "split"),
        note=lambda w: sample(w, "note"),
        rule=json.dumps(config["crop"], sort_keys=True),
    shell:
        "python -m hipseg crop --id {wildcards.id} --dicom {input.dicom} --audit {input.audit}"
        " --labels {input.labels:q} --hips {params.hips} --split={params.split:q}"
        " --note={params.note:q} --rule {params.rule:q} --out-dir {output} > {log} 2>&1"
