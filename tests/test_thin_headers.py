"""Good radiographs with thin headers get their full result (issue 32), and the DICOM objects of
a result pass dicom3tools' ``dciodvfy`` without an error.

Every Type 2 and Type 2C attribute of the CR and the DX image IOD is removed, and separately
emptied, one at a time, in a good demo radiograph (as exported: CR; the attributes only the DX
IOD has in the same image as a DX): each variant still gets its labels, the same measurements,
a SEG, an SR, a presentation state and a Secondary Capture, and every object passes
``dciodvfy``. The network runs once: one ``hipseg segment`` run of the radiograph, its DX copy,
the thinnest headers of both (every Type 2 attribute removed, or every one emptied, at once)
and the demo's test radiographs. The variants go through ``hipseg segment``'s own path for one
radiograph with a model that replays a label map for the same pixels (the network's, and on
the thinnest headers also the ground truth).
"""

from __future__ import annotations

import copy
import hashlib
import json

import numpy as np
import pandas as pd
import pydicom
import pytest
from PIL import Image
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset

from hipseg import cli
from hipseg.clinical.pr import build_sc
from hipseg.clinical.sr import read_sr
from hipseg.crop import CropRule, split_joints
from hipseg.dicomseg import read_seg
from hipseg.gate import GateOptions
from hipseg.io import read_image_2d
from hipseg.segment import intake as intake_mod
from hipseg.segment.run import SegmentOptions, _one
from hipseg.segment.run import test_radiographs as subset_of_test
from hipseg.segment.sources import Source
from tests import NO_CONTENT_CHECK, NO_CONTENT_FLAGS, dciodvfy

pytestmark = pytest.mark.slow
FAST = ["--device", "cpu", "--no-mirroring", "--threads", "1", *NO_CONTENT_FLAGS]
RULE = CropRule.from_config({})
OPTIONS = SegmentOptions.from_config({"device": "cpu", "mirroring": False})
# named by hand from PS3.3 (Patient C.7.1.1, General Study C.7.2.1, General Series C.7.3.1,
# CR Series C.8.1.1, General Equipment C.7.5.1, General Image C.7.6.1): what the tables below
# must contain at least
NAMED = {
    "PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime",
    "AccessionNumber", "ReferringPhysicianName", "StudyID", "SeriesNumber", "Laterality",
    "Manufacturer", "InstanceNumber", "PatientOrientation", "ContentDate", "ContentTime",
}  # fmt: skip


def type2_attributes(ds: Dataset) -> list[str]:
    """The root-level Type 2 and 2C attributes of the radiograph's IOD (PS3.3 A.2 CR Image IOD,
    A.26 DX Image IOD) from the standard's module tables as highdicom ships them (generated
    from the DICOM standard): those of every mandatory module (Patient C.7.1.1, General Study
    C.7.2.1, General Series C.7.3.1, CR Series C.8.1.1, General Equipment C.7.5.1, General Image
    C.7.6.1, DX Anatomy Imaged C.8.11.2, DX Detector C.8.11.4, Acquisition Context C.7.6.14),
    and of a conditional or user-optional module the radiograph carries (DX Positioning
    C.8.11.5, which its ViewPosition belongs to)."""
    from highdicom._standard_utils import (
        get_iod_module_map,
        get_module_attribute_map,
        get_sop_class_iod_map,
    )

    modules = get_iod_module_map()[get_sop_class_iod_map()[str(ds.SOPClassUID)]]
    attributes = get_module_attribute_map()
    out: dict[str, None] = {}
    for module in modules:
        root = [
            a for a in attributes[module["key"]] if not a["path"] and tag_for_keyword(a["keyword"])
        ]
        if module["usage"] == "M" or any(a["keyword"] in ds for a in root):
            out.update((a["keyword"], None) for a in root if a["type"] in ("2", "2C"))
    return list(out)


def emptied(ds: Dataset, keyword: str) -> None:
    tag = tag_for_keyword(keyword)
    vr = dictionary_VR(tag)
    ds[tag] = DataElement(tag, vr, [] if vr == "SQ" else None)


def as_dx(cr: Dataset) -> Dataset:
    """The CR as a DX image for presentation, pixels unchanged (PS3.3 A.26: the DX Series, DX
    Anatomy Imaged, DX Image and DX Detector modules' Type 1 and 2 attributes)."""
    ds = copy.deepcopy(cr)
    ds.SOPClassUID = pydicom.uid.DigitalXRayImageStorageForPresentation
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.Modality, ds.PresentationIntentType = "DX", "FOR PRESENTATION"
    ds.ImageType, ds.ImageLaterality = ["ORIGINAL", "PRIMARY"], "B"
    ds.PixelIntensityRelationship, ds.PixelIntensityRelationshipSign = "LIN", 1
    ds.RescaleType, ds.PresentationLUTShape, ds.LossyImageCompression = "US", "IDENTITY", "00"
    ds.DetectorType, ds.PositionerType = "SCINTILLATOR", ""
    pelvis = Dataset()
    pelvis.CodeValue, pelvis.CodingSchemeDesignator = "12921003", "SCT"
    pelvis.CodeMeaning = "Pelvis"
    ds.AnatomicRegionSequence, ds.AcquisitionContextSequence = [pelvis], []
    return ds


def variants(ds: Dataset, skip=()):
    """(name, dataset): every Type 2/2C attribute (but ``skip``) removed where present, and
    emptied."""
    for keyword in type2_attributes(ds):
        if keyword in skip:
            continue
        if keyword in ds:
            removed = copy.deepcopy(ds)
            del removed[keyword]
            yield f"{keyword}-removed", removed
        empty = copy.deepcopy(ds)
        emptied(empty, keyword)
        yield f"{keyword}-emptied", empty


def _good(demo_data) -> pd.Series:
    """The sheet's row of the first demo radiograph with both hips."""
    sheet = pd.read_csv(demo_data, sep="\t", dtype=str, keep_default_na=False)
    return sheet[sheet["hips"] == "both"].iloc[0]


@pytest.fixture(scope="module")
def truth(demo_data) -> np.ndarray:
    """Its ground-truth label map (PatientOrientation L\\F: stored as the intake sees it)."""
    return np.array(Image.open(demo_data.parent / _good(demo_data)["labels"]))


@pytest.fixture(scope="module")
def bases(demo_data) -> dict[str, pydicom.FileDataset]:
    """That radiograph as exported (CR), as a DX, and the thinnest of each: every Type 2/2C
    attribute removed, or every one emptied, at once."""
    cr = pydicom.dcmread(demo_data.parent / _good(demo_data)["dicom"])
    out = {"cr": cr, "dx": as_dx(cr)}
    for name in ("cr", "dx"):
        out[f"{name}-all-removed"] = copy.deepcopy(out[name])
        out[f"{name}-all-emptied"] = copy.deepcopy(out[name])
        for keyword in type2_attributes(out[name]):
            if keyword in out[f"{name}-all-removed"]:
                del out[f"{name}-all-removed"][keyword]
            emptied(out[f"{name}-all-emptied"], keyword)
    return out


@pytest.fixture(scope="module")
def segmented(bases, demo_data, tiny_model, tmp_path_factory):
    """One ``hipseg segment`` run (one model load): every base and the demo's test
    radiographs; the Secondary Capture of each, as ``hipseg listen`` makes it."""
    root = tmp_path_factory.mktemp("thin-run")
    inputs = []
    for name, ds in bases.items():
        ds.save_as(root / f"{name}.dcm", enforce_file_format=True)
        inputs.append(root / f"{name}.dcm")
    tests = sorted(subset_of_test(tiny_model["cases"]))
    inputs += [demo_data.parent / "dicom" / f"{t}.dcm" for t in tests]
    out = root / "out"
    argv = ["segment", *map(str, inputs), "-o", str(out), "--model-dir",
            str(tiny_model["model_dir"]), *FAST]  # fmt: skip
    assert cli.main(argv) == 0
    run = json.loads((out / "run.json").read_text())
    for path, entry in zip(inputs, run["radiographs"], strict=True):
        write_sc(path, out / entry["name"])
    return {"out": out, "run": run, "inputs": inputs, "tests": tests}


def write_sc(path, folder, it=None) -> None:
    """The Secondary Capture of a result, as ``hipseg listen`` makes it (``it``: the intake)."""
    it = it or intake_mod.read(path, RULE, None)
    overlay = Image.open(folder / "overlay.png")
    build_sc(it.header, overlay, "fold_all", it.spacing_xy, it.patient_right_on).save_as(
        folder / "sc.dcm"
    )


class Replay:
    """A model that answers with a given label map (the tiny model's, or the truth) for the
    same pixels."""

    name, folds = "fold_all", ("all",)

    def __init__(self, pixels: np.ndarray, labels: np.ndarray):
        joints = split_joints(pixels, labels, RULE).values()
        self.answers = {_key(img): lab for img, lab in joints}

    def predict(self, image: np.ndarray, spacing_xy) -> np.ndarray:
        return self.answers[_key(image)].copy()


def _key(image: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(image).tobytes()).hexdigest()


def _rows(folder) -> list[list[str]]:
    """A result's measurements.csv without the radiograph's name."""
    table = pd.read_csv(folder / "measurements.csv", dtype=str, keep_default_na=False)
    return table.drop(columns="radiograph").values.tolist()


def _nums(ds: Dataset) -> int:
    """NUM content items in an SR tree."""
    n = 0
    for item in ds.get("ContentSequence", []):
        n += (item.ValueType == "NUM") + _nums(item)
    return n


def _result(name: str, ds: Dataset, replay: Replay, folder) -> dict:
    """``hipseg segment``'s path for one radiograph (and the node's Secondary Capture) on one
    header; what must not depend on the header, and the four objects."""
    path = folder / f"{name}.dcm"
    ds.save_as(path, enforce_file_format=True)
    keep: dict = {}
    entry = _one(
        Source(name, path, {}),
        replay,
        OPTIONS,
        RULE,
        folder,
        False,
        keep=keep,
        gate=GateOptions(**NO_CONTENT_CHECK),
    )
    write_sc(path, folder / name, keep["intake"])
    res = folder / name
    sr = pydicom.dcmread(res / "sr.dcm")
    return {
        "status": entry["status"],
        "labels": read_image_2d(res / "labels.nii.gz")[0].tobytes(),
        "measurements": _rows(res),
        "SEG frames": pydicom.dcmread(res / "seg.dcm").PixelData,
        "SR measurements": _nums(sr),
        "SR patient": str(sr.PatientID) == str(ds.get("PatientID") or ""),
        "objects": [res / f"{k}.dcm" for k in ("seg", "sr", "pr", "sc")],
    }


@pytest.mark.parametrize("iod", ["cr", "dx"])
def test_every_type2_attribute_removed_or_emptied(iod, bases, truth, segmented, tmp_path):
    """One at a time: labels, measurements, SEG, SR, presentation state and Secondary Capture
    as for the full header, and every object passes dciodvfy. The label map is the tiny
    model's prediction for this radiograph; on the thinnest headers also the ground truth
    (every measurement has a value, every graphic is drawn). A model replays it."""
    net = read_image_2d(segmented["out"] / iod / "labels.nii.gz")[0]  # L\F: the intake's frame
    pixels = intake_mod.read(segmented["out"].parent / f"{iod}.dcm", RULE, None).radiograph.pixels
    replays = {"net": Replay(pixels, net), "truth": Replay(pixels, truth)}
    want = {k: _result(f"full-{k}", bases[iod], r, tmp_path) for k, r in replays.items()}
    assert want["truth"]["SR measurements"] >= 10 and want["net"]["labels"] == net.tobytes()
    # the attributes the two IODs share (Patient, General Study, General Series, General
    # Equipment, General Image) on the CR, the DX's own on the DX; the thinnest on both
    shared = type2_attributes(bases["cr"]) if iod == "dx" else ()
    runs = [(name, ds, "net") for name, ds in variants(bases[iod], shared)]
    runs += [(f"all-{how}", bases[f"{iod}-all-{how}"], "truth") for how in ("removed", "emptied")]
    problems, objects = [], []
    for name, ds, labels in runs:
        try:
            got = _result(name, ds, replays[labels], tmp_path)
        except Exception as exc:
            problems.append(f"{name}: {type(exc).__name__}: {exc}")
            continue
        objects += got.pop("objects")
        problems += [f"{name}: {what} differ" for what, value in got.items()
                     if value != want[labels][what]]  # fmt: skip
    covered = {n.rsplit("-", 1)[0] for n, _, _ in runs}
    assert covered >= (NAMED if iod == "cr" else {"DetectorType", "AnatomicRegionSequence"})
    assert not problems, "\n".join(problems)
    if dciodvfy.binary() is None:
        dciodvfy.require()  # skipped with the reason (fails with CI=true)
    failed = [f"{v.path.parent.name}/{v.path.name}: {e}" for v in dciodvfy.verify(objects)
              for e in v.errors]  # fmt: skip
    assert not failed, "\n".join(failed)


def test_thinnest_headers_end_to_end(bases, segmented):
    """``hipseg segment`` on the thinnest headers: the full result, read back."""
    out, run = segmented["out"], segmented["run"]
    assert run["n_ok"] == len(segmented["inputs"]) and not run["errors"]
    entries = {e["name"]: e for e in run["radiographs"]}
    for iod in ("cr", "dx"):
        labels = read_image_2d(out / iod / "labels.nii.gz")[0]
        source_uid = str(bases[iod].SOPInstanceUID)
        want = read_sr(out / iod / "sr.dcm")["measurements"]
        assert not entries[iod]["header"]  # a full header: nothing derived
        for how in ("removed", "emptied"):
            name = f"{iod}-all-{how}"
            assert _rows(out / name) == _rows(out / iod), name
            back, segments = read_seg(out / name / "seg.dcm", source_uid)
            assert np.array_equal(back, labels) and len(segments) == 5
            seg = pydicom.dcmread(out / name / "seg.dcm", stop_before_pixels=True)
            assert list(seg.PatientOrientation) == ["L", "F"]
            assert "L\\F derived" in seg.ImageComments and seg.PatientName == ""
            notes = " ".join(entries[name]["header"])
            assert f"PatientOrientation {'absent' if how == 'removed' else 'empty'}" in notes
            assert ("PatientName" in notes) is (how == "removed")
            sr = read_sr(out / name / "sr.dcm")
            assert sr["measurements"] == want and sr["source_uids"] == [source_uid]
            pr = pydicom.dcmread(out / name / "pr.dcm")
            assert {g.GraphicLayer for g in pr.GraphicLayerSequence} >= {"L1", "MEASUREMENTS"}
            sc = pydicom.dcmread(out / name / "sc.dcm", stop_before_pixels=True)
            assert sc.StudyInstanceUID == bases[iod].StudyInstanceUID


def test_results_pass_dciodvfy(segmented):
    """SEG, SR, presentation state and Secondary Capture of the demo's test radiographs (and of
    the thinnest headers): no dciodvfy error, what a strict PACS checks."""
    out = segmented["out"]
    names = [*segmented["tests"], "cr-all-removed", "dx-all-emptied"]
    assert len(segmented["tests"]) >= 2
    paths = [out / n / f"{k}.dcm" for n in names for k in ("seg", "sr", "pr", "sc")]
    verdicts = dciodvfy.verify(paths)
    failed = [f"{v.path.parent.name}/{v.path.name}: {e}" for v in verdicts for e in v.errors]
    assert not failed, "\n".join(failed)


def test_reference_derives_and_empties_what_the_standard_allows(demo_data):
    """hipseg.dicomref on its own: nothing copied for a full header; the orientation the intake
    assumed; the body part's laterality as DICOM asks for it."""
    from hipseg.dicomref import reference, series_body_part

    ds = pydicom.dcmread(demo_data.parent / _good(demo_data)["dicom"], stop_before_pixels=True)
    assert reference(ds).dataset is ds and not reference(ds).notes
    thin = copy.deepcopy(ds)
    del thin.PatientName, thin.StudyDate, thin.PatientOrientation
    emptied(thin, "PatientBreedDescription")
    ref = reference(thin, "image_right")
    assert ref.dataset.PatientName == "" and ref.dataset.StudyDate == ""
    assert list(ref.dataset.PatientOrientation) == ["R", "F"]
    assert "PatientBreedDescription" not in ref.dataset and "PatientOrientation" not in thin
    assert len(ref.notes) == 3 and "R\\F derived" in ref.notes[2]
    for part, laterality, want in (
        ("PELVIS", None, {"BodyPartExamined": "PELVIS"}),
        ("HIP", None, {"BodyPartExamined": "HIP", "Laterality": ""}),
        (None, None, {"Laterality": ""}),
        ("HIP", "L", {"BodyPartExamined": "HIP", "Laterality": "L"}),
    ):
        src = Dataset()
        if part:
            src.BodyPartExamined = part
        if laterality:
            src.Laterality = laterality
        assert series_body_part(src) == want, (part, laterality)
    assert series_body_part(Dataset(), unknown_laterality=False) == {}


def test_odd_headers_beyond_type2(demo_data, truth, tmp_path):
    """An older CR with PixelSpacing only (no ImagerPixelSpacing: the SR's Image Library entry
    leaves the detector descriptors out) and an empty window (no VOI in the presentation
    state): SR, presentation state and SEG still made, and no dciodvfy error."""
    from hipseg.clinical.pr import build_gsps
    from hipseg.clinical.quality import assess
    from hipseg.clinical.sr import build_sr
    from hipseg.dicomseg import write_seg
    from hipseg.measure.record import measure_label_map

    ds = pydicom.dcmread(demo_data.parent / _good(demo_data)["dicom"], stop_before_pixels=True)
    del ds.ImagerPixelSpacing, ds.PatientOrientation
    emptied(ds, "WindowCenter")
    sp = tuple(float(v) for v in ds.PixelSpacing)[::-1]
    calibration = {"source": "pixel_spacing_unknown_calibration", "calibrated": False}
    record = measure_label_map(truth, sp, calibration=calibration)
    record["frame"] = {"changed": False}
    quality = assess(truth, record, sp)
    build_sr(ds, record, quality, truth.shape, "fold_all").save_as(tmp_path / "sr.dcm")
    build_gsps(ds, record, quality, truth, "fold_all").save_as(tmp_path / "pr.dcm")
    write_seg(ds, truth, sp, "fold_all", tmp_path / "seg.dcm")
    sr, pr = read_sr(tmp_path / "sr.dcm"), pydicom.dcmread(tmp_path / "pr.dcm")
    assert len(sr["measurements"]) >= 10 and "SoftcopyVOILUTSequence" not in pr
    library = str(pydicom.dcmread(tmp_path / "sr.dcm"))
    assert "Horizontal Pixel Spacing" not in library and "Pixel Data Rows" in library
    assert np.array_equal(read_seg(tmp_path / "seg.dcm", str(ds.SOPInstanceUID))[0], truth)
    paths = [tmp_path / f"{k}.dcm" for k in ("seg", "sr", "pr")]
    failed = [f"{v.path.name}: {e}" for v in dciodvfy.verify(paths) for e in v.errors]
    assert not failed, "\n".join(failed)
