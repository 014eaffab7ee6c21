import json

import pandas as pd
import pytest

from hipseg import dataset
from hipseg.errors import HipsegError


def _joints(n_patients, per_patient=2, fixed=None):
    rows = []
    for p in range(n_patients):
        for j in range(per_patient):
            rows.append(
                {"case": f"r{p}_{j}", "patient": f"P{p}", "split": (fixed or {}).get(f"P{p}", "")}
            )
    return pd.DataFrame(rows)


def test_split_is_grouped_by_patient_and_near_the_ratio():
    joints = _joints(30, per_patient=5)  # 150 joints as in the paper
    assignment = dataset.split_by_patient(joints, 1 / 3, seed=0)
    joints["subset"] = joints["patient"].map(assignment)
    assert joints.groupby("patient")["subset"].nunique().max() == 1
    assert (joints["subset"] == "test").sum() == 50


def test_fixed_split_is_honoured_and_conflicts_rejected():
    joints = _joints(10, fixed={"P0": "test", "P1": "train"})
    assignment = dataset.split_by_patient(joints, 0.3, seed=1)
    assert assignment["P0"] == "test" and assignment["P1"] == "train"
    bad = _joints(4)
    bad.loc[0, "split"], bad.loc[1, "split"] = "train", "test"
    with pytest.raises(HipsegError, match="both train and test"):
        dataset.split_by_patient(bad, 0.3, seed=1)


def test_folds_grouped_by_patient_and_cover_all_cases():
    cases = _joints(12, per_patient=3)
    cases.loc[cases.index[:2], "patient"] = "P_big"  # uneven group sizes
    folds = dataset.grouped_folds(cases, 5, seed=0)
    assert len(folds) == 5
    patient_of = dict(zip(cases["case"], cases["patient"], strict=True))
    vals = [c for f in folds for c in f["val"]]
    assert sorted(vals) == sorted(cases["case"])  # each case validated exactly once
    for f in folds:
        assert not set(f["train"]) & set(f["val"])
        assert not {patient_of[c] for c in f["train"]} & {patient_of[c] for c in f["val"]}
    sizes = [len(f["val"]) for f in folds]
    assert max(sizes) - min(sizes) <= 3
    with pytest.raises(HipsegError, match="cannot make 5"):
        dataset.grouped_folds(_joints(3), 5, seed=0)


def test_build_writes_an_nnunet_raw_dataset(demo_data, tmp_path):
    from hipseg import samplesheet
    from tests.conftest import crop_all

    df = samplesheet.read(demo_data)
    manifests = crop_all(demo_data, tmp_path / "joints")
    options = dataset.DatasetOptions.from_config({"id": 7, "name": "Hip", "test_fraction": 0.34})
    ds_dir = dataset.build(manifests, tmp_path / "raw", options, tmp_path / "ds")
    assert ds_dir.name == "Dataset007_Hip"
    meta = json.loads((ds_dir / "dataset.json").read_text())
    assert meta["labels"] == {"background": 0, "L1": 1, "L2": 2, "L3": 3, "L4": 4, "L5": 5}
    assert meta["numTraining"] == len(list((ds_dir / "imagesTr").glob("*_0000.nii.gz")))
    cases = pd.read_csv(tmp_path / "ds" / "cases.tsv", sep="\t")
    assert cases.groupby("patient")["subset"].nunique().max() == 1
    for sub, d in (("train", "Tr"), ("test", "Ts")):
        names = sorted(
            p.name.replace("_0000.nii.gz", "") for p in (ds_dir / f"images{d}").iterdir()
        )
        assert names == sorted(cases[cases.subset == sub]["case"])
        assert len(list((ds_dir / f"labels{d}").iterdir())) == len(names)
    summary = json.loads((tmp_path / "ds" / "summary.json").read_text())
    assert summary["n_joints"] == len(cases)
    assert summary["n_joints"] + summary["n_excluded"] == 2 * len(df)
    # (6 synthetic patients: 3 folds, so that every fold keeps a patient to validate on)
    splits = dataset.write_splits(tmp_path / "ds" / "cases.tsv", tmp_path / "splits.json", 0, 3)
    assert json.loads((tmp_path / "splits.json").read_text()) == splits
