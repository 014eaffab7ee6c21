# Dice, HD95, ASSD and NSD per image and label for every model; Table I (per model) and
# Table II (best model) with patient-bootstrap intervals; paired tests of the best model.


rule evaluate:
    input:
        raw=rules.dataset.output.raw,
        cases=rules.dataset.output.cases,
        predictions=expand(rules.predict.output, model=MODELS),
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
        predictions=lambda w: expand(
            rules.predict_configuration.output, conf=w.conf, model=MODELS
        ),
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
