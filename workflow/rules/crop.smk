# One-joint cropping: left and right hip images (2D NIfTI, true spacing), one side mirrored.
# The pseudonym, hips, split and note come from the de-identification audit record.


rule crop:
    input:
        dicom=rules.deid.output.dicom,
        audit=rules.deid.output.audit,
        labels=lambda w: sample(w, "labels"),
    output:
        directory(f"{RESULTS}/joints/{{id}}"),
    log:
        f"{RESULTS}/logs/crop/{{id}}.log",
    benchmark:
        f"{BENCH}/crop/{{id}}.tsv"
    group:
        "radiograph"
    conda:
        CONDA_ENV
    params:
        code=CODE["crop"],
        options=options("crop"),
    shell:
        "python -m hipseg crop --id {wildcards.id} --dicom {input.dicom} --audit {input.audit}"
        " --labels {input.labels:q} --out-dir {output} --options {params.options:q}"
        " > {log} 2>&1"
