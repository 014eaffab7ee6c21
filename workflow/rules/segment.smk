# Segmenting radiographs with a trained model (`hipseg segment`): full-image label maps, overlays,
# DICOM SEG and hip measurements. The demo segments its de-identified test radiographs and checks
# the measurements against the generator's known geometry; `segment_new` segments a sheet of new,
# de-identified radiographs (config key new_radiographs).

from hipseg.segment import sheet_inputs

SEGMENT_DIR = f"{RESULTS}/segment"
VALIDATE_MEASUREMENTS = bool(config["segment"]["enabled"] and config["demo"]["enabled"])
# the checkpoints of the model that segments (segment.model): with segment.fastest, of the
# 2d_lowres configuration when it is trained (hipseg segment --fastest picks it beside the 2d
# model likewise); segment.fast keeps the model and only changes how it runs
SEGMENT_CONF = (
    nnunet.LOWRES if config["segment"]["fastest"] and nnunet.LOWRES in CONFS else CONF
)
# the implant catalogue of segment.template (generic: the one shipped with hipseg): an input, so
# that an edited catalogue plans again
GENERIC_CATALOGUE = HIPSEG_DIR / "workflow" / "hipseg" / "templating" / "generic.yaml"
TEMPLATE_CATALOGUE = [
    local_path(GENERIC_CATALOGUE if name == "generic" else name)
    for name in [config["segment"].get("template", "")]
    if name
]


rule segment_test:
    input:
        dicoms=lambda w: expand(rules.deid.output.dicom, id=all_ids()),
        cases=rules.dataset.output.cases,
        checkpoints=segment_model,
        catalogue=TEMPLATE_CATALOGUE,
    output:
        directory(f"{SEGMENT_DIR}/test"),
    log:
        f"{RESULTS}/logs/segment/test.log",
    benchmark:
        f"{BENCH}/segment/test.tsv"
    conda:
        CONDA_ENV
    threads: config["segment"]["threads"]
    resources:
        gpu=config["segment"]["resources"]["gpu"],
        mem_mb=config["segment"]["resources"]["mem_mb"],
        runtime=config["segment"]["resources"]["runtime"],
        gpu_mem_mb=config["segment"]["resources"]["gpu_mem_mb"],
        scratch_mb=config["segment"]["resources"]["scratch_mb"],
    params:
        model_dir=lambda w, input: Path(input.checkpoints[0]).parents[1],
        crop=options("crop"),
        options=options("segment"),
        gate=options("gate"),
        code=CODE["segment_test"],
    shell:
        "python -m hipseg segment {input.dicoms} -o {output} --model-dir {params.model_dir}"
        " --test-of {input.cases} --deidentified-only --threads {threads}"
        " --crop {params.crop:q} --options {params.options:q} --gate {params.gate:q}"
        " --not-assessable-ok > {log} 2>&1"


rule validate_measurements:
    input:
        segmented=rules.segment_test.output,
        labels=rules.synth.output.labels,
        truth=rules.synth.output.truth,
    output:
        json=f"{SEGMENT_DIR}/validation/validation.json",
        ground_truth=f"{SEGMENT_DIR}/validation/errors_ground_truth.csv",
        predicted=f"{SEGMENT_DIR}/validation/errors_predicted.csv",
    log:
        f"{RESULTS}/logs/segment/validation.log",
    benchmark:
        f"{BENCH}/segment/validation.tsv"
    localrule: True
    conda:
        CONDA_ENV
    params:
        out_dir=lambda w, output: Path(output.json).parent,
        code=CODE["validate_measurements"],
    shell:
        "python -m hipseg validate-measurements --truth-dir {input.truth}"
        " --labels-dir {input.labels} --segmented {input.segmented}"
        " --out-dir {params.out_dir} > {log} 2>&1"


rule segment_new:
    input:
        unpack(lambda w: sheet_inputs(config.get("new_radiographs"))),
        checkpoints=segment_model,
        catalogue=TEMPLATE_CATALOGUE,
    output:
        directory(f"{SEGMENT_DIR}/new"),
    log:
        f"{RESULTS}/logs/segment/new.log",
    benchmark:
        f"{BENCH}/segment/new.tsv"
    conda:
        CONDA_ENV
    threads: config["segment"]["threads"]
    resources:
        gpu=config["segment"]["resources"]["gpu"],
        mem_mb=config["segment"]["resources"]["mem_mb"],
        runtime=config["segment"]["resources"]["runtime"],
        gpu_mem_mb=config["segment"]["resources"]["gpu_mem_mb"],
        scratch_mb=config["segment"]["resources"]["scratch_mb"],
    params:
        model_dir=lambda w, input: Path(input.checkpoints[0]).parents[1],
        crop=options("crop"),
        options=options("segment"),
        gate=options("gate"),
        code=CODE["segment_new"],
    shell:
        "python -m hipseg segment --sheet {input.sheet:q} -o {output}"
        " --model-dir {params.model_dir} --deidentified-only --threads {threads}"
        " --crop {params.crop:q} --options {params.options:q} --gate {params.gate:q}"
        " --not-assessable-ok > {log} 2>&1"
