# The reviewer's HTML report: one self-contained file with tables, figures, the methods text and
# the data behind every table; references.bib beside it. `snakemake --report` (Snakemake's own
# report of the run) describes the workflow with ../report/workflow.rst and shows the outputs
# marked with report() here and in evaluate.smk.


report: "../report/workflow.rst"


# Montage and gallery of the demo's radiographs, made from the deid stage's outputs: every image
# is de-identified (boundary marker checked) and redacted, captions carry pseudonyms, an image
# only flagged for burned-in text is withheld with a placeholder.
rule figures:
    input:
        sheet=rules.validate_samples.output[0],
        dicoms=lambda w: expand(rules.deid.output.dicom, id=all_ids()),
        audits=lambda w: expand(rules.deid.output.audit, id=all_ids()),
        labels=lambda w: list(samples()["labels"]),
    output:
        montage=f"{DEMO_DIR}/montage.png",
        gallery=f"{DEMO_DIR}/gallery.png",
    log:
        f"{RESULTS}/logs/figures.log",
    benchmark:
        f"{BENCH}/figures.tsv"
    conda:
        CONDA_ENV
    params:
        deid_dir=lambda w, input: Path(input.dicoms[0]).parent,
        code=CODE["figures"],
    shell:
        "python -m hipseg figures --sheet {input.sheet} --deid-dir {params.deid_dir}"
        " --montage {output.montage} --gallery {output.gallery} > {log} 2>&1"


rule report:
    input:
        evaluation=rules.evaluate.output,
        subgroups=rules.subgroups.output.summary,
        predictions=rules.predict.output,
        checkpoints=model_checkpoints(FOLDS_USED),
        configurations=expand(
            rules.evaluate_configuration.output.summary, conf=EXTRA_CONFS
        ),
        dataset=rules.dataset.output.summary,
        raw=rules.dataset.output.raw,
        plans=f"{MODEL_DIR}/plans.json" if EXISTING_MODELS else PLANS,
        deid=rules.deid_summary.output,
        template=TEMPLATE,
        templates=sorted(local_path(p) for p in Path(TEMPLATE).parent.glob("*.j2")),
        montage=(rules.figures.output.montage if config["demo"]["enabled"] else []),
        gallery=(rules.figures.output.gallery if config["demo"]["enabled"] else []),
        paper_plan=(rules.paper_plan.output if config["paper_plan"]["enabled"] else []),
        measurements=(
            rules.validate_measurements.output.json if VALIDATE_MEASUREMENTS else []
        ),
    output:
        html=report(
            REPORT,
            caption="../report/report.rst",
            category="Report",
            labels={"file": "report.html"},
        ),
        bib=f"{RESULTS}/report/references.bib",
    log:
        f"{RESULTS}/logs/report.log",
    benchmark:
        f"{BENCH}/report.tsv"
    localrule: True
    conda:
        CONDA_ENV
    params:
        code=CODE["report"],
        evaluation=lambda w, input: Path(input.evaluation[0]).parent,
        subgroups=lambda w, input: Path(input.subgroups).parent,
        predictions=lambda w, input: Path(input.predictions[0]).parent,
        benchmarks=BENCH,
        options=options("report"),
        config=json.dumps(config, sort_keys=True),
        montage=lambda w, input: f"--montage {input.montage}" if input.montage else "",
        gallery=lambda w, input: f"--gallery {input.gallery}" if input.gallery else "",
        paper_plan=lambda w, input: (
            f"--paper-plan {input.paper_plan}" if input.paper_plan else ""
        ),
        measurements=lambda w, input: (
            f"--measurements {input.measurements}" if input.measurements else ""
        ),
        model_dir=lambda w, input: Path(input.checkpoints[0]).parents[1],
        existing="--existing-models" if EXISTING_MODELS else "",
        configurations=lambda w, input: (
            " ".join(
                f"--configuration {c}={Path(s).parent}"
                for c, s in zip(EXTRA_CONFS, input.configurations)
            )
        ),
    shell:
        "python -m hipseg report --evaluation-dir {params.evaluation} --dataset-summary {input.dataset}"
        " --plans {input.plans} --images-dir {input.raw}/imagesTs"
        " --labels-dir {input.raw}/labelsTs --predictions-root {params.predictions}"
        " --checkpoints {input.checkpoints} --config-json {params.config:q}"
        " --deid-summary {input.deid} --benchmarks-dir {params.benchmarks}"
        " --template {input.template} {params.montage} {params.gallery} {params.paper_plan}"
        " {params.measurements} --model-dir {params.model_dir:q} {params.existing} {params.configurations}"
        " --subgroups {params.subgroups} --options {params.options:q} --bib {output.bib}"
        " --out {output.html} > {log} 2>&1"
