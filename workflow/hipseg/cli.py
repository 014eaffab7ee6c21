"""The ``hipseg`` command: one subcommand per workflow stage (the Snakemake rules call these).

A stage's arguments are of two kinds:

* **paths and ids** (what the rule's inputs, outputs and wildcards decide) are flags;
* **its options** (its config section) come as one JSON value, ``--options``, read into the
  stage's options object (:mod:`hipseg.options`). Every option can also be given as its own flag,
  generated from the same object (``hipseg train --help`` lists them); a flag overrides the JSON.

Every user-facing failure is a :class:`~hipseg.errors.HipsegError` naming the file or option; it
is printed as one line (no traceback) and the command exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .errors import HipsegError, InputError
from .options import StageOptions, add_flags


def _options(cls: type[StageOptions], a: argparse.Namespace) -> StageOptions:
    """The stage's options: ``--options`` JSON, then any option flag given on top of it."""
    values = {}
    if a.options:
        try:
            values = json.loads(a.options)
        except json.JSONDecodeError as exc:
            raise HipsegError(f"--options: not valid JSON ({exc})") from exc
    for name in list(vars(a)):
        if name.startswith("opt_") and getattr(a, name) is not None:
            values[name.removeprefix("opt_")] = getattr(a, name)
    return cls.from_config(values, source=f"hipseg {a.command} options")


# ------------------------------------------------------------------------------------------------
# Stage handlers (imports are local: `hipseg --help` must not import torch)
# ------------------------------------------------------------------------------------------------
def _synth(a):
    from . import synth

    o = _options(synth.SynthOptions, a)
    tsv = synth.generate(
        a.out,
        preset=o.preset,
        seed=o.seed,
        n_patients=o.n_patients,
        only=a.only or None,
        ball_diameter_mm=o.ball_diameter_mm,
    )
    if a.montage:
        synth.montage(tsv, a.montage)
    if a.gallery:
        synth.gallery(tsv, a.gallery)
    print(tsv)


def _paper_plan(a):
    from . import paperplan

    r = paperplan.check(a.work, a.out, _options(paperplan.PaperPlanOptions, a), a.processes)
    for key, ok in r["match"].items():
        print(f"{key:14s} planned {r['planned'][key]!s:24s} paper {r['paper'][key]!s:24s}"
              f" {'ok' if ok else 'DIFFERS'}")  # fmt: skip
    if a.strict and not r["all_match"]:
        raise SystemExit(1)


def _validate(a):
    from . import samplesheet

    df = samplesheet.validate(a.sheet, check_pixels=not a.no_pixels, mapping=_source(a).labels)
    if a.out:
        samplesheet.write_pseudonymised(df, a.out, use_demo_key=a.demo_key)
    n_joints = int((df["level"] == "joint").sum())
    what = f"{len(df) - n_joints} radiographs" if not n_joints else (
        f"{n_joints} joint images" + (f", {len(df) - n_joints} radiographs"
                                      if len(df) > n_joints else ""))  # fmt: skip
    print(f"{a.sheet}: {what}, {df['patient'].nunique()} patients — OK")


def _gate_reading(values: str):
    """The crop section's keys that the deid job's header gate needs (colour, fallback_spacing),
    validated against the schema, without :mod:`hipseg.crop`: an edit of the cropping reruns no
    de-identification."""
    from .intake import IntakeOptions
    from .options import validate

    try:
        crop = json.loads(values or "{}")
    except json.JSONDecodeError as exc:
        raise HipsegError(f"hipseg deid --crop: options are not valid JSON ({exc})") from exc
    crop = validate("crop", crop, "hipseg deid --crop")
    fallback = crop.get("fallback_spacing")
    return IntakeOptions(
        colour=crop["colour"], fallback_spacing=None if fallback is None else tuple(fallback)
    )


def _gate(a):
    """The ``gate`` config section (``--gate`` JSON): which films hipseg answers for."""
    from .gate import GateOptions

    return GateOptions.from_config(a.gate or {}, source=f"hipseg {a.command} --gate")


def _deid(a):
    from . import deid

    crop = _gate_reading(a.crop) if a.crop else None
    deid.deidentify_case(a.sheet, a.id, a.out, a.audit, _options(deid.Options, a),
                         gate=_gate(a) if a.gate else None, crop=crop)  # fmt: skip


def _anonymise(a):
    from . import deid

    options = _options(deid.Options, a)
    key, source = deid.load_key(options.use_demo_key)
    if source == "demo":
        print(
            "hipseg anonymise: warning: the public demo key is for synthetic data only; "
            "its pseudonyms can be reproduced by anyone",
            file=sys.stderr,
        )
    written, errors = deid.anonymise(a.input, a.output, key, source, options)
    print(f"{a.input}: {written} file(s) de-identified into {a.output}")
    if errors:
        raise HipsegError(f"{len(errors)} file(s) failed:\n" + "\n".join(errors))


def _source(a):
    """The ``source`` config section (``--source`` JSON): how mask label names map."""
    from .source import SourceOptions

    try:
        values = json.loads(a.source) if a.source else {}
    except json.JSONDecodeError as exc:
        raise HipsegError(f"--source: not valid JSON ({exc})") from exc
    return SourceOptions.from_config(values, source=f"hipseg {a.command} --source")


def _crop(a):
    from .crop import CropRule, crop_deidentified, crop_provided

    rule, names = _options(CropRule, a), _source(a).labels
    if a.image_of:  # a non-DICOM joint image, its row from the validated sheet
        if a.dicom or a.audit:
            raise HipsegError("--image-of takes no --dicom/--audit (its image is not DICOM)")
        crop_provided(a.id, a.image_of, a.out_dir, rule, names)
        return
    if not (a.dicom and a.audit and a.labels):
        raise HipsegError("crop needs --dicom, --audit and --labels (or --image-of SHEET)")
    crop_deidentified(a.id, a.dicom, a.audit, a.labels, a.out_dir, rule, names)


def _dataset(a):
    from . import dataset

    dataset.build(a.manifests, a.raw_root, _options(dataset.DatasetOptions, a), a.out_dir)


def _splits(a):
    from . import dataset

    dataset.write_splits(a.cases, a.out, _options(dataset.DatasetOptions, a).seed)


def _plan(a):
    from . import nnunet

    nnunet.plan(a.nnunet_root, a.dataset_id, _options(nnunet.PlanOptions, a), a.processes)


def _preprocess(a):
    from . import nnunet

    nnunet.preprocess_configuration(
        a.nnunet_root, a.dataset_id, a.configuration, a.processes, a.manifest
    )


def _train(a):
    from . import nnunet

    options = _options(nnunet.TrainOptions, a)
    nnunet.train(a.nnunet_root, a.dataset_id, a.fold, options, a.configuration, a.threads)


def _predict(a):
    from . import nnunet

    options = _options(nnunet.PredictOptions, a)
    values = None
    if a.existing:  # a model hipseg did not train: check it, map its labels
        from .models import check

        values = check(a.model_dir, _source(a).labels)
    if bool(a.folds) == bool(a.models) or bool(a.folds) != bool(a.output) or (
            bool(a.models) != bool(a.output_root)):  # fmt: skip
        raise HipsegError("predict needs either --folds and --output (one model) or --models "
                          "and --output-root (several)")  # fmt: skip
    if a.folds:
        nnunet.predict(a.model_dir, a.folds, a.input, a.output, a.nnunet_root, options,
                       threads=a.threads, values=values)  # fmt: skip
        return
    models = {}
    for item in a.models:
        name, _, folds = item.partition("=")
        bad_name = not name.replace("_", "").replace("-", "").isalnum()  # a folder's name
        if bad_name or not folds or name in models or any(not f for f in folds.split(",")):
            raise HipsegError(f"predict --models: {item!r} is not NAME=FOLDS (e.g. fold_0=0, "
                              "ensemble=0,1,2,3,4), or the name repeats")  # fmt: skip
        models[name] = folds.split(",")
    nnunet.predict_models(a.model_dir, models, a.input, a.output_root, a.nnunet_root, options,
                          threads=a.threads, values=values)  # fmt: skip


def _evaluate(a):
    from . import evaluate

    options = _options(evaluate.EvaluateOptions, a)
    evaluate.evaluate(a.gt_dir, a.pred_root, a.models, a.out_dir, options, a.cases)


def _subgroups(a):
    from . import subgroups
    from .evaluate import EvaluateOptions

    try:
        stats = json.loads(a.evaluate) if a.evaluate else {}
    except json.JSONDecodeError as exc:
        raise HipsegError(f"--evaluate: not valid JSON ({exc})") from exc
    stats = EvaluateOptions.from_config(stats, source="hipseg subgroups --evaluate")
    subgroups.analyse(a.evaluation_dir, a.cases, a.sheet, a.audits, a.gt_dir, a.pred_root,
                      a.out_dir, _options(subgroups.SubgroupOptions, a), stats)  # fmt: skip


def _deid_summary(a):
    from .deid import summarise

    summarise(a.audits, a.out, sheet=a.sheet)


def _figures(a):
    from . import figures

    figures.write(a.sheet, a.deid_dir, a.montage, a.gallery)


def _report(a):
    from . import report

    report.build_report(
        evaluation_dir=a.evaluation_dir,
        dataset_summary=a.dataset_summary,
        plans_json=a.plans,
        images_dir=a.images_dir,
        labels_dir=a.labels_dir,
        predictions_root=a.predictions_root,
        config=json.loads(a.config_json) if a.config_json else {},
        deid_summary=a.deid_summary,
        benchmarks_dir=a.benchmarks_dir,
        template=a.template,
        out_html=a.out,
        worst_k=_options(report.ReportOptions, a).worst_cases,
        montage=a.montage,
        gallery=a.gallery,
        paper_plan=a.paper_plan,
        measurements=a.measurements,
        checkpoints=a.checkpoints,
        model_dir=a.model_dir,
        existing_models=a.existing_models,
        bib_out=a.bib,
        configurations=_named_folders(a.configuration),
        subgroups=a.subgroups,
    )


def _named_folders(values) -> dict[str, str]:
    """``NAME=FOLDER`` arguments as a dict (a malformed one is a usage error)."""
    out = {}
    for v in values or []:
        name, sep, folder = v.partition("=")
        if not sep or not name or not folder:
            raise InputError(
                v, "expected NAME=FOLDER (e.g. 2d_lowres=results/evaluation/2d_lowres)"
            )  # noqa: E501
        out[name] = folder
    return out


def _report_summary(a):
    from .report.summary import summarise

    print(summarise(a.report))


def _segment(a):
    from . import segment
    from .crop import CropRule
    from .segment.model import hipseg_trained

    options = _options(segment.SegmentOptions, a)
    if options.template:  # a bad implant catalogue: an error before anything is read or written
        from .templating.catalogue import load

        load(options.template)
    rule = CropRule.from_config(a.crop or {}, source="hipseg segment --crop")
    if a.mirror:
        rule = CropRule.from_config({**rule.to_config(), "mirror": a.mirror})
    declared = a.convention or not Path(a.model_dir, "dataset.json").is_file()
    if not declared and not hipseg_trained(a.model_dir):
        raise HipsegError(
            f"{a.model_dir}: this model was not trained by hipseg, so how its training images "
            "were cropped is unknown: declare it with --convention midline (one hip per image, "
            "split at crop.split_at) or --convention none (whole radiographs), and --mirror "
            "right|left|none (the side whose hips were mirrored)"
        )
    sources, errors = segment.collect(a.inputs)
    if a.sheet:
        sources += segment.read_sheet(a.sheet)
    if a.test_of:
        keep = segment.test_radiographs(a.test_of)
        sources = [s for s in sources if s.name in keep]
    names = [s.name for s in sources]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise HipsegError(f"two inputs would write the same output folder(s): {twice}")
    if not sources:
        raise HipsegError("no radiographs to segment" + "".join(f"\n  {e}" for e in errors))
    run = segment.segment(sources, a.out, a.model_dir, options, rule, threads=a.threads,
                          deidentified_only=a.deidentified_only, errors=errors,
                          convention=a.convention or "midline",
                          label_names=_source(a).labels, gate=_gate(a),
                          not_assessable_ok=a.not_assessable_ok)  # fmt: skip
    print(f"{a.out}: {run['n_ok']} radiograph(s) segmented, {run['n_not_assessable']} not "
          "assessable; run.json written")  # fmt: skip


def _listen(a):
    from .node.listen import listen, settings

    flags = {name.removeprefix("opt_"): value for name, value in vars(a).items()
             if name.startswith("opt_") and value is not None}  # fmt: skip
    options, segment, rule, gate = settings(a.config, a.options, a.segment, a.crop, a.gate, flags)
    listen(options, a.model_dir, segment, rule, threads=a.threads, gate=gate)


def _validate_measurements(a):
    from .measure.validate import validate_set
    from .templating.validate import catalogue_of

    catalogue = catalogue_of(a.catalogue, a.segmented)  # a bad one: an error before any output
    result = validate_set(a.truth_dir, a.labels_dir, a.out_dir, a.segmented,
                          overlays=a.overlays)  # fmt: skip
    for kind in ("ground_truth", "predicted"):
        for e in result[kind] or []:
            mae = "—" if e["mae"] is None else f"{e['mae']:.3f}"
            p95 = "—" if e["p95"] is None else f"{e['p95']:.3f}"
            print(f"{kind:12s} {e['quantity']:40s} n={e['n']:3d} MAE {mae} P95 {p95} {e['unit']}")
    if catalogue is not None:
        from .templating.validate import print_summary, validate_set

        print_summary(validate_set(a.truth_dir, a.labels_dir, a.out_dir, catalogue,
                                   segmented=a.segmented, ids=result["radiographs"],
                                   overlays=a.overlays))  # fmt: skip


def _install_profile(a):
    from . import profiles

    for name in a.names:
        link = profiles.install(name, a.dest, force=a.force)
        print(f"{link} -> {link.resolve()}")
        print(f"  use: snakemake --profile {name} ...")


def _why(a):
    from .why import why

    args = [*(["--directory", a.directory] if a.directory else []), *a.snakemake_args]
    print(why(args))


# ------------------------------------------------------------------------------------------------
# The parser, from the table of commands (hipseg.commands)
# ------------------------------------------------------------------------------------------------
def _options_class(ref: str | None) -> type[StageOptions] | None:
    """``"nnunet:TrainOptions"`` → the class (imported only for the command being run)."""
    if ref is None:
        return None
    from importlib import import_module

    module, name = ref.split(":")
    return getattr(import_module(f"hipseg.{module}"), name)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; the option flags are declared for ``command`` only (or for every command
    when it is None), so that running one stage imports only that stage's module."""
    p = argparse.ArgumentParser(prog="hipseg", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    from .commands import COMMANDS

    for name, help_text, handler, options_ref, arguments in COMMANDS:
        s = sub.add_parser(name, help=help_text, description=help_text)
        for flag, kw in arguments:
            s.add_argument(flag, **kw)
        options_cls = _options_class(options_ref) if command in (None, name) else None
        if options_cls is not None:
            s.add_argument(
                "--options",
                metavar="JSON",
                help=f"the '{options_cls.SECTION}' config section as JSON (as the rules pass it)",
            )
            add_flags(s, options_cls)
        s.set_defaults(func=globals()[handler])
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    args = build_parser(command if command else "").parse_args(argv)
    try:
        args.func(args)
    except HipsegError as exc:
        print(f"hipseg {args.command}: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
