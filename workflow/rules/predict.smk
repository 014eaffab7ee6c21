# Prediction of the held-out test set by every model (folds 0-4, all) and by the ensemble of
# folds 0-4: one job per configuration. Each model predicts exactly as alone (`hipseg predict
# --models` calls the one-model prediction for each), but nnU-Net and torch are imported once,
# and a cluster queues one job instead of seven (7 jobs: 105 s of job time on the demo; the
# imports were 6-7 of each job's 10 CPU-s).


rule predict:
    input:
        raw=rules.dataset.output.raw,
        checkpoints=lambda w: model_checkpoints(FOLDS_USED),
    output:
        [directory(f"{PRED_DIR}/{model}") for model in MODELS],
    log:
        f"{RESULTS}/logs/predict/{CONF}.log",
    benchmark:
        f"{BENCH}/predict/{CONF}.tsv"
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
        models=" ".join(f"{m}={','.join(MODEL_SET.folds(m))}" for m in MODELS),
        output_root=lambda w, output: Path(output[0]).parent,
        options=options("predict"),
        existing="--existing" if EXISTING_MODELS else "",
        source=source_options(),
    shell:
        "python -m hipseg predict --nnunet-root {params.root} --model-dir {params.model_dir:q}"
        " --models {params.models} --input {input.raw}/imagesTs"
        " --output-root {params.output_root:q} --threads {threads}"
        " --options {params.options:q} {params.existing} --source {params.source:q} > {log} 2>&1"


# The test set predicted by every model of a further configuration (nnunet.configurations after
# the first, e.g. 2d_lowres): the same command on that configuration's models. nnU-Net resamples
# the probabilities to the image's own grid before the argmax.
use rule predict as predict_configuration with:
    input:
        raw=rules.dataset.output.raw,
        checkpoints=lambda w: model_checkpoints(FOLDS_USED, w.conf),
    output:
        [directory(f"{PRED_DIR}/{{conf}}/{model}") for model in MODELS],
    log:
        f"{RESULTS}/logs/predict/{{conf}}.log",
    benchmark:
        f"{BENCH}/predict/{{conf}}.tsv"
