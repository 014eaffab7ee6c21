# De-identification, one job per radiograph: DICOM PS3.15 Basic Profile with options, keyed
# pseudonyms, remapped UIDs, shifted dates, burned-in text flagged; an audit record per image.
# The header gate (config 'gate') runs here first, on the original header: a film hipseg does
# not answer for (another view or body part, a child, an impossible spacing, …) is a named error.
# The job reads the patient value from the sample sheet itself: it is never a param, a
# command-line argument or a log line.


rule deid:
    input:
        validated=rules.validate_samples.output,
        sheet=lambda w: sample_sheet(),
        dicom=lambda w: sample(w, "dicom"),
    output:
        dicom=f"{RESULTS}/deid/{{id}}.dcm",
        audit=f"{RESULTS}/deid/{{id}}.audit.json",
    log:
        f"{RESULTS}/logs/deid/{{id}}.log",
    benchmark:
        f"{BENCH}/deid/{{id}}.tsv"
    group:
        "radiograph"
    conda:
        CONDA_ENV
    params:
        code=CODE["deid"],
        options=options("deid"),
        gate=options("gate"),
        crop=gate_crop_options(),
    shell:
        "python -m hipseg deid --sheet {input.sheet:q} --id {wildcards.id}"
        " --out {output.dicom} --audit {output.audit} --options {params.options:q}"
        " --gate {params.gate:q} --crop {params.crop:q} > {log} 2>&1"


rule deid_summary:
    input:
        audits=lambda w: expand(rules.deid.output.audit, id=dicom_ids()),
        sheet=rules.validate_samples.output[0],
    output:
        f"{RESULTS}/deid/summary.json",
    log:
        f"{RESULTS}/logs/deid_summary.log",
    benchmark:
        f"{BENCH}/deid_summary.tsv"
    localrule: True
    conda:
        CONDA_ENV
    params:
        code=CODE["deid_summary"],
    shell:
        "python -m hipseg deid-summary --audits {input.audits} --sheet {input.sheet}"
        " --out {output} > {log} 2>&1"
