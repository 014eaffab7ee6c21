# Dice per image per label for every model; Table I (per model) and Table II (best model).


rule evaluate:
    input:
        raw=rules.dataset.output.raw,
        predictions=expand(rules.predict.output, model=MODELS),
    output:
        dice=f"{EVAL_DIR}/dice.csv",
        per_image=f"{EVAL_DIR}/per_image.csv",
        table1=f"{EVAL_DIR}/table1.csv",
        table2=f"{EVAL_DIR}/table2.csv",
        summary=f"{EVAL_DIR}/summary.json",
    conda:
        CONDA_ENV
    log:
        f"{RESULTS}/logs/evaluate.log",
    benchmark:
        f"{RESULTS}/benchmarks/evaluate.tsv"
    shell:
        "{HIPSEG} evaluate --gt-dir {input.raw}/labelsTs --pred-root {PRED_DIR}"
        " --models {MODELS} --out-dir {EVAL_DIR} > {log} 2>&1"
