"""Write the bad-input corpus of tests/test_intake.py into this folder (or --out DIR).

Every file here is made by this script from two tiny good radiographs; nothing is edited by
hand. tests/test_intake.py regenerates the corpus and checks that it equals the committed files,
then runs every case through the workflow's stages. ``cases.tsv`` lists the cases: the sample
sheet of each and what is wrong with it.

    python tests/data/intake/make_corpus.py            # rewrite the committed corpus
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import ExplicitVRLittleEndian, JPEGLosslessSV1

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "workflow"))
from hipseg.labels import BACKGROUND, MAX_LABEL, VALUES  # noqa: E402

HERE = Path(__file__).resolve().parent
ROWS, COLS = 48, 64
CR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.1"
HEADER = "id\tpatient\tdicom\tlabels\thips\tsplit\tnote\n"


def pixels() -> np.ndarray:
    """A 12-bit test image: a gradient with two bright discs (the 'hips')."""
    y, x = np.mgrid[0:ROWS, 0:COLS]
    img = 600 + 20 * x + 10 * y
    for cx in (16, 48):
        img = np.where((x - cx) ** 2 + (y - 24) ** 2 < 64, 3500, img)
    return img.astype(np.uint16)


def labels(rows: int = ROWS) -> np.ndarray:
    """A label map with every label of hipseg.labels (bands, discs and a bar)."""
    y, x = np.mgrid[0:rows, 0:COLS]
    lab = np.full((rows, COLS), BACKGROUND, np.uint8)
    first, *others = VALUES
    lab[(x - 16) ** 2 + (y - 24) ** 2 < 64] = first
    lab[(x - 48) ** 2 + (y - 24) ** 2 < 64] = first
    for i, value in enumerate(others):
        lab[(y >= 40 + 2 * i) & (y < 42 + 2 * i)] = value
    return lab


def radiograph(n: int) -> Dataset:
    """A good CR radiograph; ``n`` makes its identity and UIDs."""
    fm = FileMetaDataset()
    fm.MediaStorageSOPClassUID = CR_IMAGE_STORAGE
    fm.MediaStorageSOPInstanceUID = f"1.2.826.0.1.3680043.10.1234.{n}.3"
    fm.TransferSyntaxUID = ExplicitVRLittleEndian
    fm.ImplementationClassUID = "1.2.826.0.1.3680043.10.1234.1"
    ds = Dataset()
    ds.file_meta = fm
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = CR_IMAGE_STORAGE
    ds.SOPInstanceUID = fm.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = f"1.2.826.0.1.3680043.10.1234.{n}.1"
    ds.SeriesInstanceUID = f"1.2.826.0.1.3680043.10.1234.{n}.2"
    ds.StudyDate = "20110304"
    ds.Modality = "CR"
    ds.PatientName = f"Corpus^Patient{n}"
    ds.PatientID = f"PID{n:04d}"
    ds.PatientBirthDate = "19500101"
    ds.PatientSex = "F"
    ds.BodyPartExamined = "PELVIS"
    ds.ViewPosition = "AP"
    ds.PatientOrientation = ["L", "F"]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = ROWS, COLS
    ds.PixelSpacing = ["0.5", "0.5"]
    ds.ImagerPixelSpacing = ["0.5", "0.5"]
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
    ds.PixelRepresentation = 0
    ds.RescaleIntercept, ds.RescaleSlope = "0", "1"
    ds.PixelData = pixels().tobytes()
    return ds


def dicom_bytes(ds: Dataset) -> bytes:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def png_bytes(lab: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(lab, mode="L").save(buf, format="PNG", compress_level=0)
    return buf.getvalue()


def nifti_bytes(arr: np.ndarray, out: Path) -> bytes:
    tmp = out / ".float_labels.nii"
    sitk.WriteImage(sitk.GetImageFromArray(arr), str(tmp), useCompression=False)
    data = tmp.read_bytes()
    tmp.unlink()
    return data


def variant(**changes) -> Dataset:
    ds = radiograph(1)
    for keyword, value in changes.items():
        if value is None:
            delattr(ds, keyword)
        else:
            setattr(ds, keyword, value)
    return ds


def jpeg_cut_short() -> bytes:
    import imagecodecs

    ds = radiograph(1)
    stream = imagecodecs.jpeg8_encode(pixels(), lossless=True, predictor=1, bitspersample=12)
    cut = stream[: len(stream) * 6 // 10 // 2 * 2]
    ds.PixelData = encapsulate([cut])
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = JPEGLosslessSV1
    return dicom_bytes(ds)


def colour() -> bytes:
    ds = radiograph(1)
    rgb = np.stack([pixels() // 16] * 3, axis=-1).astype(np.uint8)
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
    ds.PixelData = rgb.tobytes()
    return dicom_bytes(ds)


def multi_frame() -> bytes:
    ds = radiograph(1)
    ds.NumberOfFrames = 2
    ds.PixelData = np.stack([pixels(), pixels()]).tobytes()
    return dicom_bytes(ds)


def row(case_id: str, dicom: str, labels_file: str = "good.png", patient: str = "CORPUS-1",
        split: str = "", note: str = "") -> str:  # fmt: skip
    return f"{case_id}\t{patient}\t{dicom}\t{labels_file}\tboth\t{split}\t{note}\n"


# case → (what is wrong, the files it needs beyond the good ones, its sheet)
def cases(out: Path) -> dict[str, tuple[str, dict[str, bytes], str]]:
    good = dicom_bytes(radiograph(1))
    no_pixels = radiograph(1)
    del no_pixels.PixelData
    same_uid = radiograph(2)
    same_uid.SOPInstanceUID = same_uid.file_meta.MediaStorageSOPInstanceUID = radiograph(
        1
    ).SOPInstanceUID
    over5 = labels()
    over5[0, 0] = MAX_LABEL + 2
    non_integer = labels().astype(np.float32)
    non_integer[0, 0] = VALUES[0] + 0.5
    one = {
        "not_dicom": ("not a DICOM file", {"not_dicom.dcm": b"id,name\n1,not a radiograph\n"}),
        "empty": ("an empty file", {"empty.dcm": b""}),
        "truncated_header": ("cut inside the header", {"truncated_header.dcm": good[:400]}),
        "truncated_pixels": ("cut inside the pixel data", {"truncated_pixels.dcm": good[:-1000]}),
        "jpeg_cut_short": ("a JPEG lossless stream cut short", {"jpeg_cut.dcm": jpeg_cut_short()}),
        "no_pixel_data": ("no pixel data", {"no_pixels.dcm": dicom_bytes(no_pixels)}),
        "no_spacing": (
            "neither PixelSpacing nor ImagerPixelSpacing",
            {"no_spacing.dcm": dicom_bytes(variant(PixelSpacing=None, ImagerPixelSpacing=None))},
        ),
        "zero_spacing": (
            "PixelSpacing 0\\0.5",
            {"zero_spacing.dcm": dicom_bytes(variant(PixelSpacing=["0", "0.5"]))},
        ),
        "negative_spacing": (
            "ImagerPixelSpacing -0.5\\-0.5",
            {
                "negative_spacing.dcm": dicom_bytes(
                    variant(PixelSpacing=None, ImagerPixelSpacing=["-0.5", "-0.5"])
                )
            },
        ),
        "rows_mismatch": (
            "Rows 40, the pixel data has 48 rows",
            {"rows_mismatch.dcm": dicom_bytes(variant(Rows=40))},
        ),
        "bits_stored_gt_allocated": (
            "BitsStored 17 > BitsAllocated 16",
            {"bits17.dcm": dicom_bytes(variant(BitsStored=17, HighBit=16))},
        ),
        "colour": ("an RGB image", {"colour.dcm": colour()}),
        "multi_frame": ("two frames", {"multi_frame.dcm": multi_frame()}),
        "non_ap_view": ("ViewPosition LL",
                        {"lateral.dcm": dicom_bytes(variant(ViewPosition="LL"))}),
        "one_side": ("ImageLaterality R",
                     {"one_side.dcm": dicom_bytes(variant(ImageLaterality="R"))}),
        "flipped": (
            "PatientOrientation R\\F: the patient's right on the image right",
            {"flipped.dcm": dicom_bytes(variant(PatientOrientation=["R", "F"]))},
        ),
    }  # fmt: skip
    out_cases = {}
    for name, (what, files) in one.items():
        out_cases[name] = (what, files, HEADER + row("c01", next(iter(files))))
    labels_cases = {
        "labels_other_size": ("a label map of 40×64 for a 48×64 image", "small.png",
                              png_bytes(labels(40))),
        "labels_over_5": (f"a label value {MAX_LABEL + 2}", "over5.png", png_bytes(over5)),
        "labels_non_integer": (f"a label value {VALUES[0] + 0.5}", "float_labels.nii",
                               nifti_bytes(non_integer, out)),
    }  # fmt: skip
    for name, (what, fname, data) in labels_cases.items():
        out_cases[name] = (what, {fname: data}, HEADER + row("c01", "good.dcm", fname))
    other = {"other.dcm": dicom_bytes(radiograph(3))}
    out_cases["duplicate_ids"] = (
        "two rows with id c01",
        other,
        HEADER + row("c01", "good.dcm") + row("c01", "other.dcm", patient="CORPUS-3"),
    )
    out_cases["same_sop_uid"] = (
        "two files with one SOPInstanceUID",
        {"same_uid.dcm": dicom_bytes(same_uid)},
        HEADER + row("c01", "good.dcm") + row("c02", "same_uid.dcm", patient="CORPUS-2"),
    )
    out_cases["patient_both_splits"] = (
        "one patient fixed to train and to test",
        other,
        HEADER + row("c01", "good.dcm", split="train") + row("c02", "other.dcm", split="test"),
    )
    messy = "\ufeff" + " id \t patient\tdicom \tlabels\thips\tsplit\tnote\r\n"
    messy += " c01 \t CORPUS-1 \t good.dcm \t good.png \t both \t\t a note \r\n"
    out_cases["sheet_crlf_bom_spaces"] = (
        "a sheet with a byte-order mark, CRLF and spaces around names and values (accepted)",
        {},
        messy,
    )
    return out_cases


def write(out: Path = HERE) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    files = {"good.dcm": dicom_bytes(radiograph(1)), "good.png": png_bytes(labels())}
    table = "case\tsheet\tproblem\n"
    for name, (what, extra, sheet) in cases(out).items():
        files.update(extra)
        files[f"{name}.tsv"] = sheet.encode("utf-8")
        table += f"{name}\t{name}.tsv\t{what}\n"
    files["cases.tsv"] = table.encode("utf-8")
    written = []
    for fname, data in sorted(files.items()):
        (out / fname).write_bytes(data)
        written.append(out / fname)
    return written


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=HERE)
    args = p.parse_args()
    print(f"{len(write(args.out))} files written to {args.out}")
