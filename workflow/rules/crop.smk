# One-joint cropping: left and right hip images (2D NIfTI, true spacing), one side mirrored.
# The pseudonym, hips, split and note come from the de-identification audit record. A row of a
# joint sheet (or an nnU-Net dataset) is one joint: taken as it is, mirrored by its side; a
# non-DICOM one (taken as de-identified by its provider) gets its row from validated.tsv.


rule crop:
    input:
        unpack(crop_inputs),
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
        inputs=crop_args,
        source=source_options(),
    shell:
        "python -m hipseg crop --id {wildcards.id} {params.inputs} --out-dir {output}"
        " --options {params.options:q} --source {params.source:q} > {log} 2>&1"
