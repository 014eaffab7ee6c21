"""Real-world DICOM intake: the bad-input corpus through the stages, spacing precedence, grey
values, orientation (hipseg.intake)."""

import contextlib
import importlib.util
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest
from PIL import Image

from hipseg import cli, samplesheet
from hipseg.crop import CropRule, crop_case
from hipseg.errors import InputError
from hipseg.intake import IntakeOptions, pixel_spacing, read_radiograph
from hipseg.labels import MAX_LABEL, VALUE_RANGE

CORPUS = Path(__file__).parent / "data" / "intake"
DEMO_KEY = json.dumps({"use_demo_key": True})
# The corpus's films are 64 × 48 pixels (32 × 24 mm): the header gate's film size is widened for
# them, every other rule of the gate is the default.
CORPUS_GATE = {"field_mm": [10, 700]}

# case → (the stage that refuses it, what its message says besides the file name)
EXPECTED = {
    "not_dicom": ("validate", "not_dicom.dcm: not a DICOM file"),
    "empty": ("validate", "empty.dcm: is empty (0 bytes)"),
    "truncated_header": ("validate", "truncated_header.dcm: is truncated: the file ends inside"),
    "truncated_pixels": ("validate", "truncated_pixels.dcm: is truncated: the file ends inside "
                         "the pixel data (5144 of the 6144 bytes"),
    "jpeg_cut_short": ("validate", "jpeg_cut.dcm: JPEG lossless (Process 14, SV1) stream is cut "
                       "short (no end-of-image marker)"),
    "no_pixel_data": ("validate", "no_pixels.dcm: has no pixel data"),
    "no_spacing": ("deid", "no_spacing.dcm: not assessable: has no pixel spacing (neither "
                   "PixelSpacing nor ImagerPixelSpacing"),
    "zero_spacing": ("validate", "zero_spacing.dcm: PixelSpacing is '0\\0.5': pixel spacing "
                     "must be two positive numbers"),
    "negative_spacing": ("validate", "negative_spacing.dcm: ImagerPixelSpacing is "
                         "'-0.5\\-0.5'"),
    "rows_mismatch": ("validate", "rows_mismatch.dcm: Rows/Columns disagree with the pixel "
                      "data: 40×64 pixels of 16 bits are 5120 bytes, the pixel data has 6144"),
    "bits_stored_gt_allocated": ("validate", "bits17.dcm: BitsStored (17) is greater than "
                                 "BitsAllocated (16)"),
    "colour": ("deid", "colour.dcm: not assessable: a colour image (RGB); set crop.colour: "
               "luminance"),
    "multi_frame": ("crop", "is a multi-frame image (2 frames)"),
    "non_ap_view": ("deid", "lateral.dcm: not assessable: ViewPosition is LL, not one of "
                    "gate.views (absent, AP)"),
    "one_side": ("validate", "one_side.dcm: ImageLaterality is R: the image shows one side"),
    "flipped": ("ok", ""),
    "labels_other_size": ("validate", "small.png: mask size 40×64 (rows×cols) ≠ image "
                          "size 48×64"),
    "labels_over_5": ("validate", f"over5.png: label values outside {VALUE_RANGE}: "
                      f"{MAX_LABEL + 2}"),
    "labels_non_integer": ("validate", "float_labels.nii: mask has non-integer values"),
    "duplicate_ids": ("validate", "duplicate_ids.tsv: duplicate id 'c01' in rows 2, 3"),
    "same_sop_uid": ("validate", "same_sop_uid.tsv: rows c01, c02 are the same image (same "
                     "SOPInstanceUID)"),
    "patient_both_splits": ("validate", "patient_both_splits.tsv: rows c01, c02 are one patient "
                            "with a fixed split in both train and test"),
    "sheet_crlf_bom_spaces": ("ok", ""),
}  # fmt: skip


def _cli(*argv) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        rc = cli.main([str(a) for a in argv])
    return rc, err.getvalue()


def run_stages(
    sheet: Path,
    case_id: str,
    out: Path,
    crop_options: dict | None = None,
    deid_options: str = DEMO_KEY,
    gate_options: dict | None = None,
):
    """validate → deid (with the header gate) → crop of one row through the command line, as the
    rules call them. Returns (the stage that failed or 'ok', its exit status, its stderr)."""
    labels = samplesheet.read(sheet).set_index("id").loc[case_id, "labels"]
    crop_options = crop_options or {}
    gate_crop = {k: v for k, v in crop_options.items() if k in ("colour", "fallback_spacing")}
    stages = [
        ("validate", ["validate-samples", sheet, "--out", out / "validated.tsv", "--demo-key"]),
        ("deid", ["deid", "--sheet", sheet, "--id", case_id, "--out", out / f"{case_id}.dcm",
                  "--audit", out / f"{case_id}.audit.json", "--options", deid_options,
                  "--gate", json.dumps(gate_options or CORPUS_GATE),
                  "--crop", json.dumps(gate_crop)]),
        ("crop", ["crop", "--id", case_id, "--dicom", out / f"{case_id}.dcm", "--audit",
                  out / f"{case_id}.audit.json", "--labels", labels, "--out-dir",
                  out / "joints" / case_id, "--options", json.dumps(crop_options)]),
    ]  # fmt: skip
    for stage, argv in stages:
        rc, err = _cli(*argv)
        if rc != 0:
            return stage, rc, err
    return "ok", 0, ""


def test_corpus_is_what_its_script_writes(tmp_path):
    """Nothing in tests/data/intake is edited by hand: the script writes exactly these files."""
    spec = importlib.util.spec_from_file_location("make_corpus", CORPUS / "make_corpus.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    written = module.write(tmp_path)
    committed = {p.name for p in CORPUS.iterdir() if p.name != "make_corpus.py"}
    assert {p.name for p in written} == committed
    for p in written:
        assert p.read_bytes() == (CORPUS / p.name).read_bytes(), p.name
    cases = pd.read_csv(CORPUS / "cases.tsv", sep="\t")
    assert set(cases["case"]) == set(EXPECTED)


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_corpus_case(case, tmp_path):
    """Each bad input stops at its stage with exit status 2 and a message naming the file and
    the problem; nothing half-written is left."""
    stage, fragment = EXPECTED[case]
    failed, rc, err = run_stages(CORPUS / f"{case}.tsv", "c01", tmp_path)
    assert failed == stage, err
    if stage == "ok":
        return
    assert rc == 2 and fragment in err, err
    if stage == "crop":  # the file the crop stage reads: the de-identified radiograph
        assert f"{tmp_path / 'c01.dcm'}: " in err, err
    assert "Traceback" not in err and err.count("\n") <= 3, err
    if stage == "validate":
        assert not (tmp_path / "validated.tsv").exists()
    leftovers = [p.name for p in tmp_path.rglob("*") if p.name.startswith(".")]
    assert not leftovers and not (tmp_path / "joints" / "c01").exists()


DICOM_CASES = [c for c, (stage, _) in EXPECTED.items() if stage == "validate" and "dcm:" in _]


@pytest.mark.parametrize("case", DICOM_CASES)
def test_crop_refuses_what_validation_refuses(case):
    """The crop stage checks the same structure itself (a file that skipped validation)."""
    dicom = samplesheet.read(CORPUS / f"{case}.tsv")["dicom"].iloc[0]
    with pytest.raises(InputError) as err:
        read_radiograph(dicom)
    assert err.value.path == dicom


def test_options_accept_what_the_defaults_refuse(tmp_path):
    sheet = lambda case: CORPUS / f"{case}.tsv"  # noqa: E731
    assert run_stages(sheet("no_spacing"), "c01", tmp_path / "a",
                      {"fallback_spacing": [0.4, 0.5]})[0] == "ok"  # fmt: skip
    manifest = json.loads((tmp_path / "a" / "joints" / "c01" / "manifest.json").read_text())
    assert manifest["intake"]["spacing_source"] == "fallback"
    assert manifest["joints"][0]["spacing"] == [0.5, 0.4]  # (x, y) = (column, row)
    for case, options in [
        ("colour", {"colour": "luminance"}),
        ("multi_frame", {"multi_frame": "first"}),
    ]:
        assert run_stages(sheet(case), "c01", tmp_path / case, options)[0] == "ok", case
    wider = {**CORPUS_GATE, "views": ["AP", "LL"]}
    assert run_stages(sheet("non_ap_view"), "c01", tmp_path / "ll", gate_options=wider)[0] == "ok"
    failed, rc, err = run_stages(sheet("flipped"), "c01", tmp_path / "e", {"orientation": "error"})
    assert (failed, rc) == ("crop", 2) and "PatientOrientation R\\F disagrees" in err


def test_messy_sheet_reads_as_the_clean_one():
    messy = samplesheet.read(CORPUS / "sheet_crlf_bom_spaces.tsv")
    assert list(messy.columns) == samplesheet.COLUMNS
    assert messy.iloc[0]["level"] == "radiograph"
    assert messy.iloc[0]["image"] == str(CORPUS / "good.dcm")
    row = messy.iloc[0].to_dict()
    assert row["id"] == "c01" and row["patient"] == "CORPUS-1" and row["note"] == "a note"
    assert row["dicom"] == str(CORPUS / "good.dcm") and row["labels"] == str(CORPUS / "good.png")


def test_sheet_in_utf16_is_named(tmp_path):
    sheet = tmp_path / "s.tsv"
    sheet.write_text("id\tpatient\tdicom\tlabels\n", encoding="utf-16")
    with pytest.raises(InputError, match="s.tsv: sample sheet is UTF-16 text"):
        samplesheet.read(sheet)


# ------------------------------------------------------------------------------------------------
# Spacing precedence
# ------------------------------------------------------------------------------------------------
def _ds(**attrs) -> pydicom.Dataset:
    ds = pydicom.Dataset()
    for k, v in attrs.items():
        setattr(ds, k, v)
    return ds


@pytest.mark.parametrize(
    "attrs, source, row_col",
    [
        ({"PixelSpacing": [0.1, 0.1], "PixelSpacingCalibrationType": "GEOMETRY",
          "ImagerPixelSpacing": [0.1, 0.1]}, "pixel_spacing_calibrated", (0.1, 0.1)),
        ({"PixelSpacing": [0.1, 0.12], "ImagerPixelSpacing": [0.12, 0.14]},
         "pixel_spacing_calibrated", (0.1, 0.12)),
        ({"ImagerPixelSpacing": [0.15, 0.15], "EstimatedRadiographicMagnificationFactor": 1.2},
         "imager_spacing_magnification_corrected", (0.125, 0.125)),
        ({"PixelSpacing": [0.15, 0.15], "ImagerPixelSpacing": [0.15, 0.15]},
         "imager_spacing_uncorrected", (0.15, 0.15)),
        ({"ImagerPixelSpacing": [0.2, 0.1]}, "imager_spacing_uncorrected", (0.2, 0.1)),
        ({"PixelSpacing": [0.175, 0.175]}, "pixel_spacing_unknown_calibration", (0.175, 0.175)),
    ],
)  # fmt: skip
def test_spacing_precedence(attrs, source, row_col):
    sp = pixel_spacing(_ds(**attrs), "x.dcm")
    assert sp.source == source and (sp.row, sp.col) == pytest.approx(row_col)
    assert sp.xy == pytest.approx(row_col[::-1])


def test_spacing_inside_functional_groups_fallback_and_errors():
    measures = _ds(PixelSpacing=[0.3, 0.2])
    shared = _ds(PixelMeasuresSequence=[measures])
    sp = pixel_spacing(_ds(SharedFunctionalGroupsSequence=[shared]), "x.dcm")
    assert (sp.row, sp.col) == (0.3, 0.2)
    assert sp.detail.startswith("SharedFunctionalGroupsSequence>PixelMeasuresSequence")
    sp = pixel_spacing(_ds(Modality="CR"), "x.dcm", fallback=(0.5, 0.4))
    assert sp.source == "fallback" and (sp.row, sp.col) == (0.5, 0.4)
    with pytest.raises(InputError, match="x.dcm: has no pixel spacing"):
        pixel_spacing(_ds(Modality="CR"), "x.dcm")
    with pytest.raises(InputError, match="EstimatedRadiographicMagnificationFactor is '0.5'"):
        pixel_spacing(
            _ds(ImagerPixelSpacing=[0.1, 0.1], EstimatedRadiographicMagnificationFactor=0.5),
            "x.dcm",
        )
    with pytest.raises(InputError, match="PixelSpacing is '0.1': pixel spacing must be two"):
        pixel_spacing(_ds(PixelSpacing=[0.1]), "x.dcm")


# ------------------------------------------------------------------------------------------------
# Grey values and orientation, on variants of the corpus' good radiograph
# ------------------------------------------------------------------------------------------------
def _variant(tmp_path: Path, name: str, pixels=None, **attrs) -> Path:
    ds = pydicom.dcmread(CORPUS / "good.dcm")
    if pixels is not None:
        ds.Rows, ds.Columns = pixels.shape
        ds.PixelData = np.ascontiguousarray(pixels, dtype=np.uint16).tobytes()
    for k, v in attrs.items():
        setattr(ds, k, v)
    if "PixelPaddingValue" in ds:
        ds["PixelPaddingValue"].VR = "US"  # 'US or SS' must be decided before writing
    path = tmp_path / f"{name}.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path


def test_polarity_modality_lut_and_padding(tmp_path):
    stored = pydicom.dcmread(CORPUS / "good.dcm").pixel_array.astype(np.float32)
    plain = read_radiograph(CORPUS / "good.dcm").pixels
    assert np.array_equal(plain, stored)
    inverted = stored.max() + stored.min() - stored
    for attrs in (
        {"PresentationLUTShape": "INVERSE"},
        {"PhotometricInterpretation": "MONOCHROME1"},
        {"PhotometricInterpretation": "MONOCHROME1", "PresentationLUTShape": "INVERSE"},
    ):
        rad = read_radiograph(_variant(tmp_path, "v", **attrs))
        assert np.array_equal(rad.pixels, inverted), attrs  # one inversion, never two
    rescaled = read_radiograph(_variant(tmp_path, "r", RescaleSlope="2", RescaleIntercept="-100"))
    assert np.array_equal(rescaled.pixels, 2 * stored - 100)
    padded = stored.astype(np.uint16)
    padded[:, :4] = 0
    rad = read_radiograph(
        _variant(
            tmp_path, "p", padded, PixelPaddingValue=0, PhotometricInterpretation="MONOCHROME1"
        )
    )
    real = padded[:, 4:].astype(np.float32)
    assert rad.details["padding_pixels"] == padded.shape[0] * 4
    assert np.array_equal(rad.pixels[:, 4:], real.max() + real.min() - real)
    assert (rad.pixels[:, :4] == rad.pixels[:, 4:].min()).all()  # padding: the darkest value


def test_voi_lut_only_when_asked(tmp_path):
    path = _variant(tmp_path, "w", WindowCenter="1000", WindowWidth="200")
    assert read_radiograph(path).details["voi_lut"].startswith("not applied")
    windowed = read_radiograph(path, IntakeOptions(voi_lut=True))
    assert windowed.details["voi_lut"] == "window (first)"
    stored = pydicom.dcmread(path).pixel_array
    assert windowed.pixels[stored <= 900].max() == windowed.pixels.min()  # below the window
    assert windowed.pixels[stored >= 1100].min() == windowed.pixels.max()  # above it


def _crop(tmp_path, name, dicom, labels, **rule):
    lab = tmp_path / f"{name}.png"
    Image.fromarray(labels).save(lab)
    out = tmp_path / name
    manifest = crop_case(name, dicom, lab, "both", out, CropRule(**rule), "P0000000000")
    images = {j["side"]: (out / j["image"], out / j["labels"]) for j in manifest["joints"]}
    return manifest, images


@pytest.mark.parametrize(
    "name, turn, orientation",
    [
        ("lr", lambda a: a[:, ::-1], ["R", "F"]),
        ("ud", lambda a: a[::-1, :], ["L", "H"]),
        ("transposed", lambda a: a.T, ["F", "L"]),
        ("rotated", lambda a: a.T[::-1, ::-1], ["H", "R"]),
    ],
)
def test_orientation_is_undone_exactly(tmp_path, name, turn, orientation):
    """A radiograph stored flipped or rotated, with a PatientOrientation that says so, gives
    the same joint images (pixels, labels, spacing) as the one stored the standard way."""
    import SimpleITK as sitk

    good = pydicom.dcmread(CORPUS / "good.dcm").pixel_array
    labels = np.array(Image.open(CORPUS / "good.png"))
    ref_path = _variant(tmp_path, "ref", good, PixelSpacing=["0.4", "0.5"])
    transposed = name in ("transposed", "rotated")
    spacing = ["0.5", "0.4"] if transposed else ["0.4", "0.5"]
    moved = _variant(tmp_path, name, turn(good), PatientOrientation=orientation,
                     PixelSpacing=spacing)  # fmt: skip
    _, ref = _crop(tmp_path, "a", ref_path, labels)
    manifest, got = _crop(tmp_path, "b", moved, np.ascontiguousarray(turn(labels)))
    assert manifest["intake"]["orientation_changed"]
    assert "PatientOrientation " + "\\".join(orientation) in manifest["intake"]["orientation"]
    for side in ("right", "left"):
        for a, b in zip(ref[side], got[side], strict=True):
            ia, ib = sitk.ReadImage(str(a)), sitk.ReadImage(str(b))
            assert np.array_equal(sitk.GetArrayFromImage(ia), sitk.GetArrayFromImage(ib))
            assert ia.GetSpacing() == ib.GetSpacing() == pytest.approx((0.5, 0.4))


def test_unusable_orientation_is_an_error(tmp_path):
    for value in (["A", "F"], ["L"], ["LR", "F"]):
        path = _variant(tmp_path, "o", PatientOrientation=value)
        with pytest.raises(InputError, match="does not say unambiguously"):
            read_radiograph(path)
    absent = read_radiograph(_variant(tmp_path, "n", PatientOrientation=None))
    assert "PatientOrientation absent: assumed" in absent.orientation.note
