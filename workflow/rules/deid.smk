# De-identification, one job per radiograph: DICOM PS3.15 Basic Profile with options, keyed
# pseudonyms, remapped UIDs, shifted dates, burned-in text flagged; an audit record per image.


rule deid:
    input:
        validated=rules.validate_samples.output,
        dicom=lambda w: sample(w, "dicom"),
    output:
        dicom=f"{RESULTS}/deid/{{id}}.dcm",
        audit=f"{RESULTS}/deid/{{id}}.audit.json",
    log:
        f"{RESULTS}/logs/deid/{{id}}.log",
    conda:
        CONDA_ENV
    params:
        code=CODE["deid"],
        patient=lambda w: sample(w, "patient"),
        options=cli_args(
            demo_key=config["deid"]["use_demo_key"] or None,
            retain_longitudinal=config["deid"]["retain_longitudinal"],
            retain_patient_characteristics=",".join(
                config["deid"]["retain_patient_characteristics"]
            ),
            retain_device_identity=config["deid"]["retain_device_identity"],
            keep_private=json.dumps(config["deid"]["keep_private"]),
            blank_regions=json.dumps(config["deid"]["blank_regions"]),
            on_burned_in=config["deid"]["on_burned_in"],
        ),
    shell:
        "python -m hipseg deid --id {wildcards.id} --dicom {input.dicom:q} --patient {params.patient:q}"
        " --out {output.dicom} --audit {output.audit} {params.options} > {log} 2>&1"


rule deid_summary:
    input:
        lambda w: expand(rules.deid.output.audit, id=all_ids()),
    output:
        f"{RESULTS}/deid/summary.json",
    log:
        f"{RESULTS}/logs/deid_summary.log",
    conda:
        CONDA_ENV
    params:
        code=CODE["deid_summary"],
    shell:
        "python -m hipseg deid-summary --audits {input} --out {output} > {log} 2>&1"
