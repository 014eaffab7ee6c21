"""The ``hipseg`` command: one subcommand per workflow stage (the Snakemake rules call these)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .errors import HipsegError


def _synth(a):
    from . import synth

    tsv = synth.generate(
        a.out, preset=a.preset, seed=a.seed, n_patients=a.n_patients, only=a.only or None
    )
    if a.montage:
        synth.montage(tsv, a.montage)
    if a.gallery:
        synth.gallery(tsv, a.gallery)
    print(tsv)


def _paper_plan(a):
    from . import paperplan

    n = None if a.radiographs == 0 else a.radiographs
    r = paperplan.check(a.work, a.out, radiographs=n, seed=a.seed, processes=a.processes)
    for key, ok in r["match"].items():
        print(f"{key:14s} planned {r['planned'][key]!s:24s} paper {r['paper'][key]!s:24s}"
              f" {'ok' if ok else 'DIFFERS'}")  # fmt: skip
    if a.strict and not r["all_match"]:
        raise SystemExit(1)


def _validate(a):
    from . import samplesheet

    df = samplesheet.validate(a.sheet, check_pixels=not a.no_pixels)
    if a.out:
        from .io import write_text

        write_text(a.out, df.to_csv(sep="\t", index=False))
    print(f"{a.sheet}: {len(df)} radiographs, {df['patient'].nunique()} patients — OK")


def _deid_options(a):
    from .deid import Options

    chars = [c.strip() for c in a.retain_patient_characteristics.split(",") if c.strip()]
    try:
        keep_private = tuple(str(e) for e in json.loads(a.keep_private))
        regions = tuple(tuple(float(v) for v in r) for r in json.loads(a.blank_regions))
    except (TypeError, ValueError) as exc:
        raise HipsegError(f"--keep-private/--blank-regions: not a JSON list ({exc})") from exc
    return Options(
        retain_longitudinal=a.retain_longitudinal,
        retain_patient_characteristics=tuple(chars),
        retain_device_identity=a.retain_device_identity,
        keep_private=keep_private,
        blank_regions=regions,
        on_burned_in=a.on_burned_in,
    )


def _deid(a):
    from . import deid
    from .io import write_json

    options = _deid_options(a)
    key, source = deid.load_key(a.demo_key)
    record = deid.deidentify(a.dicom, a.out, key, a.patient, options)
    record.update(id=a.id, key_source=source)
    write_json(a.audit, record)


def _anonymise(a):
    from . import deid

    options = _deid_options(a)
    key, source = deid.load_key(a.demo_key)
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


def _crop(a):
    from .crop import CropRule, crop_case

    audit = json.loads(Path(a.audit).read_text())
    rule = CropRule.from_config(json.loads(a.rule))
    crop_case(a.id, a.dicom, a.labels, a.hips, a.out_dir, rule, audit["patient"], a.split, a.note)


def _dataset(a):
    from . import dataset

    dataset.build(
        a.manifests,
        a.raw_root,
        a.dataset_id,
        a.name,
        a.test_fraction,
        a.seed,
        a.out_dir,
        channel_name=a.channel_name,
    )


def _splits(a):
    from . import dataset

    dataset.write_splits(a.cases, a.out, a.folds, a.seed)


def _plan(a):
    from . import nnunet

    nnunet.plan_and_preprocess(
        a.nnunet_root,
        a.dataset_id,
        a.configuration,
        a.planner,
        json.loads(a.overrides) if a.overrides else None,
        num_processes=a.processes,
        gpu_memory_target_gb=a.gpu_memory_gb,
        manifest=a.manifest,
    )


def _train(a):
    from . import nnunet

    nnunet.train(
        a.nnunet_root,
        a.dataset_id,
        a.fold,
        trainer=a.trainer,
        configuration=a.configuration,
        epochs=a.epochs,
        iterations_per_epoch=a.iterations,
        val_iterations_per_epoch=a.val_iterations,
        checkpoint_every=a.checkpoint_every,
        device=a.device,
        threads=a.threads,
        n_proc_da=a.n_proc_da,
        validate=a.validate,
        seed=a.seed,
    )


def _predict(a):
    from . import nnunet

    nnunet.predict(
        a.model_dir,
        a.folds,
        a.input,
        a.output,
        a.nnunet_root,
        device=a.device,
        threads=a.threads,
        mirroring=a.mirroring,
        tile_step_size=a.step,
    )


def _evaluate(a):
    from . import evaluate

    evaluate.evaluate(a.gt_dir, a.pred_root, a.models, a.out_dir)


def _deid_summary(a):
    from .deid import summarise

    summarise(a.audits, a.out)


def _report(a):
    from . import report

    report.build_report(
        evaluation_dir=a.evaluation_dir,
        dataset_summary=a.dataset_summary,
        plans_json=a.plans,
        images_dir=a.images_dir,
        labels_dir=a.labels_dir,
        predictions_root=a.predictions_root,
        config=json.loads(a.config_json),
        deid_summary=a.deid_summary,
        benchmarks_dir=a.benchmarks_dir,
        template=a.template,
        out_html=a.out,
        worst_k=a.worst_k,
        montage=a.montage,
        gallery=a.gallery,
        paper_plan=a.paper_plan,
    )


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


def _deid_flags(s) -> None:
    from .deid import DEFAULT_PATIENT_CHARACTERISTICS

    s.add_argument(
        "--retain-longitudinal",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="Retain Longitudinal Temporal Information with Modified Dates (per-patient shift)",
    )
    s.add_argument(
        "--retain-patient-characteristics",
        default=",".join(DEFAULT_PATIENT_CHARACTERISTICS),
        help="comma-separated keywords kept by Retain Patient Characteristics ('' = option off)",
    )
    s.add_argument("--retain-device-identity", action=argparse.BooleanOptionalAction, default=False)
    s.add_argument(
        "--keep-private", default="[]", help="JSON list of 'GGGG,EE,Creator' private tags to keep"
    )
    s.add_argument(
        "--blank-regions", default="[]", help="JSON list of [x0, y0, x1, y1] fractions to blank"
    )
    s.add_argument("--on-burned-in", choices=["flag", "error"], default="flag")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hipseg", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser(
        "synth", help="write the synthetic demo dataset (DICOM + label maps + sheet)"
    )
    s.add_argument("--preset", default="demo")
    s.add_argument("--out", required=True)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--n-patients", type=int)
    s.add_argument("--montage", help="also write a PNG montage with label overlays here")
    s.add_argument("--gallery", help="also write a PNG with one hip per finding here")
    s.add_argument("--only", nargs="+", metavar="ID", help="render only these radiographs")
    s.set_defaults(func=_synth)

    s = sub.add_parser(
        "paper-plan",
        help="run nnU-Net's planner on the paper-scale synthetic set and compare with the paper",
    )
    s.add_argument("--out", required=True, help="JSON with the plan, the paper's and the match")
    s.add_argument("--work", required=True, help="scratch directory (emptied, then removed)")
    s.add_argument("--radiographs", type=int, default=6, help="stratified subset size; 0 = all 83")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--processes", type=int, default=1)
    s.add_argument("--strict", action="store_true", help="exit 1 if the plan differs")
    s.set_defaults(func=_paper_plan)

    s = sub.add_parser("validate-samples", help="check a sample sheet and every file it names")
    s.add_argument("sheet")
    s.add_argument("--no-pixels", action="store_true", help="skip reading the label maps")
    s.add_argument("--out", help="write the normalised sheet (absolute paths) here")
    s.set_defaults(func=_validate)

    s = sub.add_parser("deid", help="de-identify one DICOM file (originals are never modified)")
    s.add_argument("--id", required=True)
    s.add_argument("--dicom", required=True)
    s.add_argument("--patient", required=True, help="the sample sheet's patient value")
    s.add_argument("--out", required=True)
    s.add_argument("--audit", required=True, help="JSON audit record (actions, never values)")
    s.add_argument("--demo-key", action="store_true", help="use the fixed demo key (demo only)")
    _deid_flags(s)
    s.set_defaults(func=_deid)

    s = sub.add_parser(
        "anonymise",
        help="de-identify a DICOM file or directory (PS3.15 Basic Profile; key from "
        "$HIPSEG_DEID_KEY or $HIPSEG_DEID_KEY_FILE)",
    )
    s.add_argument("input", help="a DICOM file or a directory (searched recursively)")
    s.add_argument("output", help="the output file, or a directory that mirrors the input")
    s.add_argument("--demo-key", action="store_true", help="use the fixed demo key (demo only)")
    _deid_flags(s)
    s.set_defaults(func=_anonymise)

    s = sub.add_parser("crop", help="split one radiograph into hip-joint images (2D NIfTI)")
    s.add_argument("--id", required=True)
    s.add_argument("--dicom", required=True, help="the de-identified DICOM")
    s.add_argument("--audit", required=True, help="its de-identification record (pseudonym)")
    s.add_argument("--labels", required=True)
    s.add_argument("--hips", default="both", choices=["both", "left", "right", "none"])
    s.add_argument("--split", default="", choices=["", "train", "test"])
    s.add_argument("--note", default="")
    s.add_argument("--rule", default="{}", help="crop rule as JSON (split_at, rows, mirror, …)")
    s.add_argument("--out-dir", required=True)
    s.set_defaults(func=_crop)

    s = sub.add_parser("dataset", help="write the nnU-Net raw dataset, split by patient")
    s.add_argument("--manifests", nargs="+", required=True)
    s.add_argument("--raw-root", required=True)
    s.add_argument("--dataset-id", type=int, required=True)
    s.add_argument("--name", required=True)
    s.add_argument("--test-fraction", type=float, required=True)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--channel-name", default="xray")
    s.add_argument("--out-dir", required=True)
    s.set_defaults(func=_dataset)

    s = sub.add_parser("splits", help="write nnU-Net's splits_final.json, folds grouped by patient")
    s.add_argument("--cases", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--folds", type=int, default=5)
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(func=_splits)

    s = sub.add_parser("plan", help="nnU-Net fingerprint, plan and preprocess")
    s.add_argument("--nnunet-root", required=True)
    s.add_argument("--dataset-id", type=int, required=True)
    s.add_argument("--configuration", default="2d")
    s.add_argument("--planner", default="ExperimentPlanner")
    s.add_argument("--overrides", default="", help="JSON plans overrides")
    s.add_argument("--processes", type=int, default=1)
    s.add_argument("--gpu-memory-gb", type=float)
    s.add_argument("--manifest", help="write a JSON record of the preprocessed data here")
    s.set_defaults(func=_plan)

    s = sub.add_parser("train", help="train one nnU-Net fold (0–4 or all); resumes after a kill")
    s.add_argument("--nnunet-root", required=True)
    s.add_argument("--dataset-id", type=int, required=True)
    s.add_argument("--fold", required=True)
    s.add_argument("--trainer", default="nnUNetTrainer")
    s.add_argument("--configuration", default="2d")
    s.add_argument("--epochs", type=int)
    s.add_argument("--iterations", type=int)
    s.add_argument("--val-iterations", type=int)
    s.add_argument("--checkpoint-every", type=int)
    s.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    s.add_argument("--threads", type=int)
    s.add_argument("--n-proc-da", type=int)
    s.add_argument("--seed", type=int)
    s.add_argument("--validate", action=argparse.BooleanOptionalAction, default=True)
    s.set_defaults(func=_train)

    s = sub.add_parser("predict", help="predict a folder with one fold or a fold ensemble")
    s.add_argument("--nnunet-root", required=True)
    s.add_argument("--model-dir", required=True)
    s.add_argument("--folds", nargs="+", required=True)
    s.add_argument("--input", required=True)
    s.add_argument("--output", required=True)
    s.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    s.add_argument("--threads", type=int)
    s.add_argument("--step", type=float, default=0.5)
    s.add_argument("--mirroring", action=argparse.BooleanOptionalAction, default=True)
    s.set_defaults(func=_predict)

    s = sub.add_parser("evaluate", help="Dice per image and label; Table I and Table II")
    s.add_argument("--gt-dir", required=True)
    s.add_argument("--pred-root", required=True)
    s.add_argument("--models", nargs="+", required=True)
    s.add_argument("--out-dir", required=True)
    s.set_defaults(func=_evaluate)

    s = sub.add_parser("deid-summary", help="summarise the de-identification audit records")
    s.add_argument("--audits", nargs="+", required=True)
    s.add_argument("--out", required=True)
    s.set_defaults(func=_deid_summary)

    s = sub.add_parser("report", help="write the self-contained HTML report")
    s.add_argument("--evaluation-dir", required=True)
    s.add_argument("--dataset-summary", required=True)
    s.add_argument("--plans", required=True)
    s.add_argument("--images-dir", required=True)
    s.add_argument("--labels-dir", required=True)
    s.add_argument("--predictions-root", required=True)
    s.add_argument("--config-json", required=True, help="the workflow config as JSON")
    s.add_argument("--deid-summary", required=True)
    s.add_argument("--benchmarks-dir", required=True)
    s.add_argument("--template", required=True)
    s.add_argument("--montage")
    s.add_argument("--gallery", help="PNG with one hip per finding (synthetic data)")
    s.add_argument("--paper-plan", help="JSON of `hipseg paper-plan`: shown in the methods")
    s.add_argument("--worst-k", type=int, default=3)
    s.add_argument("--out", required=True)
    s.set_defaults(func=_report)

    s = sub.add_parser(
        "install-profile",
        help="link a cluster profile (metacentrum, slurm) where `snakemake --profile NAME` looks",
    )
    s.add_argument("names", nargs="+", metavar="NAME", help="metacentrum and/or slurm")
    s.add_argument(
        "--dest", help="profile folder (default: $XDG_CONFIG_HOME/snakemake or ~/.config/snakemake)"
    )
    s.add_argument("--force", action="store_true", help="replace an existing link or file")
    s.set_defaults(func=_install_profile)

    s = sub.add_parser(
        "why",
        help="which stages `snakemake` would rerun, and why (params, input, code, library)",
    )
    s.add_argument("--directory", help="the workflow's working directory (default: here)")
    s.add_argument(
        "snakemake_args", nargs="*", help="more snakemake options, after --: -- --configfile F"
    )
    s.set_defaults(func=_why)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except HipsegError as exc:
        print(f"hipseg {args.command}: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
