# hipseg: AP pelvis radiographs (DICOM) -> 2D nnU-Net v2 models of five hip-joint structures -> report.
#
#   snakemake --cores all                         # the built-in synthetic demo (config/config.yaml)
#   snakemake --cores all --configfile config/paper.yaml --config samples=my_samples.tsv
#
# Stages, one rule file each: synth (demo only) -> samples -> deid -> crop -> dataset -> plan
# -> splits -> train (folds 0-4 + all, parallel jobs) -> predict (+ ensemble) -> evaluate
# -> subgroups -> report.
# The rules are thin: every stage is a `hipseg <stage>` command of the package in workflow/hipseg.


import sys
from pathlib import Path

# This file's folder (also when hipseg is a `module` of another workflow, whose own folder is
# workflow.basedir). The rules run the package in workflow/hipseg as `python -m hipseg` (no
# install needed).
HIPSEG_DIR = Path(str(workflow.current_basedir))
sys.path.insert(0, str(HIPSEG_DIR / "workflow"))


# (skipped when hipseg is a module given its own config)
configfile: str(HIPSEG_DIR / "config" / "config.yaml")


include: "workflow/rules/common.smk"
include: "workflow/rules/synth.smk"
include: "workflow/rules/samples.smk"
include: "workflow/rules/deid.smk"
include: "workflow/rules/crop.smk"
include: "workflow/rules/dataset.smk"
include: "workflow/rules/plan.smk"
include: "workflow/rules/paper_plan.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/predict.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/segment.smk"
include: "workflow/rules/report.smk"


# Rules that only check or move a few files or take seconds (validate_samples, deid_summary,
# dataset, splits, report, validate_measurements, subgroups) run in the Snakemake process itself,
# never as cluster jobs (each cluster job waits in a queue): each says `localrule: True` (a `localrules:` list would
# name them without the prefix a workflow that uses hipseg as a module gives them).


rule all:
    default_target: True
    input:
        REPORT,
        expand("{ev}/{f}", ev=EVAL_DIR, f=["dice.csv", "table1.csv", "table2.csv"]),
