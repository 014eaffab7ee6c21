"""``hipseg segment``: inputs, one model for the whole run, progress, errors and ``run.json``."""

from __future__ import annotations

import csv
import io as _io
import platform
import sys
import time
from dataclasses import dataclass, replace
from importlib import metadata
from pathlib import Path
from typing import ClassVar, TextIO

import numpy as np
import pandas as pd

from .. import __version__
from ..clinical.quality import QualityRules, assess, dice_agreement
from ..crop import CropRule
from ..dicomref import reference
from ..errors import HipsegError, InputError
from ..gate import GateOptions, NotAssessable, content, refuse
from ..gate import header as header_gate
from ..intake import read_dataset
from ..io import write_json, write_text
from ..measure.calibration import calibrate
from ..measure.record import CSV_COLUMNS, csv_rows, measure_label_map
from ..options import StageOptions
from . import intake as intake_mod
from .model import Model, fast_model_dir
from .outputs import write_outputs
from .sources import SIDES, Source

VERSIONED = ("numpy", "torch", "nnunetv2", "pydicom", "highdicom", "SimpleITK", "scipy")


@dataclass(frozen=True)
class SegmentOptions(StageOptions):
    """The ``segment:`` section (``enabled``, ``threads`` and ``resources`` are Snakemake's)."""

    SECTION: ClassVar[str] = "segment"
    model: str = "fold_all"
    device: str = "auto"
    mirroring: bool = True
    mirror_axes: tuple = (0, 1)
    tile_step_size: float = 0.5
    engine: str = "torch"
    fast: bool = False
    fastest: bool = False
    detect_implants: bool = True
    implant_min_area_mm2: float = 200.0
    calibration_ball: str = "auto"
    ball_diameter_mm: float = 25.0
    magnification: float | None = None
    magnification_tolerance: float = 0.03
    template: str = ""
    template_uncalibrated: bool = False

    def calibration(self):
        """The options of :func:`hipseg.measure.calibration.calibrate`."""
        from ..measure.calibration import CalibrationOptions

        return CalibrationOptions(self.calibration_ball, self.ball_diameter_mm,
                                  self.magnification, self.magnification_tolerance)  # fmt: skip

    def effective(self) -> SegmentOptions:
        """The options a run uses: ``fast`` replaces engine, mirroring, its axes and the tile
        step by :data:`FAST` (the same model, the ladder's fastest setting within its Dice
        budget); ``fastest`` by :data:`FASTEST` (with the coarse 2d_lowres model)."""
        if self.fastest:
            return replace(self, **FASTEST)
        return replace(self, **FAST) if self.fast else self


# the fast path (segment.fast, hipseg segment --fast): the same model, with the fastest setting
# of bench/segment.py's ladder whose Dice cost on the demo is at most 0.005 (docs/segmenting.md,
# Run time of hipseg segment): the network through ONNX Runtime, mirrored left-right only (2
# passes per tile instead of 4), nnU-Net's tile step (fewer tiles cost more Dice than fewer
# passes)
FAST = {"engine": "onnx", "mirroring": True, "mirror_axes": (1,), "tile_step_size": 0.5}
# the fastest path (segment.fastest, --fastest): another, coarser model — the 2d_lowres
# configuration beside the model folder (twice the spacing) — through ONNX Runtime without
# mirroring; its measured cost is in docs/segmenting.md and --fastest's help
FASTEST = {"engine": "onnx", "mirroring": False, "mirror_axes": (0, 1), "tile_step_size": 0.5}


def test_radiographs(cases_tsv: str | Path) -> set[str]:
    """Radiographs with a joint in the test subset of the dataset stage's ``cases.tsv``."""
    try:
        cases = pd.read_csv(cases_tsv, sep="\t", dtype=str)
        return set(cases.loc[cases["subset"] == "test", "radiograph"])
    except (OSError, KeyError, ValueError) as exc:
        raise InputError(cases_tsv, f"is not the dataset stage's cases.tsv ({exc})") from exc


def _speed(options: SegmentOptions) -> str:
    return ", fastest" if options.fastest else ", fast" if options.fast else ""


def _mean(entries: list[dict], key: str) -> float | None:
    return float(np.mean([e["seconds"][key] for e in entries])) if entries else None


def versions() -> dict:
    out = {"hipseg": __version__, "python": platform.python_version()}
    for pkg in VERSIONED:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    return out


def _one(src: Source, model: Model, options: SegmentOptions, rule: CropRule, out_dir: Path,
         deidentified_only: bool, convention: str = "midline",
         quality_rules: QualityRules | None = None, keep: dict | None = None,
         catalogue=None, gate: GateOptions | None = None) -> dict:  # fmt: skip
    """Segment and measure one radiograph; write its outputs; return its run.json entry.

    The gate (:mod:`hipseg.gate`) comes first: a film whose header rules it out, or whose label
    map shows no adult hips, raises :class:`hipseg.gate.NotAssessable` before anything is
    measured or written. With an ensemble model the folds' agreement is measured too
    (:mod:`hipseg.clinical.quality`); with ``options.template`` the radiograph is templated
    (:mod:`hipseg.templating`; ``catalogue``: the loaded catalogue, else it is loaded here).
    ``keep`` (a dict) receives the intake, label map, record, quality and templating."""
    t0, cpu0 = time.perf_counter(), time.process_time()
    gate = gate or GateOptions()
    it, calibration = _read(src, options, rule, gate, deidentified_only)
    t1 = time.perf_counter()
    labels, agreement = _labels(it, model, rule, convention)
    t2 = time.perf_counter()
    record = _measured(src, it, labels, calibration, rule, gate)
    quality = assess(labels, record, it.spacing_xy, split_at=rule.split_at,
                     right_on_image_left=rule.patient_right_on == "image_left",
                     excluded=it.excluded, agreement=agreement, rules=quality_rules)  # fmt: skip
    templating = _template(labels, record, options, rule, catalogue)
    t3 = time.perf_counter()
    files = write_outputs(out_dir, src.name, it, labels, record, model.name, quality,
                          templating=templating)  # fmt: skip
    t4 = time.perf_counter()
    entry = {
        "name": src.name, "input": str(src.path), "status": "ok",
        "rows": int(it.shape[0]), "cols": int(it.shape[1]), "spacing": it.spacing,
        "excluded": it.excluded, "metal_mm2": it.metal_mm2, "calibration": calibration,
        "files": files, "header": list(reference(it.header, it.patient_right_on).notes),
        "needs_review": quality["needs_review"], "review_reasons": quality["reasons"],
        "ensemble_dice": quality["ensemble_dice"],
        "seconds": {"intake": t1 - t0, "predict": t2 - t1, "measure": t3 - t2,
                    "write": t4 - t3, "total": t4 - t0, "cpu": time.process_time() - cpu0},
        "_rows": csv_rows(record, src.name),
    }  # fmt: skip
    if templating is not None:
        from ..templating.record import csv_rows as templating_rows

        entry["templating"] = {
            "status": templating["status"], "reason": templating.get("reason"),
            "hips": {s: p["summary"] for s, p in templating["hips"].items()},
        }  # fmt: skip
        entry["_templating_rows"] = templating_rows(templating, src.name)
    if keep is not None:
        keep.update(intake=it, labels=labels, record=record, quality=quality,
                    templating=templating)  # fmt: skip
    return entry


def _read(src: Source, options: SegmentOptions, rule: CropRule, gate: GateOptions,
          deidentified_only: bool):  # fmt: skip
    """The header gate, then the intake (crop, implants, the calibration ball) and the
    calibration: (intake, calibration statement)."""
    header_gate.check(read_dataset(src.path, stop_before_pixels=True), src.path, gate,
                      colour=rule.colour, fallback_spacing=rule.fallback_spacing)  # fmt: skip
    min_area = options.implant_min_area_mm2 if options.detect_implants else None
    it = intake_mod.read(src.path, rule, min_area, src.excluded, options.ball_diameter_mm)
    calibration = calibrate(src.path, it.radiograph.spacing, it.header, it.ball,
                            options.calibration())  # fmt: skip
    if deidentified_only and str(it.header.get("PatientIdentityRemoved", "")).upper() != "YES":
        raise InputError(src.path, "is not de-identified (PatientIdentityRemoved is not YES); "
                         "de-identify it first (hipseg anonymise)")  # fmt: skip
    return it, calibration


def _labels(it, model: Model, rule: CropRule, convention: str) -> tuple[np.ndarray, float | None]:
    """The full-image label map (each hip predicted and pasted back, or the whole radiograph
    for a model of whole radiographs) and, for an ensemble, its folds' agreement."""
    folds: list = []
    if convention == "none":  # a model of whole radiographs: no crop; excluded hips cleared
        labels = model.predict(it.radiograph.pixels, it.spacing_xy)
        for side in it.excluded:
            intake_mod.paste(labels, side, np.zeros_like(it.joints[side]), rule)
        if len(model.folds) > 1:
            folds.append(model.predict_folds(it.radiograph.pixels, it.spacing_xy))
    else:
        labels = np.zeros(it.shape, np.uint8)
        for side in SIDES:
            if side not in it.excluded:
                joint = model.predict(it.joints[side], it.spacing_xy)
                intake_mod.paste(labels, side, joint, rule)
                if len(model.folds) > 1:
                    folds.append(model.predict_folds(it.joints[side], it.spacing_xy))
    if not folds:
        return labels, None
    return labels, dice_agreement([np.concatenate([f[k] for f in folds], axis=1)
                                   for k in range(len(model.folds))])  # fmt: skip


def _measured(src: Source, it, labels: np.ndarray, calibration: dict, rule: CropRule,
              gate: GateOptions) -> dict:  # fmt: skip
    """The measurement record of the label map, between the two parts of the content check
    (the labels before measuring, the landmarks after)."""
    spacing = tuple(calibration["spacing_mm"])
    where = {"split_at": rule.split_at, "excluded": it.excluded,
             "right_on_image_left": rule.patient_right_on == "image_left"}  # fmt: skip
    if gate.content:
        refuse(src.path, content.label_reasons(labels, spacing, options=gate, **where),
               "content")  # fmt: skip
    record = measure_label_map(labels, spacing, calibration=calibration, **where)
    if gate.content:
        refuse(src.path, content.record_reasons(record, gate), "content")
    o = it.radiograph.orientation
    record["frame"] = {"orientation": "the intake's (standard AP display)",
                       "changed": o.changed, "note": o.note, "transpose": o.transpose,
                       "flip_ud": o.flip_ud, "flip_lr": o.flip_lr}  # fmt: skip
    return record


def _template(labels, record: dict, options: SegmentOptions, rule: CropRule, catalogue):
    """The radiograph's templating (:mod:`hipseg.templating`), or None without a catalogue."""
    if not options.template:
        return None
    from ..templating.catalogue import load
    from ..templating.record import template_radiograph

    return template_radiograph(
        labels, record, catalogue or load(options.template), split_at=rule.split_at,
        right_on_image_left=rule.patient_right_on == "image_left",
        allow_uncalibrated=options.template_uncalibrated,
    )  # fmt: skip


def _segment_all(
    sources,
    model,
    options,
    rule,
    out_dir,
    deidentified_only,
    convention,
    catalogue,
    errors: list,
    log,
    gate: GateOptions,
) -> tuple[list, list, list]:
    """Every source through :func:`_one`, one line of progress each: (entries, measurement
    rows, templating rows); a failure is an entry and a line of ``errors``; a film the gate
    refuses is an entry with its reasons (:func:`not_assessed`)."""
    entries, rows, trows = [], [], []
    for i, src in enumerate(sources, start=1):
        try:
            entry = _one(src, model, options, rule, out_dir, deidentified_only, convention,
                         catalogue=catalogue, gate=gate)  # fmt: skip
        except NotAssessable as exc:
            entries.append(not_assessed(src, exc, out_dir, model.name, gate, rule))
            print(f"[{i}/{len(sources)}] {src.name}: not assessable ({exc.check}): "
                  f"{'; '.join(exc.reasons)}", file=log, flush=True)  # fmt: skip
            continue
        except Exception as exc:  # one bad input must not stop the others
            if not isinstance(exc, HipsegError):
                exc = HipsegError(f"{src.path}: cannot be segmented ({type(exc).__name__}: {exc})")
            errors.append(str(exc))
            entries.append({"name": src.name, "input": str(src.path), "status": "failed",
                            "error": str(exc)})  # fmt: skip
            print(f"[{i}/{len(sources)}] {src.name}: error: {exc}", file=log, flush=True)
            continue
        rows += entry.pop("_rows")
        trows += entry.pop("_templating_rows", [])
        entries.append(entry)
        note = "; ".join(
            [f"{s} hip excluded: {r}" for s, r in entry["excluded"].items()]
            + [f"{entry['calibration']['method'].replace('_', ' ')}"]
            + [f"warning: {w}" for w in entry["calibration"]["warnings"]]
            + [f"header: {n}" for n in entry["header"]]
            + ([f"templating refused: {entry['templating']['reason']}"]
               if entry.get("templating", {}).get("status") == "refused" else [])
        )  # fmt: skip
        print(f"[{i}/{len(sources)}] {src.name}: {entry['seconds']['total']:.1f} s"
              + (f" ({note})" if note else ""), file=log, flush=True)  # fmt: skip
    return entries, rows, trows


def segment(sources: list[Source], out_dir: str | Path, model_dir: str | Path,
            options: SegmentOptions, rule: CropRule, *, threads: int | None = None,
            deidentified_only: bool = False, errors: list[str] | None = None,
            log: TextIO | None = None, convention: str = "midline",
            label_names=None, model: Model | None = None, gate: GateOptions | None = None,
            not_assessable_ok: bool = False) -> dict:  # fmt: skip
    """Segment every source with one model; write the outputs and ``run.json``.

    A bad input is reported (its file and the problem) and the others go on; so is a film the
    gate finds not assessable (its reasons; with ``gate.not_assessable: report`` its folder
    holds an SR and a presentation state saying so, nothing else). If any failed or was not
    assessable, :class:`HipsegError` is raised at the end, after ``run.json`` is written
    (``not_assessable_ok``: not for the films that were not assessable). ``model``: one
    already loaded (e.g. by a benchmark), instead of loading ``model_dir`` with ``options``."""
    gate = gate or GateOptions()
    out_dir, log = Path(out_dir), log or sys.stderr
    errors = list(errors or [])
    for e in errors:
        print(f"hipseg segment: error: {e}", file=log, flush=True)
    start = time.perf_counter()
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    used = options.effective()
    fast_note = None
    catalogue = None
    if options.template:  # a bad catalogue stops the run before anything is written
        from ..templating.catalogue import load

        catalogue = load(options.template)
    if model is None:
        if options.fastest:
            model_dir, fast_note = fast_model_dir(model_dir, used.model)
        model = Model(model_dir, used.model, used, threads, label_names=label_names,
                      cache_dir=out_dir)  # fmt: skip
    _say_model(model, options, fast_note, log)
    entries, rows, trows = _segment_all(sources, model, options, rule, out_dir,
                                        deidentified_only, convention, catalogue, errors,
                                        log, gate)  # fmt: skip
    done = [e for e in entries if e["status"] == "ok"]
    refused = [e["name"] for e in entries if e["status"] == "not_assessable"]
    flagged = [e["name"] for e in done if e["needs_review"]]
    buf = _io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows([CSV_COLUMNS, *rows])
    write_text(out_dir / "measurements.csv", buf.getvalue())
    templating = _templating_summary(out_dir, catalogue, options, done, trows)
    run = {
        "command": "hipseg segment", "started": started,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "versions": versions(),
        "model": model.describe(), "fast_model": fast_note, "options": options.to_config(),
        "options_used": used.to_config(), "crop": rule.to_config(),
        "convention": convention,
        "threads": threads, "deidentified_only": deidentified_only,
        "timings": {
            "model_load_s": model.load_seconds,
            "model_load_cpu_s": model.load_cpu_seconds,
            "total_s": time.perf_counter() - start,
            "per_radiograph_s": _mean(done, "total"),
            "per_radiograph_cpu_s": _mean(done, "cpu"),
        },
        "gate": gate.to_config(),
        "n_radiographs": len(sources), "n_ok": len(done), "n_failed": len(errors),
        "errors": errors, "n_not_assessable": len(refused), "not_assessable": refused,
        "n_needs_review": len(flagged), "needs_review": flagged,
        "radiographs": entries, "measurements_csv": "measurements.csv",
        "templating": templating,
    }  # fmt: skip
    write_json(out_dir / "run.json", run)
    if errors or (refused and not not_assessable_ok):
        what = [f"{len(errors)} input(s) failed"] if errors else []
        what += [f"{len(refused)} not assessable"] if refused and not not_assessable_ok else []
        raise HipsegError(f"{' and '.join(what)} (listed above and in "
                          f"{out_dir / 'run.json'})")  # fmt: skip
    return run


def _say_model(model: Model, options: SegmentOptions, fast_note: str | None, log) -> None:
    print(f"hipseg segment: model {model.name} ({', '.join(model.folds)}) on {model.device} "
          f"({model.engine}{_speed(options)}) loaded in "
          f"{model.load_seconds:.1f} s", file=log, flush=True)  # fmt: skip
    if fast_note:
        print(f"hipseg segment: --fastest: {fast_note}", file=log, flush=True)


def _templating_summary(out_dir: Path, catalogue, options: SegmentOptions, done: list,
                        rows: list) -> dict | None:  # fmt: skip
    """With a catalogue: ``templating.csv`` written, and run.json's templating statement."""
    if catalogue is None:
        return None
    from ..templating.record import csv_text

    write_text(out_dir / "templating.csv", csv_text(rows))
    return {"catalogue": catalogue.describe(), "csv": "templating.csv",
            "uncalibrated_allowed": options.template_uncalibrated,
            "refused": [e["name"] for e in done
                        if e["templating"]["status"] == "refused"]}  # fmt: skip


def not_assessed(src: Source, exc: NotAssessable, out_dir: Path, model: str,
                 gate: GateOptions, rule: CropRule) -> dict:  # fmt: skip
    """The run.json entry of a film the gate refused; with ``gate.not_assessable: report`` its
    folder with an SR and a presentation state that say so (written whole or not at all)."""
    entry = {"name": src.name, "input": str(src.path), "status": "not_assessable",
             "check": exc.check, "reasons": exc.reasons, "files": {}}  # fmt: skip
    if gate.not_assessable == "report":
        from ..clinical.notassessed import write_not_assessed

        entry["files"] = write_not_assessed(out_dir, src.name, src.path, exc, model,
                                            rule.patient_right_on)  # fmt: skip
    return entry
