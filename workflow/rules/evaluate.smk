# Dice, HD95, ASSD and NSD per image and label for every model; Table I (per model) and
# Table II (best model) with patient-bootstrap intervals; paired tests of the best model.


rule evaluate:
    input:
        raw=rules.dataset.output.raw,
        cases=rules.dataset.output.cases,
        predictions=rules.predict.output,
    output:
        dice=f"{EVAL_DIR}/dice.csv",
        per_image=f"{EVAL_DIR}/per_image.csv",
        table1=report(
            f"{EVAL_DIR}/table1.csv",
            caption="../report/table1.rst",
            category="Evaluation",
            labels={"table": "Table I"},
        ),
        table2=report(
            f"{EVAL_DIR}/table2.csv",
            caption="../report/table2.rst",
            category="Evaluation",
            labels={"table": "Table II"},
        ),
        metrics=report(
            f"{EVAL_DIR}/metrics.csv",
            caption="../report/metrics.rst",
            category="Evaluation",
            labels={"table": "metrics per image and label"},
        ),
        per_image_metrics=f"{EVAL_DIR}/per_image_metrics.csv",
        ci=report(
            f"{EVAL_DIR}/ci.csv",
            caption="../report/ci.rst",
            category="Evaluation",
            labels={"table": "confidence intervals"},
        ),
        tests=report(
            f"{EVAL_DIR}/tests.csv",
            caption="../report/tests.rst",
            category="Evaluation",
            labels={"table": "paired tests"},
        ),
        summary=f"{EVAL_DIR}/summary.json",
    log:
        f"{RESULTS}/logs/evaluate.log",
    benchmark:
        f"{BENCH}/evaluate.tsv"
    conda:
        CONDA_ENV
    params:
        code=CODE["evaluate"],
        pred_root=lambda w, input: Path(input.predictions[0]).parent,
        models=MODELS,
        out_dir=lambda w, output: Path(output.dice).parent,
        options=options("evaluate"),
    shell:
        "python -m hipseg evaluate --gt-dir {input.raw}/labelsTs --pred-root {params.pred_root}"
        " --models {params.models} --cases {input.cases} --out-dir {params.out_dir}"
        " --options {params.options:q} > {log} 2>&1"


# The same evaluation of a further configuration's predictions (results/evaluation/<conf>),
# compared with the main configuration in the report.
use rule evaluate as evaluate_configuration with:
    input:
        raw=rules.dataset.output.raw,
        cases=rules.dataset.output.cases,
        predictions=lambda w: expand(rules.predict_configuration.output, conf=w.conf),
    output:
        dice=f"{EVAL_DIR}/{{conf}}/dice.csv",
        per_image=f"{EVAL_DIR}/{{conf}}/per_image.csv",
        table1=f"{EVAL_DIR}/{{conf}}/table1.csv",
        table2=f"{EVAL_DIR}/{{conf}}/table2.csv",
        metrics=f"{EVAL_DIR}/{{conf}}/metrics.csv",
        per_image_metrics=f"{EVAL_DIR}/{{conf}}/per_image_metrics.csv",
        ci=f"{EVAL_DIR}/{{conf}}/ci.csv",
        tests=f"{EVAL_DIR}/{{conf}}/tests.csv",
        summary=f"{EVAL_DIR}/{{conf}}/summary.json",
    log:
        f"{RESULTS}/logs/evaluate/{{conf}}.log",
    benchmark:
        f"{BENCH}/evaluate/{{conf}}.tsv"


# Where the model fails and for whom: subgroups of the test joints (sheet columns, side, pixel
# spacing, the de-identification's characteristics) with intervals and tests against the rest,
# and the failure modes of every test joint, for the best model of the main configuration.
rule subgroups:
    input:
        evaluation=rules.evaluate.output.summary,
        metrics=rules.evaluate.output.metrics,
        cases=rules.dataset.output.cases,
        sheet=rules.validate_samples.output[0],
        audits=lambda w: expand(rules.deid.output.audit, id=dicom_ids()),
        raw=rules.dataset.output.raw,
        predictions=rules.predict.output,
    output:
        subgroups=report(
            f"{EVAL_DIR}/subgroups.csv",
            caption="../report/subgroups.rst",
            category="Evaluation",
            labels={"table": "subgroups"},
        ),
        failures=f"{EVAL_DIR}/failures.csv",
        counts=f"{EVAL_DIR}/failure_counts.csv",
        summary=f"{EVAL_DIR}/subgroups.json",
    log:
        f"{RESULTS}/logs/subgroups.log",
    benchmark:
        f"{BENCH}/subgroups.tsv"
    # seconds of statistics on the evaluation's tables (5.6 s on the demo): run where Snakemake
    # runs, not queued on a cluster (each job waits in a queue)
    localrule: True
    conda:
        CONDA_ENV
    params:
        code=CODE["subgroups"],
        evaluation=lambda w, input: Path(input.evaluation).parent,
        pred_root=lambda w, input: Path(input.predictions[0]).parent,
        out_dir=lambda w, output: Path(output.summary).parent,
        options=options("subgroups"),
        evaluate=options("evaluate"),
    shell:
        "python -m hipseg subgroups --evaluation-dir {params.evaluation} --cases {input.cases}"
        " --sheet {input.sheet} --audits {input.audits} --gt-dir {input.raw}/labelsTs"
        " --pred-root {params.pred_root} --out-dir {params.out_dir}"
        " --options {params.options:q} --evaluate {params.evaluate:q} > {log} 2>&1"
