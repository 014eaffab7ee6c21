"""The artifacts researchers already have, made from a finished hipseg run (tests/test_byod.py).

From a run's outputs (its demo sample sheet, de-identified radiographs, joint crops and nnU-Net
raw dataset) these functions write the same data the way other tools hold it:

* :func:`nnunet_dataset` — an nnU-Net raw dataset in ``.nii.gz`` or ``.png`` (16-bit grey),
  labels renamed in ``dataset.json`` (so the ``source.labels`` mapping is exercised), a
  ``patients.tsv`` (case → the sheet's patient; with ``spacing`` for PNG, which has none);
* :func:`joint_sheet_png` — a joint-level sheet of PNG joint images with PNG masks, each joint
  as an annotator sees it (the right hip not mirrored) and a ``spacing`` column;
* :func:`joint_sheet_dicom` — a joint sheet of DICOM joint crops (the de-identified
  radiograph's header, the crop's pixels) with 3D Slicer ``.seg.nrrd`` masks whose segments
  have an annotator's names and are cropped to their extent, as Slicer saves them.

Every image keeps the exact pixel values and spacing of the run's crops, so the data entering
these ways must give the run's Dice tables to the last digit.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import SimpleITK as sitk
from PIL import Image
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from tests.segnrrd import write_seg_nrrd

# an annotator's names for hipseg's labels (mapped back with source.labels)
NAMES = {1: "Femoral head", 2: "femoral neck and shaft", 3: "Teardrop", 4: "joint space",
         5: "Pelvis"}  # fmt: skip
MAPPING = {name: f"L{value}" for value, name in NAMES.items()}


def _joints(run_root: Path):
    """(joint entry, manifest folder, the sheet row of its radiograph) of every used joint."""
    sheet = pd.read_csv(run_root / "results/demo/samples.tsv", sep="\t", dtype=str,
                        keep_default_na=False).set_index("id")  # fmt: skip
    for m in sorted((run_root / "results/joints").glob("*/manifest.json")):
        man = json.loads(m.read_text())
        for j in man["joints"]:
            if not j["excluded"]:
                yield j, m.parent, sheet.loc[man["radiograph"]]


def _read(path: Path) -> np.ndarray:
    return sitk.GetArrayFromImage(sitk.ReadImage(str(path)))


def _as_annotated(j: dict, img: np.ndarray, lab: np.ndarray):
    """The crop as the joint looks on the radiograph (hipseg mirrors one side)."""
    return (img[:, ::-1], lab[:, ::-1]) if j["mirrored"] else (img, lab)


def _uint16(img: np.ndarray) -> np.ndarray:
    assert np.all(img == np.round(img)) and img.min() >= 0 and img.max() < 2**16
    return img.astype(np.uint16)


def _spacing(j: dict) -> str:
    sx, sy = j["spacing"]
    return f"{sy!r}x{sx!r}"  # row × column, exact


def nnunet_dataset(run_root: Path, out: Path, file_ending: str = ".nii.gz",
                   patients: bool = True) -> Path:  # fmt: skip
    """The run's own raw dataset, rewritten as another tool would hand it over."""
    raw = next((run_root / "results/nnunet/nnUNet_raw").glob("Dataset*"))
    folder = out / "Dataset777_TheirHips"
    rows = []
    for sub in ("Tr", "Ts"):
        (folder / f"images{sub}").mkdir(parents=True)
        (folder / f"labels{sub}").mkdir(parents=True)
    by_case = {j["case"]: (j, r) for j, _, r in _joints(run_root)}
    for sub in ("Tr", "Ts"):
        for img_path in sorted((raw / f"images{sub}").glob("*_0000.nii.gz")):
            case = img_path.name.removesuffix("_0000.nii.gz")
            lab_path = raw / f"labels{sub}" / f"{case}.nii.gz"
            j, r = by_case[case]
            dst_img = folder / f"images{sub}" / f"{case}_0000{file_ending}"
            dst_lab = folder / f"labels{sub}" / f"{case}{file_ending}"
            if file_ending == ".nii.gz":
                shutil.copyfile(img_path, dst_img)
                shutil.copyfile(lab_path, dst_lab)
            else:
                Image.fromarray(_uint16(_read(img_path))).save(dst_img)
                Image.fromarray(_read(lab_path).astype(np.uint8)).save(dst_lab)
            row = {"case": case, "patient": r["patient"]}
            if file_ending != ".nii.gz":
                row["spacing"] = _spacing(j)
            rows.append(row)
    meta = json.loads((raw / "dataset.json").read_text())
    meta["labels"] = {"background": 0, **{NAMES[v]: v for v in NAMES}}
    meta["file_ending"] = file_ending
    meta["name"] = "TheirHips"
    if file_ending == ".png":
        meta["overwrite_image_reader_writer"] = "NaturalImage2DIO"
    (folder / "dataset.json").write_text(json.dumps(meta, indent=2))
    if patients:
        pd.DataFrame(rows).to_csv(folder / "patients.tsv", sep="\t", index=False)
    return folder


def joint_sheet_png(run_root: Path, out: Path) -> Path:
    """A joint sheet of PNG images and PNG masks (16-bit grey images, 8-bit grey masks)."""
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for j, d, r in _joints(run_root):
        img, lab = _as_annotated(j, _read(d / j["image"]), _read(d / j["labels"]))
        Image.fromarray(_uint16(img)).save(out / f"{j['case']}.png")
        Image.fromarray(lab.astype(np.uint8)).save(out / f"{j['case']}_mask.png")
        rows.append({"id": j["case"], "patient": r["patient"], "image": f"{j['case']}.png",
                     "mask": f"{j['case']}_mask.png", "side": j["side"], "split": r["split"],
                     "spacing": _spacing(j), "radiograph": j["radiograph"]})  # fmt: skip
    sheet = out / "joints.tsv"
    pd.DataFrame(rows).to_csv(sheet, sep="\t", index=False)
    return sheet


def _dicom_joint(header: pydicom.Dataset, img: np.ndarray, path: Path) -> None:
    ds = header.copy()
    for kw in ("PixelPaddingValue", "PresentationLUTShape", "RescaleSlope", "RescaleIntercept",
               "WindowCenter", "WindowWidth", "VOILUTSequence", "PatientOrientation",
               "ImageLaterality", "SmallestImagePixelValue", "LargestImagePixelValue"):  # fmt: skip
        if kw in ds:
            delattr(ds, kw)
    arr = _uint16(img)
    ds.Rows, ds.Columns = arr.shape
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.SamplesPerPixel, ds.BitsAllocated, ds.BitsStored, ds.HighBit = 1, 16, 16, 15
    ds.PixelRepresentation = 0
    ds.BurnedInAnnotation = "NO"
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.PixelData = arr.tobytes()
    ds["PixelData"].VR = "OW"
    ds.save_as(path, enforce_file_format=True)


def joint_sheet_dicom(run_root: Path, out: Path) -> Path:
    """A joint sheet of DICOM joint crops with Slicer ``.seg.nrrd`` masks (segments named by an
    annotator, cropped to their extent)."""
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for j, d, r in _joints(run_root):
        img, lab = _as_annotated(j, _read(d / j["image"]), _read(d / j["labels"]))
        header = pydicom.dcmread(run_root / "results/deid" / f"{j['radiograph']}.dcm")
        _dicom_joint(header, img, out / f"{j['case']}.dcm")
        rr, cc = np.nonzero(lab)
        r0, c0 = int(rr.min()), int(cc.min())
        box = lab[r0 : rr.max() + 1, c0 : cc.max() + 1]
        present = {v: NAMES[v] for v in NAMES if (box == v).any()}
        write_seg_nrrd(out / f"{j['case']}.seg.nrrd", box, present, offset=(c0, r0, 0),
                       reference_shape=lab.shape)  # fmt: skip
        rows.append({"id": j["case"], "patient": r["patient"], "image": f"{j['case']}.dcm",
                     "mask": f"{j['case']}.seg.nrrd", "side": j["side"], "split": r["split"],
                     "radiograph": j["radiograph"]})  # fmt: skip
    sheet = out / "joints.tsv"
    pd.DataFrame(rows).to_csv(sheet, sep="\t", index=False)
    return sheet


# what a dcmtk script that de-identifies by hand does: identity attributes erased (absent, not
# emptied), names replaced by ANONYMOUS, the study date by the placeholder 19000101, new UIDs
DCMODIFY_SCRIPT = [
    "-nb", "-gin", "-gst", "-gse",
    *("-ea", "(0010,0010)", "-ea", "(0010,0020)", "-ea", "(0010,0030)", "-ea", "(0010,0040)"),
    *("-ea", "(0008,0050)", "-ea", "(0020,0010)"),
    *("-ma", "(0008,0080)=ANONYMOUS", "-ma", "(0008,0090)=ANONYMOUS"),
    *("-ma", "(0008,0020)=19000101", "-ma", "(0008,0030)=000000"),
]  # fmt: skip


def deidentified_elsewhere(sheet: Path, out: Path) -> Path:
    """The sheet's radiographs as two other de-identifiers leave them, in a new sheet: the odd
    rows through dicom-anonymizer (PyPI: every date 00010101, names and IDs emptied, its own
    UIDs), the even rows through a dcmtk ``dcmodify`` script (:data:`DCMODIFY_SCRIPT`). The
    patient column stays (the researcher's own key); the pixels are untouched."""
    import subprocess

    from dicomanonymizer import anonymize_dicom_file

    table = pd.read_csv(sheet, sep="\t", dtype=str, keep_default_na=False)
    (out / "dicom").mkdir(parents=True)
    for i, r in table.iterrows():
        src = Path(sheet).parent / r["dicom"]
        dst = out / "dicom" / Path(r["dicom"]).name
        if i % 2 == 0:
            anonymize_dicom_file(str(src), str(dst))
        else:
            shutil.copyfile(src, dst)
            subprocess.run(["dcmodify", *DCMODIFY_SCRIPT, str(dst)], check=True,
                           capture_output=True)  # fmt: skip
        table.loc[i, "dicom"] = str(dst)
        table.loc[i, "labels"] = str(Path(sheet).parent / r["labels"])
    path = out / "samples.tsv"
    table.to_csv(path, sep="\t", index=False)
    return path
