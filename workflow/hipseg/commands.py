"""The table of ``hipseg``'s commands: name, help, handler (a function of :mod:`hipseg.cli`,
by name), the options class of its config section (``"module:Class"``, imported only for the
command being run) and its flags (``(flag, argparse keywords)``). The handlers are in
:mod:`hipseg.cli`, which builds the parser from this table."""

from __future__ import annotations


def _req(help_text: str = "", **kw) -> dict:
    return {"required": True, "help": help_text, **kw}


ROOT = ("--nnunet-root", _req("folder holding nnUNet_raw, nnUNet_preprocessed, nnUNet_results"))
SOURCE = ("--source", {"metavar": "JSON",
                       "help": "the 'source' config section as JSON (label names of the masks "
                               "and models)"})  # fmt: skip
GATE = ("--gate", {"metavar": "JSON", "help": "the 'gate' config section as JSON (which "
                   "films are assessed; default: the schema's)"})  # fmt: skip
DATASET_ID = ("--dataset-id", _req(type=int))

# the workflow's stages, one rule each
STAGES = [
        ("synth", "write the synthetic demo dataset (DICOM + label maps + sheet)", "_synth",
         "synth:SynthOptions",
         [("--out", _req()), ("--montage", {"help": "also write a montage PNG"}),
                              ("--gallery", {"help": "also write a PNG of one hip per finding"}),
                              ("--only", {"nargs": "+", "metavar": "ID",
                                          "help": "render only these radiographs"})]),
        ("paper-plan", "run nnU-Net's planner on the paper-scale synthetic set and compare it "
         "with the paper's plan", "_paper_plan", "paperplan:PaperPlanOptions",
         [("--out", _req("JSON with the plan, the paper's and the match")),
          ("--work", _req("scratch directory (emptied, then removed)")),
          ("--processes", {"type": int, "default": 1}),
          ("--strict", {"action": "store_true", "help": "exit 1 if the plan differs"})]),
        ("validate-samples", "check a sample sheet and every file it names", "_validate", None,
         [("sheet", {}), ("--no-pixels", {"action": "store_true",
                                          "help": "skip reading the label maps"}),
          ("--out", {"help": "write the sheet here, patients as keyed pseudonyms"}),
          ("--demo-key", {"action": "store_true", "help": "pseudonymise with the demo key"}),
          SOURCE]),
        ("deid", "de-identify the radiograph of one sample-sheet row (originals are never "
         "modified; the patient value is read from the sheet, never from the command line)",
         "_deid", "deid:Options",
         [("--sheet", _req("the sample sheet")), ("--id", _req("the row's id")),
          ("--out", _req()), ("--audit", _req("JSON audit record (actions, never values)")),
          GATE, ("--crop", {"metavar": "JSON", "help": "the crop section (its colour and "
                            "fallback_spacing, for the gate)"})]),
        ("anonymise", "de-identify a DICOM file or directory (PS3.15 Basic Profile; key from "
         "$HIPSEG_DEID_KEY or $HIPSEG_DEID_KEY_FILE)", "_anonymise", "deid:Options",
         [("input", {"help": "a DICOM file or a directory (searched recursively)"}),
          ("output", {"help": "the output file, or a directory that mirrors the input"})]),
        ("crop", "split one de-identified radiograph into hip-joint images, or take one joint "
         "image (2D NIfTI)", "_crop",
         "crop:CropRule",
         [("--id", _req()), ("--dicom", {"help": "the de-identified DICOM"}),
          ("--audit", {"help": "its de-identification record (pseudonym, hips, split, note)"}),
          ("--labels", {"help": "its mask (full radiograph or joint)"}),
          ("--image-of", {"metavar": "SHEET", "help": "a non-DICOM joint image: its row of this "
                          "validated sheet (pseudonyms)"}),
          ("--out-dir", _req()), SOURCE]),
        ("dataset", "write the nnU-Net raw dataset, split by patient", "_dataset",
         "dataset:DatasetOptions",
         [("--manifests", _req(nargs="+")), ("--raw-root", _req()), ("--out-dir", _req())]),
        ("splits", "write nnU-Net's splits_final.json, folds grouped by patient", "_splits",
         "dataset:DatasetOptions", [("--cases", _req()), ("--out", _req())]),
        ("plan", "nnU-Net fingerprint and plan (2d, and 2d_lowres at a coarser spacing)", "_plan",
         "nnunet:PlanOptions",
         [ROOT, DATASET_ID, ("--processes", {"type": int, "default": 1})]),
        ("preprocess", "nnU-Net preprocessing of one planned configuration", "_preprocess", None,
         [ROOT, DATASET_ID, ("--configuration", {"default": "2d", "choices": ["2d", "2d_lowres"]}),
          ("--processes", {"type": int, "default": 1}),
          ("--manifest", {"help": "write a JSON record of the preprocessed data here"})]),
        ("train", "train one nnU-Net fold (0–4 or all); resumes after a kill", "_train",
         "nnunet:TrainOptions",
         [ROOT, DATASET_ID, ("--fold", _req()), ("--configuration", {"default": "2d"}),
          ("--threads", {"type": int})]),
        ("predict", "predict a folder with one fold or a fold ensemble (--folds, --output), or "
         "with several models in one process (--models, --output-root)", "_predict",
         "nnunet:PredictOptions",
         [ROOT, ("--model-dir", _req()),
          ("--folds", {"nargs": "+", "help": "the folds of one model (several: their ensemble)"}),
          ("--output", {"help": "the folder of that model's predictions"}),
          ("--models", {"nargs": "+", "metavar": "NAME=FOLDS", "help": "several models, each "
                        "its name and folds, e.g. fold_0=0 ensemble=0,1,2,3,4 (with "
                        "--output-root)"}),
          ("--output-root", {"help": "the predictions of --models, <output-root>/<name>"}),
          ("--input", _req()), ("--threads", {"type": int}),
          ("--existing", {"action": "store_true", "help": "the model folder was not trained "
                          "by this workflow: check it, map its labels (--source)"}), SOURCE]),
        ("evaluate", "Dice, HD95, ASSD and NSD per image and label; Tables I and II with "
         "bootstrap intervals; paired tests", "_evaluate", "evaluate:EvaluateOptions",
         [("--gt-dir", _req()), ("--pred-root", _req()), ("--models", _req(nargs="+")),
          ("--cases", {"help": "the dataset's cases.tsv (case → patient pseudonym: the unit of "
                               "the bootstrap and the tests)"}),
          ("--out-dir", _req())]),
        ("subgroups", "where the model fails and for whom: subgroups of the test joints with "
         "intervals and tests against the rest, failure modes per joint and subgroup",
         "_subgroups", "subgroups:SubgroupOptions",
         [("--evaluation-dir", _req("the evaluate stage's folder (metrics of the best model)")),
          ("--cases", _req("the dataset's cases.tsv (patient, radiograph, side, spacing)")),
          ("--sheet", _req("the validated sample sheet (its columns: subgroups.columns)")),
          ("--audits", {"nargs": "*", "default": [], "help": "the de-identification audit "
                        "records (their characteristics: sex, age band, device)"}),
          ("--gt-dir", _req("the reference label maps of the test joints")),
          ("--pred-root", _req("the predictions, <pred-root>/<model>/<case>.nii.gz")),
          ("--evaluate", {"metavar": "JSON", "help": "the 'evaluate' config section as JSON "
                          "(confidence level, bootstrap resamples, seed)"}),
          ("--out-dir", _req())]),
        ("deid-summary", "summarise the de-identification audit records", "_deid_summary", None,
         [("--audits", {"nargs": "*", "default": [], "help": "the audit records (none when "
                        "no image is DICOM)"}),
          ("--sheet", {"help": "the validated sample sheet: counts the non-DICOM images"}),
          ("--out", _req())]),
        ("figures", "montage and gallery of the de-identified, redacted radiographs (captions "
         "carry pseudonyms; flagged images are withheld)", "_figures", None,
         [("--sheet", _req("the validated sample sheet (pseudonyms)")),
          ("--deid-dir", _req("the deid stage's outputs (<id>.dcm, <id>.audit.json)")),
          ("--montage", _req("PNG of the first radiographs")),
          ("--gallery", _req("PNG with one hip per finding"))]),
        ("report", "write the self-contained HTML report", "_report", "report:ReportOptions",
         [("--evaluation-dir", _req()), ("--dataset-summary", _req()), ("--plans", _req()),
          ("--images-dir", _req()), ("--labels-dir", _req()), ("--predictions-root", _req()),
          ("--config-json", {"help": "the workflow config as JSON (provenance)"}),
          ("--deid-summary", _req()), ("--benchmarks-dir", _req()), ("--template", _req()),
          ("--montage", {}), ("--gallery", {"help": "PNG with one hip per finding"}),
          ("--paper-plan", {"help": "JSON of `hipseg paper-plan`: shown in the methods"}),
          ("--measurements", {"help": "validation.json of `hipseg validate-measurements`"}),
          ("--checkpoints", {"nargs": "*", "help": "nnU-Net's fold_X/checkpoint_final.pth "
                                                   "(their training logs: learning curves)"}),
          ("--model-dir", {"help": "the nnU-Net model folder (where the models came from)"}),
          ("--existing-models", {"action": "store_true",
                                 "help": "the models were not trained by this run"}),
          ("--bib", {"help": "write the methods text's references here (BibTeX)"}),
          ("--subgroups", {"metavar": "DIR", "help": "the folder of `hipseg subgroups`' "
                           "outputs (subgroups.json, subgroups.csv, …): section 11b"}),
          ("--configuration", {"action": "append", "metavar": "NAME=DIR",
                               "help": "a further nnU-Net configuration and its evaluation "
                                       "folder, compared with the main one (repeatable)"}),
          ("--out", _req())]),
]  # fmt: skip

# segmenting and measuring new radiographs; the DICOM node
CLINICAL = [
        ("segment", "segment new radiographs (DICOM files, folders or --sheet) with a trained "
         "model: label maps, overlay, DICOM SEG and measurements per radiograph, run.json",
         "_segment", "segment:SegmentOptions",
         [("inputs", {"nargs": "*", "metavar": "IN", "help": "DICOM files or folders of them"}),
          ("-o", {"dest": "out", "required": True, "metavar": "OUT", "help": "output folder"}),
          ("--model-dir", _req("the model folder (nnUNet_results/<dataset>/<trainer>__<plans>"
                               "__<configuration>)")),
          ("--sheet", {"help": "TSV of new radiographs: id, dicom[, hips]"}),
          ("--test-of", {"metavar": "CASES_TSV", "help": "keep only the radiographs with a "
                         "test joint in this cases.tsv (the dataset stage's)"}),
          ("--crop", {"metavar": "JSON", "help": "the crop rule the model was trained with (the "
                      "'crop' config section as JSON; default: the schema's)"}),
          ("--convention", {"choices": ["midline", "none"], "help": "how the model's training "
                             "images were cropped: midline (one hip per image, hipseg's) or none "
                             "(whole radiographs); required for a model hipseg did not train"}),
          ("--mirror", {"choices": ["right", "left", "none"], "help": "the side whose hips the "
                        "model saw mirrored (overrides --crop's mirror)"}),
          SOURCE, GATE,
          ("--not-assessable-ok", {"action": "store_true", "help": "exit 0 when some films are "
                                   "not assessable (they are in run.json with their reasons)"}),
          ("--threads", {"type": int}),
          ("--deidentified-only", {"action": "store_true",
                                   "help": "refuse radiographs not marked de-identified"})]),
        ("listen", "run a DICOM node: accept radiographs by C-STORE, segment them, send SR, "
         "presentation state and SEG to a PACS (config section 'listen')", "_listen",
         "node.listen:ListenOptions",
         [("--model-dir", _req("the model folder (as for hipseg segment)")),
          ("--config", {"help": "a workflow config YAML: its listen, segment, crop and gate "
                        "sections"}),
          ("--segment", {"metavar": "JSON", "help": "segment options (model, device, …) as JSON"}),
          ("--crop", {"metavar": "JSON", "help": "the crop rule the model was trained with"}),
          ("--gate", {"metavar": "JSON", "help": "the 'gate' config section as JSON (which films "
                      "are assessed; over --config's gate section)"}),
          ("--threads", {"type": int})]),
        ("validate-measurements", "measurements from ground-truth (and predicted) label maps "
         "against the synthetic generator's truth: MAE and 95th percentile",
         "_validate_measurements", None,
         [("--truth-dir", _req("the synthetic set's truth/ folder")),
          ("--labels-dir", _req("its ground-truth label maps (<id>.png)")),
          ("--segmented", {"help": "a `hipseg segment` output folder (predicted label maps)"}),
          ("--out-dir", _req()), ("--overlays", {"type": int, "default": 4}),
          ("--catalogue", {"help": "also check templating with this implant catalogue (generic "
                           "or a YAML file; default: the one --segmented used, if any)"})]),
]  # fmt: skip

# around the workflow
TOOLS = [
        ("report-summary", "print one line on what a report contains", "_report_summary", None,
         [("report", {"help": "the report's HTML file"})]),
        ("why", "which stages `snakemake` would rerun, and why (params, input, code, library)",
         "_why", None,
         [("--directory", {"help": "the workflow's working directory (default: here)"}),
          ("snakemake_args", {"nargs": "*",
                              "help": "more snakemake options, after --: -- --configfile F"})]),
        ("install-profile", "link a cluster profile (metacentrum, slurm) where `snakemake "
         "--profile NAME` looks", "_install_profile", None,
         [("names", {"nargs": "+", "metavar": "NAME", "help": "metacentrum and/or slurm"}),
          ("--dest", {"help": "profile folder (default: $XDG_CONFIG_HOME/snakemake or "
                              "~/.config/snakemake)"}),
          ("--force", {"action": "store_true", "help": "replace an existing link or file"})]),
]  # fmt: skip

COMMANDS = [*STAGES, *CLINICAL, *TOOLS]
