# Prediction of the held-out test set by every model, and by the ensemble of folds 0-4.


def model_folds(wildcards):
    if wildcards.model == "ensemble":
        return ["0", "1", "2", "3", "4"]
    return [wildcards.model.removeprefix("fold_")]


rule predict:
    input:
        raw=rules.dataset.output.raw,
        checkpoints=lambda w: expand(rules.train.output, fold=model_folds(w)),
    output:
        directory(f"{PRED_DIR}/{{model}}"),
    log:
        f"{RESULTS}/logs/predict/{{model}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/predict/{{model}}.tsv"
    conda:
        CONDA_ENV
    threads: config["predict"]["threads"]
    resources:
        gpu=config["predict"]["resources"]["gpu"],
        mem_mb=config["predict"]["resources"]["mem_mb"],
        runtime=config["predict"]["resources"]["runtime"],
    params:
        root=NNUNET,
        model_dir=MODEL_DIR,
        folds=lambda w: " ".join(model_folds(w)),
        device=config["predict"]["device"],
        mirroring="--mirroring" if config["predict"]["mirroring"] else "--no-mirroring",
        step=config["predict"]["tile_step_size"],
    shell:
        "python -m hipseg predict --nnunet-root {params.root} --model-dir {params.model_dir} --folds {params.folds}"
        " --input {input.raw}/imagesTs --output {output} --device {params.device}"
        " --threads {threads} --step {params.step} {params.mirroring} > {log} 2>&1"
