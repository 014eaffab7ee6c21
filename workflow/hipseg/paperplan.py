"""Proof that nnU-Net's own planner reproduces the paper's plan (Section III) on synthetic data.

The paper (Blažková et al., Section III) reports for its 100 training joints: target spacing
0.15 × 0.15 mm, median image 2320 × 1414 px, a plain convolutional U-Net with 9 stages and
32 → 512 features, 3 × 3 kernels, patch 1536 × 1024 and batch size 2. :func:`check` renders
radiographs of the ``paper`` preset of :mod:`hipseg.synth` at full size, crops them into joints
exactly as the workflow does, writes an nnU-Net raw dataset, and runs nnU-Net's fingerprint
extraction and default ``ExperimentPlanner`` (no preprocessing), then compares the 2D plan with
the paper's numbers.

Fingerprinting all 83 paper-size radiographs takes minutes, so by default a subset is used:
radiographs with two usable hips, stratified by pixel spacing (sorted by the spacing the intake
uses, the detector's divided by a header's magnification factor, taken at evenly
spaced quantiles), so that the subset's spacing distribution, and hence nnU-Net's median target
spacing, mirrors the full set's. Every joint covers the same physical field (214 mm × 340–352 mm)
whatever the spacing, so the median shape after resampling to the target spacing is that of the
full set too. ``radiographs: 0`` fingerprints all of them.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from . import dataset, nnunet, samplesheet, synth
from .crop import CropRule, crop_case
from .errors import HipsegError
from .io import write_json
from .options import StageOptions

DATASET_ID = 990
DATASET_NAME = "HipPaperPlan"

# Section III of the paper, in nnU-Net's axis order (rows, columns).
PAPER = {
    "spacing_mm": [0.15, 0.15],
    "median_shape": [2320, 1414],
    "network": "PlainConvUNet",
    "n_stages": 9,
    "features": [32, 512],
    "kernel": [3, 3],
    "patch_size": [1536, 1024],
    "batch_size": 2,
    "normalization": "ZScoreNormalization",
}


def choose_subset(preset: str, seed: int, n: int | None) -> list[str]:
    """Radiograph ids: all (``n=None``) or ``n`` with both hips usable, stratified by spacing."""
    rows = synth.describe(preset, seed)
    if n is None or n >= len(rows):
        return [r["id"] for r in rows]
    if n < 1:
        raise HipsegError(f"paper_plan.radiographs must be 0 (all) or >= 1, got {n}")
    # by the spacing the planner will see (a header's magnification factor divides it)
    both = sorted((r for r in rows if r["hips"] == "both"),
                  key=lambda r: (r["intake_spacing"], r["id"]))  # fmt: skip
    pos = ((np.arange(n) + 0.5) / n * len(both)).astype(int)
    return sorted(both[i]["id"] for i in pos)


def planned_values(plans: dict, configuration: str = "2d") -> dict:
    """The plan's numbers that the paper reports, in the paper's terms."""
    conf = plans["configurations"][configuration]
    arch = conf["architecture"]
    kw = arch["arch_kwargs"]
    feats = list(kw["features_per_stage"])
    return {
        "spacing_mm": [round(float(v), 4) for v in conf["spacing"]],
        "median_shape": [int(round(v)) for v in conf["median_image_size_in_voxels"]],
        "network": arch["network_class_name"].rsplit(".", 1)[-1],
        "n_stages": int(kw["n_stages"]),
        "features": [int(feats[0]), int(feats[-1])],
        "kernel": [int(k) for k in kw["kernel_sizes"][0]],
        "patch_size": [int(v) for v in conf["patch_size"]],
        "batch_size": int(conf["batch_size"]),
        "normalization": conf["normalization_schemes"][0],
    }


def compare(planned: dict) -> dict:
    """Per item: equal to the paper (median shape: within 2 % per axis)."""
    match = {}
    for key, want in PAPER.items():
        got = planned[key]
        if key == "median_shape":
            match[key] = all(abs(g - w) <= 0.02 * w for g, w in zip(got, want, strict=True))
        else:
            match[key] = got == want
    return match


def full_set_summary(preset: str = "paper", seed: int = 0) -> dict:
    """Counts and nominal joint-image sizes of the whole preset (from geometry, not rendered)."""
    rows = synth.describe(preset, seed)
    sizes, spacings, joints, test = [], [], 0, 0
    for r in rows:
        cols, nrows = (int(round(f / r["spacing"])) for f in r["field_mm"])
        n = {"both": 2, "none": 0}.get(r["hips"], 1)
        joints += n
        test += n if r["split"] == "test" else 0
        sizes += [(cols // 2, nrows)] * n
        spacings += [r["spacing"]] * n
    sizes_arr = np.array(sizes)
    return {
        "radiographs": len(rows),
        "patients": len({r["patient"] for r in rows}),
        "joints": joints,
        "excluded_joints": 2 * len(rows) - joints,
        "train_joints": joints - test,
        "test_joints": test,
        "smallest_joint_px": [int(v) for v in sizes_arr[np.argmin(sizes_arr.prod(1))]],
        "largest_joint_px": [int(v) for v in sizes_arr[np.argmax(sizes_arr.prod(1))]],
        "spacings_mm": {f"{s:g}": spacings.count(s) for s in sorted(set(spacings))},
    }


@dataclass(frozen=True)
class PaperPlanOptions(StageOptions):
    """The ``paper_plan:`` section (``radiographs: 0`` fingerprints all 83)."""

    SECTION: ClassVar[str] = "paper_plan"
    radiographs: int = 6
    seed: int = 0


def check(
    work_dir: str | Path,
    out_json: str | Path | None = None,
    options: PaperPlanOptions | None = None,
    processes: int = 1,
    keep: bool = False,
) -> dict:
    """Render, crop, fingerprint and plan a (subset of the) ``paper`` preset; compare with the
    paper. ``work_dir`` is emptied first and removed afterwards unless ``keep``."""
    options = options or PaperPlanOptions()
    seed = options.seed
    radiographs = options.radiographs or None  # 0: all radiographs
    work = Path(work_dir)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    ids = choose_subset("paper", seed, radiographs)
    t0 = time.perf_counter()
    tsv = synth.generate(work / "synth", preset="paper", seed=seed, only=ids)
    t_gen = time.perf_counter() - t0
    manifests = []
    rule = CropRule()
    for row in samplesheet.read(tsv).itertuples():  # every joint trains: a planning sample
        out = work / "crops" / row.id
        crop_case(
            row.id, row.dicom, row.labels, row.hips, out, rule, row.patient, "train", row.note
        )
        manifests.append(out / "manifest.json")
    root = work / "nnunet"
    ds_options = dataset.DatasetOptions(
        id=DATASET_ID, name=DATASET_NAME, test_fraction=0.5, seed=0, channel_name="xray"
    )
    dataset.build(manifests, root / "nnUNet_raw", ds_options, work / "dataset")
    t1 = time.perf_counter()
    plans_file = nnunet.plan_and_preprocess(
        root, DATASET_ID, num_processes=processes, preprocess=False
    )
    t_plan = time.perf_counter() - t1
    plans = json.loads(Path(plans_file).read_text())
    planned = planned_values(plans)
    match = compare(planned)
    cases = json.loads((work / "dataset" / "summary.json").read_text())
    result = {
        "preset": "paper",
        "seed": seed,
        "planner": "ExperimentPlanner (nnU-Net default)",
        "subset": {
            "radiographs": ids,
            "how": "all radiographs"
            if radiographs is None
            else f"{len(ids)} radiographs with both hips usable, stratified by pixel spacing",
            "joints": cases["n_joints"],
        },
        "full_set": full_set_summary("paper", seed),
        "planned": planned,
        "paper": PAPER,
        "match": match,
        "all_match": all(match.values()),
        "seconds": {"generate": round(t_gen, 1), "fingerprint_and_plan": round(t_plan, 1)},
        "nnunet_version": nnunet_version(),
    }
    if not keep:
        shutil.rmtree(work, ignore_errors=True)
    if out_json:
        write_json(out_json, result)
    return result


def nnunet_version() -> str:
    from importlib.metadata import version

    return version("nnunetv2")
