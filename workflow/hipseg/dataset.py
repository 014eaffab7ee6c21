"""The nnU-Net raw dataset: a train/test split grouped by patient, and grouped CV folds.

Inputs are the crop stage's ``manifest.json`` files (one per radiograph). Outputs:

* ``nnUNet_raw/DatasetXXX_Name/{imagesTr,labelsTr,imagesTs,labelsTs}`` and ``dataset.json``;
* ``cases.tsv`` (case, radiograph, side, patient pseudonym, subset) and ``summary.json``;
* :func:`write_splits` writes nnU-Net's ``splits_final.json``: folds grouped by patient.

No patient is ever in both train and test, nor in both train and validation of a fold.
"""

from __future__ import annotations

import json
import random
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd

from .errors import HipsegError, InputError
from .io import write_json, write_text
from .labels import BACKGROUND, BY_VALUE, LABELS, N_FOLDS
from .options import StageOptions


def load_manifests(manifests: list[str | Path]) -> pd.DataFrame:
    rows = []
    for m in manifests:
        m = Path(m)
        try:
            data = json.loads(m.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError(m, f"cannot read crop manifest ({exc})") from exc
        for joint in data["joints"]:
            joint = dict(joint)
            if not joint["excluded"]:
                joint["image"] = str(m.parent / joint["image"])
                joint["labels"] = str(m.parent / joint["labels"])
            rows.append(joint)
    if not rows:
        raise HipsegError("no radiographs were given to the dataset stage")
    return pd.DataFrame(rows)


def split_by_patient(joints: pd.DataFrame, test_fraction: float, seed: int) -> dict[str, str]:
    """Assign each patient to train or test; honours fixed splits; returns {patient: subset}.

    Free patients are shuffled (seeded) and moved to test until the test set holds the joint
    count closest to ``test_fraction`` of all joints.
    """
    if not 0.0 < test_fraction < 1.0:
        raise HipsegError(f"dataset.test_fraction must be between 0 and 1, got {test_fraction}")
    per_patient = joints.groupby("patient").size().to_dict()
    fixed: dict[str, str] = {}
    for patient, group in joints.groupby("patient"):
        splits = set(group["split"]) - {""}
        if len(splits) > 1:
            raise HipsegError(f"patient {patient} has a fixed split in both train and test")
        if splits:
            fixed[patient] = splits.pop()
    target = round(test_fraction * len(joints))
    n_test = sum(per_patient[p] for p, s in fixed.items() if s == "test")
    free = sorted(p for p in per_patient if p not in fixed)
    random.Random(seed).shuffle(free)
    assignment = dict(fixed)
    for patient in free:
        n = per_patient[patient]
        if abs(n_test + n - target) < abs(n_test - target):
            assignment[patient] = "test"
            n_test += n
        else:
            assignment[patient] = "train"
    return assignment


def grouped_folds(cases: pd.DataFrame, n_folds: int, seed: int) -> list[dict[str, list[str]]]:
    """K folds over training cases, grouped by patient and balanced in case count."""
    per_patient = cases.groupby("patient")["case"].apply(sorted).to_dict()
    patients = sorted(per_patient)
    if len(patients) < n_folds:
        raise HipsegError(
            f"{len(patients)} training patients cannot make {n_folds} patient-grouped folds"
        )
    random.Random(seed).shuffle(patients)
    patients.sort(key=lambda p: -len(per_patient[p]))  # stable: big groups first, shuffled ties
    folds: list[list[str]] = [[] for _ in range(n_folds)]
    for p in patients:
        k = min(range(n_folds), key=lambda i: (len(folds[i]), i))
        folds[k].extend(per_patient[p])
    all_cases = sorted(c for cs in per_patient.values() for c in cs)
    held_out = [set(f) for f in folds]
    return [
        {"train": [c for c in all_cases if c not in val], "val": sorted(val)} for val in held_out
    ]


@dataclass(frozen=True)
class DatasetOptions(StageOptions):
    """The ``dataset:`` section of the config."""

    SECTION: ClassVar[str] = "dataset"
    id: int
    name: str
    test_fraction: float
    seed: int
    channel_name: str

    @property
    def folder(self) -> str:
        """nnU-Net's folder name of the dataset, ``DatasetXXX_Name``."""
        return dataset_name(self.id, self.name)


def dataset_name(dataset_id: int, name: str) -> str:
    """``DatasetXXX_Name``, nnU-Net's convention (the id zero-padded to three digits)."""
    return f"Dataset{int(dataset_id):03d}_{name}"


def build(
    manifests: list[str | Path],
    raw_root: str | Path,
    options: DatasetOptions,
    out_dir: str | Path,
) -> Path:
    """Write the nnU-Net raw dataset plus ``cases.tsv``/``summary.json`` into ``out_dir``."""
    joints = load_manifests(manifests)
    used = joints[~joints["excluded"]].copy()
    if used.empty:
        raise HipsegError("every hip is excluded: nothing to train on")
    assignment = split_by_patient(used, options.test_fraction, options.seed)
    used["subset"] = used["patient"].map(assignment)
    ds_dir = Path(raw_root) / options.folder
    tmp = ds_dir.with_name(ds_dir.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    for sub in ("imagesTr", "labelsTr", "imagesTs", "labelsTs"):
        (tmp / sub).mkdir(parents=True)
    for row in used.itertuples():
        suffix = "Tr" if row.subset == "train" else "Ts"
        shutil.copyfile(row.image, tmp / f"images{suffix}" / f"{row.case}_0000.nii.gz")
        shutil.copyfile(row.labels, tmp / f"labels{suffix}" / f"{row.case}.nii.gz")
    n_train = int((used["subset"] == "train").sum())
    from nnunetv2.dataset_conversion.generate_dataset_json import generate_dataset_json

    generate_dataset_json(
        str(tmp),
        channel_names={0: options.channel_name},
        labels={"background": BACKGROUND, **{lab.name: lab.value for lab in LABELS}},
        num_training_cases=n_train,
        file_ending=".nii.gz",
        dataset_name=options.name,
        description="One hip joint per image from AP pelvis radiographs (hipseg)",
        license="the data provider's terms (radiographs of the sample sheet)",
        converted_by="hipseg",
    )
    shutil.rmtree(ds_dir, ignore_errors=True)
    tmp.rename(ds_dir)

    out_dir = Path(out_dir)
    table = used[["case", "radiograph", "side", "patient", "subset", "rows", "cols"]].copy()
    table[["rows", "cols"]] = table[["rows", "cols"]].astype(int)
    table["spacing_x"] = [s[0] for s in used["spacing"]]
    table["spacing_y"] = [s[1] for s in used["spacing"]]
    table["spacing_source"] = _spacing_sources(used)
    write_text(out_dir / "cases.tsv", table.sort_values("case").to_csv(sep="\t", index=False))
    write_json(out_dir / "summary.json", summarise(joints, used))
    return ds_dir


def summarise(joints: pd.DataFrame, used: pd.DataFrame) -> dict:
    excluded = joints[joints["excluded"]]
    pixels = pd.DataFrame(list(used["label_pixels"]))
    total = (used["rows"] * used["cols"]).sum()
    spacing = Counter(f"{s[0]:.3g}×{s[1]:.3g} mm" for s in used["spacing"])
    subsets = used.groupby("subset")
    entry = _entry(joints)
    return {
        **entry,
        "n_radiographs": int(joints["radiograph"].nunique()),
        "n_patients": int(joints["patient"].nunique()),
        "n_hips": int(len(joints)),
        "n_joints": int(len(used)),
        "n_excluded": int(len(excluded)),
        "excluded": [
            {"case": r.case, "note": r.note or "excluded in the sample sheet"}
            for r in excluded.itertuples()
        ],
        "n_train_joints": int(subsets.size().get("train", 0)),
        "n_test_joints": int(subsets.size().get("test", 0)),
        "n_train_patients": int(used[used.subset == "train"]["patient"].nunique()),
        "n_test_patients": int(used[used.subset == "test"]["patient"].nunique()),
        "joint_image_sizes": {"rows": _stats(used["rows"]), "cols": _stats(used["cols"])},
        "spacings": dict(sorted(spacing.items())),
        "spacing_sources": _count_spacing_sources(joints),
        "label_area_fractions": {
            BY_VALUE[int(k)].name: float(pixels[k].sum() / total) for k in sorted(pixels, key=int)
        },
    }


def _entry(joints: pd.DataFrame) -> dict:
    """How the data entered: radiographs cropped here, or joint images (DICOM de-identified
    here, others taken as de-identified by their provider); whether cases are grouped by
    patient."""
    level = joints["level"] if "level" in joints else pd.Series("radiograph", joints.index)
    level = level.fillna("radiograph")
    n_joint = int((level == "joint").sum())
    if not n_joint:
        return {}
    by = joints["deidentified_by"].fillna("hipseg") if "deidentified_by" in joints else None
    grouped = joints["patient_grouped"].fillna(True) if "patient_grouped" in joints else None
    out = {
        "entry": "joint images" if n_joint == len(joints) else "radiographs and joint images",
        "n_joint_images": n_joint,
        "n_joints_not_dicom": int((by == "provider").sum()) if by is not None else 0,
    }
    if grouped is not None:
        out["patient_grouped"] = bool(grouped.astype(bool).all())
    return out


def _spacing_sources(joints: pd.DataFrame) -> list[str]:
    """Where each joint's radiograph got its pixel spacing (hipseg.intake.spacing.SOURCES)."""
    from .intake import SOURCES
    from .source import SPACING_SOURCES

    names = {**SOURCES, **SPACING_SOURCES}
    keys = joints["spacing_source"] if "spacing_source" in joints else [""] * len(joints)
    return [names.get(k, "not recorded") for k in keys]


def _count_spacing_sources(joints: pd.DataFrame) -> dict[str, int]:
    """{spacing source: number of radiographs}."""
    per_radiograph = joints.assign(source=_spacing_sources(joints)).drop_duplicates("radiograph")
    return dict(sorted(Counter(per_radiograph["source"]).items()))


def _stats(s: pd.Series) -> dict:
    return {"min": int(s.min()), "median": float(np.median(s)), "max": int(s.max())}


def write_splits(
    cases_tsv: str | Path, out_json: str | Path, seed: int, n_folds: int = N_FOLDS
) -> list:
    cases = pd.read_csv(cases_tsv, sep="\t", dtype=str)
    train = cases[cases["subset"] == "train"]
    folds = grouped_folds(train, n_folds, seed)
    write_json(out_json, folds)
    return folds
