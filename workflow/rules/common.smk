import json
import os
import shlex
import sys
from pathlib import Path

from snakemake.utils import min_version, validate

from hipseg import labels, models, nnunet, samplesheet, source
from hipseg.dataset import dataset_name
from hipseg.errors import ConfigError, HipsegError
from hipseg.options import SCHEDULING_KEYS

min_version("9.0")


def checked(fn, *args, **kwargs):
    """``fn(*args, **kwargs)``; a hipseg error (a bad sample sheet, dataset, model folder or
    config value) ends Snakemake with hipseg's one-line message naming the file and exit
    status 2, as the hipseg commands do, instead of a traceback (Snakemake wraps any Exception
    raised while it builds the DAG; SystemExit passes through), before any job runs."""
    try:
        return fn(*args, **kwargs)
    except HipsegError as exc:
        fail(exc)


def fail(exc):
    print(f"hipseg: error: {exc}", file=sys.stderr)
    raise SystemExit(2)


from hipseg.fingerprint import stage_fingerprints

validate(config, "../schemas/config.schema.yaml")


wildcard_constraints:
    id=labels.ID_PATTERN,
    fold="|".join(labels.TRAIN_FOLDS),
    model="|".join(labels.MODELS),
    # longest first: 2d_lowres before 2d
    conf="|".join(sorted(nnunet.CONFIGURATIONS, key=len, reverse=True)),


PKG_DIR = str(HIPSEG_DIR / "workflow")
# glibc tunables: keep freed memory instead of returning it to the OS after every tensor;
# without them PyTorch on a CPU spends about half its time in page faults.
MALLOC = (
    "glibc.malloc.mmap_threshold=4294967296:glibc.malloc.trim_threshold=17179869184"
)
# (shell.prefix is formatted like a command: braces are doubled)
shell.prefix(
    "export GLIBC_TUNABLES=${{GLIBC_TUNABLES:-%s}}; export PYTHONPATH=%s${{PYTHONPATH:+:$PYTHONPATH}}; "
    % (MALLOC, shlex.quote(PKG_DIR))
)
CONDA_ENV = "../../envs/hipseg.yaml"
# Code fingerprints (hipseg/fingerprint.py), once per Snakemake process: every rule has the param
# code=CODE["<rule>"], so an edit of a module or a library upgrade reruns the stages it affects.
CODE = stage_fingerprints(Path(PKG_DIR) / "hipseg", trainer=config["train"]["trainer"])
RESULTS = "results"
DEMO_DIR = f"{RESULTS}/demo"
NNUNET = f"{RESULTS}/nnunet"
BENCH = f"{RESULTS}/benchmarks"
DATASET = dataset_name(config["dataset"]["id"], config["dataset"]["name"])
RAW_DIR = f"{NNUNET}/nnUNet_raw/{DATASET}"
PRE_DIR = f"{NNUNET}/nnUNet_preprocessed/{DATASET}"
# the configurations trained, predicted and evaluated (nnunet.configurations): the first is the
# report's main one (results/predictions/<model>, results/evaluation); the others are compared
# with it (results/predictions/<conf>/<model>, results/evaluation/<conf>)
CONFS = list(config["nnunet"]["configurations"])
CONF, EXTRA_CONFS = CONFS[0], CONFS[1:]
PLANS = f"{PRE_DIR}/nnUNetPlans.json"


def trained_dir(conf):
    return f"{NNUNET}/nnUNet_results/{DATASET}/{config['train']['trainer']}__nnUNetPlans__{conf}"


# a fold's final checkpoint, by configuration and fold (the train rule's output)
CHECKPOINT_PATTERN = f"{trained_dir('{conf}')}/fold_{{fold}}/checkpoint_final.pth"


# the models this workflow trains, or (config 'models') an existing nnU-Net model folder:
# then no training job exists and MODEL_DIR is that folder (hipseg.models checks it)
TRAINED_DIR = trained_dir(CONF)
EXISTING_MODELS = bool(config.get("models"))
MODEL_DIR = str(Path(config["models"]).resolve()) if EXISTING_MODELS else TRAINED_DIR
LABEL_NAMES = config["source"]["labels"]


def model_set():
    """The models this run evaluates (hipseg.models.ModelSet): every model the trained folds
    give, or those the existing model folder holds (checked here: plans, dataset.json, channels,
    label names, trainer class, checkpoints), narrowed by config 'models_used'."""
    if EXISTING_MODELS and Path(MODEL_DIR) == Path(TRAINED_DIR).resolve():
        raise ConfigError(
            f"models {config['models']!r} is the folder this workflow trains into; copy "
            "existing models elsewhere, or set models: '' to train"
        )
    if EXISTING_MODELS and EXTRA_CONFS:
        raise ConfigError(
            f"models (an existing model folder, one configuration) cannot be combined with "
            f"nnunet.configurations {CONFS}: list one configuration, or set models: '' to train"
        )
    used = config.get("models_used") or []
    if not EXISTING_MODELS:
        return models.select(labels.TRAIN_FOLDS, used)
    # (a job's own process, e.g. on a cluster node, only reads the folds)
    if workflow.is_main_process:
        return models.require(MODEL_DIR, used, LABEL_NAMES)
    return models.select(models.folds_present(MODEL_DIR), used, MODEL_DIR)


MODEL_SET = checked(model_set)
PRED_DIR = f"{RESULTS}/predictions"
EVAL_DIR = f"{RESULTS}/evaluation"
REPORT = f"{RESULTS}/report/report.html"
MODELS = list(MODEL_SET.models)
# the folds the evaluated models are made of (trained here, or read from the model folder)
FOLDS_USED = MODEL_SET.folds_used


def local_path(path):
    """A file under the working directory as a path relative to it, others as they are.
    Snakemake records each job's input paths and reruns a job whose set of inputs changed; the
    sheet reader resolves every path and the templates are found from the Snakefile's folder,
    so without this a moved or copied project folder would rerun from the first stage.
    """
    if not path:
        return path
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


TEMPLATE = local_path(HIPSEG_DIR / "workflow" / "templates" / "report.html.j2")


def options(section):
    """A config section as one JSON parameter of its stage (read there into its options
    object, hipseg.options). Snakemake compares params by value: the JSON carries every key
    with its value, so any change reruns the stage; scheduling keys (resources, threads, …) are
    left out, so changing them reruns nothing."""
    values = {k: v for k, v in config[section].items() if k not in SCHEDULING_KEYS}
    return json.dumps(values, sort_keys=True)


def sample_sheet():
    """Path of the sample sheet (the user's, or the one the demo generator writes), or of an
    nnU-Net raw dataset folder."""
    if config["demo"]["enabled"]:
        return f"{DEMO_DIR}/samples.tsv"
    if not config.get("samples"):
        fail(ConfigError("set 'samples' to your sample sheet (TSV) or nnU-Net raw dataset "
                         "folder, or demo.enabled: true"))  # fmt: skip
    return config["samples"]


def sheet_files():
    """The files the sample sheet is: the sheet, or an nnU-Net dataset's dataset.json (and
    patients.tsv)."""
    if config["demo"]["enabled"]:
        return [checkpoints.synth.get().output.sheet]
    path = sample_sheet()
    return source.raw_dataset_files(path) if source.is_raw_dataset(path) else [path]


_SHEET = {}
FILE_COLUMNS = ("dicom", "labels", "image")


def samples():
    """The sample sheet as a table indexed by id, read once per Snakemake process (again only
    when the file changes: the demo's checkpoint writes it). The main process checks its
    structure (ids, duplicates, values, files exist); the job processes on cluster nodes only
    read it: the main process checked it before submitting any job, and the 'validate_samples'
    rule reads every label map before anything else runs."""
    if config["demo"]["enabled"]:
        checkpoints.synth.get()
    path = sample_sheet()
    key = source.mtime_key(path)
    if _SHEET.get("key") != key:
        if workflow.is_main_process:
            table = checked(
                samplesheet.validate, path, check_pixels=False, mapping=LABEL_NAMES
            )
            # a column the subgroup analysis names must be there before anything runs
            wanted = config.get("subgroups", {}).get("columns", [])
            checked(samplesheet.check_columns, table.columns, wanted, path)
        else:
            table = samplesheet.read(path, LABEL_NAMES)
        table = table.set_index("id", drop=False)
        for column in FILE_COLUMNS:
            if column in table:
                table[column] = table[column].map(local_path)
        _SHEET.update(key=key, table=table, rows=table.to_dict("index"))
    return _SHEET["table"]


def sample(wildcards, column):
    samples()
    return _SHEET["rows"][wildcards.id][column]


def all_ids():
    return list(samples().index)


def dicom_ids():
    """The rows whose image is DICOM: each has a de-identification job."""
    table = samples()
    return list(table.index[table["dicom"] != ""])


def crop_inputs(wildcards):
    """A DICOM (radiograph or joint) is cropped from the deid stage's output and its audit; a
    non-DICOM joint image is taken as it is, its row from the validated (pseudonymised) sheet.
    """
    if sample(wildcards, "dicom"):
        return {
            "dicom": expand(rules.deid.output.dicom, id=wildcards.id)[0],
            "audit": expand(rules.deid.output.audit, id=wildcards.id)[0],
            "labels": sample(wildcards, "labels"),
        }
    return {
        "image": sample(wildcards, "image"),
        "labels": sample(wildcards, "labels"),
        "sheet": rules.validate_samples.output[0],
    }


def crop_args(wildcards, input):
    """The crop command's input flags (by the row, as crop_inputs: on a cluster node the job's
    input object may not carry the names of an unpacked dict)."""
    files = crop_inputs(wildcards)
    if "dicom" in files:
        parts = [
            "--dicom",
            files["dicom"],
            "--audit",
            files["audit"],
            "--labels",
            files["labels"],
        ]
    else:
        parts = ["--image-of", files["sheet"]]
    return " ".join(shlex.quote(str(p)) for p in parts)


def model_checkpoints(folds, conf=None):
    """The checkpoints of ``folds`` of a configuration (default: the main one): trained here,
    or those of the existing model folder."""
    if EXISTING_MODELS:
        return [f"{MODEL_DIR}/fold_{f}/{models.CHECKPOINT}" for f in folds]
    return expand(rules.train.output, conf=conf or CONF, fold=folds)


def plan_options():
    """The nnunet section as the plan stage sees it: without ``configurations``, which only
    chooses what is preprocessed and trained (every configuration is planned), so adding one
    reruns none of the others."""
    values = json.loads(options("nnunet"))
    values.pop("configurations", None)
    return json.dumps(values, sort_keys=True)


def gate_crop_options():
    """What the header gate of the deid job needs of the crop section (colour images and the
    fallback spacing), and nothing else: other crop keys do not rerun de-identification.
    """
    keys = ("colour", "fallback_spacing")
    return json.dumps({k: config["crop"][k] for k in keys if k in config["crop"]})


def source_options():
    return json.dumps(config["source"], sort_keys=True)


def preprocess_inputs(wildcards):
    """The plans; a further configuration also waits for the main one's preprocessing (nnU-Net
    copies the reference labels and dataset.json for each: not in parallel)."""
    inputs = {"plans": PLANS}
    if wildcards.conf != CONF:
        inputs["main"] = expand(rules.preprocess.output, conf=CONF)[0]
    return inputs


def train_inputs(wildcards):
    inputs = {
        "plans": PLANS,
        "data": expand(rules.preprocess.output, conf=wildcards.conf)[0],
    }
    if wildcards.fold != labels.ALL_FOLD:
        inputs["splits"] = rules.splits.output[0]
    return inputs


def model_folds(wildcards):
    """The folds of a model (the ensemble: of the CV folds this run uses)."""
    return MODEL_SET.folds(wildcards.model)


def segment_model(wildcards):
    """The checkpoints of segment.model (of the existing model folder: checked to be there,
    when a segmenting rule is in the DAG)."""
    name = config["segment"]["model"]
    chosen = checked(
        models.select, MODEL_SET.present, [name], MODEL_DIR, "segment.model"
    )
    return model_checkpoints(chosen.folds(name), SEGMENT_CONF)
