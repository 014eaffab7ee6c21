# Prediction of the held-out test set by every model, and by the ensemble of folds 0-4.


rule predict:
    input:
        raw=rules.dataset.output.raw,
        checkpoints=lambda w: model_checkpoints(model_folds(w)),
    output:
        directory(f"{PRED_DIR}/{{model}}"),
    log:
        f"{RESULTS}/logs/predict/{{model}}.log",
    benchmark:
        f"{BENCH}/predict/{{model}}.tsv"
    conda:
        CONDA_ENV
    threads: config["predict"]["threads"]
    resources:
        gpu=config["predict"]["resources"]["gpu"],
        mem_mb=config["predict"]["resources"]["mem_mb"],
        runtime=config["predict"]["resources"]["runtime"],
        gpu_mem_mb=config["predict"]["resources"]["gpu_mem_mb"],
        scratch_mb=config["predict"]["resources"]["scratch_mb"],
    params:
        code=CODE["predict"],
        root=lambda w, input: Path(input.raw).parents[1],
        model_dir=lambda w, input: Path(input.checkpoints[0]).parents[1],
        folds=lambda w: " ".join(model_folds(w)),
        options=options("predict"),
        existing="--existing" if EXISTING_MODELS else "",
        source=source_options(),
    shell:
        "python -m hipseg predict --nnunet-root {params.root} --model-dir {params.model_dir:q}"
        " --folds {params.folds} --input {input.raw}/imagesTs --output {output}"
        " --threads {threads} --options {params.options:q} {params.existing}"
        " --source {params.source:q} > {log} 2>&1"


# The test set predicted by every model of a further configuration (nnunet.configurations after
# the first, e.g. 2d_lowres): the same command on that configuration's models. nnU-Net resamples
# the probabilities to the image's own grid before the argmax.
use rule predict as predict_configuration with:
    input:
        raw=rules.dataset.output.raw,
        checkpoints=lambda w: model_checkpoints(model_folds(w), w.conf),
    output:
        directory(f"{PRED_DIR}/{{conf}}/{{model}}"),
    log:
        f"{RESULTS}/logs/predict/{{conf}}/{{model}}.log",
    benchmark:
        f"{BENCH}/predict/{{conf}}/{{model}}.tsv"
