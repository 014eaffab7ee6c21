# De-identification, one job per radiograph: keyed pseudonyms, remapped UIDs, shifted dates.


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
        patient=lambda w: sample(w, "patient"),
        demo_key="--demo-key" if config["deid"]["use_demo_key"] else "",
    shell:
        "python -m hipseg deid --id {wildcards.id} --dicom {input.dicom:q} --patient {params.patient:q}"
        " --out {output.dicom} --audit {output.audit} {params.demo_key} > {log} 2>&1"


rule deid_summary:
    input:
        lambda w: expand(rules.deid.output.audit, id=all_ids()),
    output:
        f"{RESULTS}/deid/summary.json",
    log:
        f"{RESULTS}/logs/deid_summary.log",
    conda:
        CONDA_ENV
    shell:
        "python -m hipseg deid-summary --audits {input} --out {output} > {log} 2>&1"
