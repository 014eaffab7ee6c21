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
    shell:
        "python -m hipseg evaluate --gt-dir {input.raw}/labelsTs --pred-root {params.pred_root}"
        " --models {params.models} --out-dir {params.out_dir} > {log} 2>&1"
