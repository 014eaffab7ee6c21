"""Burned-in text: redacted by default, flagged or refused as configured; blanked images written
uncompressed, all others with their original pixel bytes; Tesseract reads no name or date from
the de-identified radiographs of a generated set with text of several contrasts and sizes; the
report's montage and gallery show only de-identified, redacted images."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import (
    UID,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    RLELossless,
)
from scipy import ndimage

from hipseg import cli, deid, figures, samplesheet, synth
from hipseg.errors import HipsegError, InputError
from hipseg.intake.transcode import LOSSLESS, transcode
from hipseg.synth.annotations import _burned_in_text, text_style
from tests.textstamp import read_text, require_tesseract, with_text

FLAG = deid.Options(on_burned_in="flag")


def _first(sheet):
    """The first radiograph without burned-in text (the generator burns text into some)."""
    df = samplesheet.read(sheet)
    row = df[~df["note"].str.contains("burned-in text")].iloc[0]
    return row["dicom"], row["patient"]


def _inside(shape, regions):
    inside = np.zeros(shape, bool)
    for x0, y0, x1, y1 in regions:
        inside[y0:y1, x0:x1] = True
    return inside


def test_detectors_find_exactly_the_synthetic_radiographs_with_burned_in_text(demo_data):
    """The generator burns a name/date label into some radiographs (white or grey, any corner)
    and puts lead side markers, single letters, on most: the default detectors find the labels
    and nothing else."""
    rows = list(samplesheet.read(demo_data).itertuples())
    with_label = [r for r in rows if "burned-in text" in r.note]
    assert with_label and len(with_label) < len(rows)
    for row in rows:
        ds = pydicom.dcmread(row.dicom)
        mono1 = ds.PhotometricInterpretation == "MONOCHROME1"
        found = deid.find_text(ds.pixel_array, mono1, deid.Options().text_detectors)
        assert any(found.values()) == ("burned-in text" in row.note), (row.id, found)


def test_burned_in_text_is_redacted_by_default(demo_data, tmp_path):
    src, patient = _first(demo_data)
    stamped = tmp_path / "stamped.dcm"
    mask = with_text(src, stamped)
    out = tmp_path / "redacted.dcm"
    burned = deid.deidentify(stamped, out, deid.DEMO_KEY, patient)["burned_in"]
    assert burned["redacted"] and not burned["flagged"] and burned["text_detected"]
    assert burned["decision"].startswith("redacted")
    assert "uncompressed" in burned["pixel_data"]
    ds = pydicom.dcmread(out)
    before, after = pydicom.dcmread(stamped).pixel_array, ds.pixel_array
    inside = _inside(mask.shape, burned["text_regions"])
    assert inside[mask].all()  # every text pixel is in a blanked region
    assert inside.mean() < 0.1  # and the regions are not much more than the text
    assert np.array_equal(before[~inside], after[~inside])
    # the text is gone: the fill lies within the values around it, no detector finds anything
    ring = ndimage.binary_dilation(inside, iterations=3) & ~inside
    assert before[ring].min() <= after[inside].min() and after[inside].max() <= before[ring].max()
    found = deid.find_text(
        after, ds.PhotometricInterpretation == "MONOCHROME1", ("values", "strokes")
    )
    assert not any(found.values()), found
    assert "113101" in [i.CodeValue for i in ds.DeidentificationMethodCodeSequence]
    assert "Clean Pixel Data (burned-in text redacted)" in ds.DeidentificationMethod
    assert ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian


def test_flag_keeps_the_pixels_and_error_refuses(demo_data, tmp_path):
    src, patient = _first(demo_data)
    stamped = tmp_path / "stamped.dcm"
    with_text(src, stamped)
    rec = deid.deidentify(stamped, tmp_path / "flag.dcm", deid.DEMO_KEY, patient, FLAG)
    assert rec["burned_in"]["flagged"] and not rec["burned_in"]["redacted"]
    assert "likely contain text" in rec["burned_in"]["decision"]
    assert rec["burned_in"]["pixel_data"] == "original bytes"
    assert pydicom.dcmread(tmp_path / "flag.dcm").PixelData == pydicom.dcmread(stamped).PixelData
    out = tmp_path / "refused.dcm"
    with pytest.raises(InputError, match="likely contain text") as err:
        deid.deidentify(stamped, out, deid.DEMO_KEY, patient, deid.Options(on_burned_in="error"))
    assert str(stamped) in str(err.value) and not out.exists()


def test_fixed_regions_are_blanked(demo_data, tmp_path):
    src, patient = _first(demo_data)
    stamped = tmp_path / "stamped.dcm"
    mask = with_text(src, stamped)
    rows, cols = np.nonzero(mask)
    h, w = mask.shape
    region = (
        max(0, cols.min() - 2) / w,
        max(0, rows.min() - 2) / h,
        min(w, cols.max() + 3) / w,
        min(h, rows.max() + 3) / h,
    )
    out = tmp_path / "blanked.dcm"
    options = deid.Options(on_burned_in="flag", blank_regions=(region,))
    rec = deid.deidentify(stamped, out, deid.DEMO_KEY, patient, options)
    burned = rec["burned_in"]
    assert not burned["flagged"] and burned["decision"].startswith("blanked")
    before, after = pydicom.dcmread(stamped).pixel_array, pydicom.dcmread(out).pixel_array
    inside = _inside(mask.shape, burned["blanked_regions"])
    assert inside[mask].all() and np.array_equal(before[~inside], after[~inside])
    assert len(np.unique(after[inside])) == 1


def test_burned_in_annotation_attribute_is_honoured(demo_data, tmp_path):
    src, patient = _first(demo_data)
    ds = pydicom.dcmread(src)
    ds.BurnedInAnnotation = "YES"
    marked = tmp_path / "marked.dcm"
    ds.save_as(marked, enforce_file_format=True)
    rec = deid.deidentify(marked, tmp_path / "o.dcm", deid.DEMO_KEY, patient)
    assert rec["burned_in"]["burned_in_annotation"] == "YES" and rec["burned_in"]["flagged"]
    assert not rec["burned_in"]["text_detected"]
    clean = deid.deidentify(src, tmp_path / "c.dcm", deid.DEMO_KEY, patient)
    assert not clean["burned_in"]["flagged"] and not clean["burned_in"]["redacted"]
    assert pydicom.dcmread(tmp_path / "c.dcm").PixelData == pydicom.dcmread(src).PixelData


@pytest.mark.parametrize("syntax", [RLELossless, ExplicitVRBigEndian], ids=lambda s: s.keyword)
def test_compressed_or_big_endian_input_is_rewritten_only_when_blanked(demo_data, tmp_path, syntax):
    src, patient = _first(demo_data)
    stamped = tmp_path / "stamped.dcm"
    mask = with_text(src, stamped, transfer_syntax=syntax)
    assert pydicom.dcmread(stamped).file_meta.TransferSyntaxUID == syntax
    out = tmp_path / "out.dcm"
    burned = deid.deidentify(stamped, out, deid.DEMO_KEY, patient)["burned_in"]
    assert burned["redacted"] and burned["pixel_data"] == (
        f"blanked, written uncompressed (Explicit VR Little Endian, lossless; was {syntax.name})"
    )
    ds = pydicom.dcmread(out)
    assert ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    inside = _inside(mask.shape, burned["text_regions"])
    assert inside[mask].all()
    before = pydicom.dcmread(stamped).pixel_array
    assert np.array_equal(ds.pixel_array[~inside], before[~inside])
    # without text, the pixel data is copied as it is, in its syntax
    plain = tmp_path / "plain.dcm"
    plain.write_bytes(transcode(pydicom.dcmread(src), syntax))
    rec = deid.deidentify(plain, tmp_path / "plain_out.dcm", deid.DEMO_KEY, patient)
    assert rec["burned_in"]["pixel_data"] == "original bytes"
    written = pydicom.dcmread(tmp_path / "plain_out.dcm")
    assert written.file_meta.TransferSyntaxUID == syntax
    assert written.PixelData == pydicom.dcmread(plain).PixelData


LUT = np.array([0, 1000, 40000, 65535], np.uint16)


def _with_binary_elements(stamped: Path, syntax: str) -> bytes:
    """The stamped radiograph with a VOI LUT (OW: bytes with a byte order, which pydicom does
    not convert) and a real world value mapping (US, FD) in sequences, in ``syntax``."""
    ds = pydicom.dcmread(stamped)
    lut = Dataset()
    lut.LUTDescriptor = [len(LUT), 0, 16]
    order = ">u2" if syntax == ExplicitVRBigEndian else "<u2"
    lut.add_new(0x00283006, "OW", LUT.astype(order).tobytes())  # LUT Data
    lut.LUTExplanation = "TEST LUT"
    ds.VOILUTSequence = Sequence([lut])
    mapping = Dataset()
    mapping.RealWorldValueFirstValueMapped, mapping.RealWorldValueLastValueMapped = 0, 4095
    mapping.RealWorldValueSlope, mapping.RealWorldValueIntercept = 0.125, -3.5
    ds.RealWorldValueMappingSequence = Sequence([mapping])
    return transcode(ds, syntax)


@pytest.mark.parametrize("syntax", LOSSLESS, ids=lambda s: UID(s).keyword)
def test_redacted_output_is_the_same_from_every_lossless_syntax(demo_data, tmp_path, syntax):
    """A radiograph with text, redacted: whatever lossless syntax it came in, the output is the
    one its Explicit VR Little Endian twin gives, byte for byte — for big endian that is every
    element re-encoded little endian (numbers, OW words, sequence items), not only the pixels."""
    src, patient = _first(demo_data)
    stamped = tmp_path / "stamped.dcm"
    with_text(src, stamped)
    outs, records = {}, {}
    for ts in {syntax, ExplicitVRLittleEndian}:
        path = tmp_path / f"{UID(ts).keyword}.dcm"
        path.write_bytes(_with_binary_elements(stamped, ts))
        out = tmp_path / f"{UID(ts).keyword}_out.dcm"
        records[ts] = deid.deidentify(path, out, deid.DEMO_KEY, patient)["burned_in"]
        outs[ts] = out
    source = pydicom.dcmread(tmp_path / f"{UID(syntax).keyword}.dcm")
    assert source.file_meta.TransferSyntaxUID == syntax
    assert np.array_equal(
        np.frombuffer(source.VOILUTSequence[0].LUTData, ">u2" if syntax == ExplicitVRBigEndian
                      else "<u2"), LUT)  # fmt: skip
    got, twin = records[syntax], records[ExplicitVRLittleEndian]
    assert got["redacted"] and got["text_regions"] == twin["text_regions"]
    native = syntax in (ExplicitVRLittleEndian, ImplicitVRLittleEndian)
    assert got["pixel_data"] == (
        f"blanked, written uncompressed ({UID(syntax).name}, lossless)"
        if native
        else "blanked, written uncompressed "
        f"(Explicit VR Little Endian, lossless; was {UID(syntax).name})"
    )
    ds, ref = pydicom.dcmread(outs[syntax]), pydicom.dcmread(outs[ExplicitVRLittleEndian])
    assert np.array_equal(ds.pixel_array, ref.pixel_array)
    assert np.array_equal(np.frombuffer(ds.VOILUTSequence[0].LUTData, "<u2"), LUT)
    mapping = ds.RealWorldValueMappingSequence[0]
    assert (mapping.RealWorldValueLastValueMapped, mapping.RealWorldValueSlope) == (4095, 0.125)
    # GDCM (SimpleITK's reader) reads the same pixels
    gdcm = sitk.GetArrayFromImage(sitk.ReadImage(str(outs[syntax])))
    assert np.array_equal(gdcm.reshape(ds.pixel_array.shape), ds.pixel_array)
    if syntax == ImplicitVRLittleEndian:  # written in its own syntax: the same elements
        assert ds.file_meta.TransferSyntaxUID == ImplicitVRLittleEndian
        assert [(e.tag, e.value) for e in ds.iterall() if e.VR not in ("OW", "OB", "SQ")] == [
            (e.tag, e.value) for e in ref.iterall() if e.VR not in ("OW", "OB", "SQ")
        ]
    else:
        assert outs[syntax].read_bytes() == outs[ExplicitVRLittleEndian].read_bytes()


def test_pydicoms_big_endian_file_redacted_is_its_little_endian_file_redacted(tmp_path):
    """pydicom's MR_small in Explicit VR Big Endian and in Explicit VR Little Endian, with a
    region blanked: the two outputs are the same file."""
    options = deid.Options(on_burned_in="flag", blank_regions=((0, 0, 0.5, 0.25),))
    written = []
    for name in ("MR_small_bigendian.dcm", "MR_small.dcm"):
        src = get_testdata_file(name, download=False)
        out = tmp_path / name
        rec = deid.deidentify(src, out, deid.DEMO_KEY, "patient", options)
        assert rec["burned_in"]["pixel_data"].startswith("blanked, written uncompressed")
        written.append(out.read_bytes())
    assert rec["burned_in"]["pixel_data"].endswith("(Explicit VR Little Endian, lossless)")
    assert written[0] == written[1]
    ds = pydicom.dcmread(tmp_path / "MR_small_bigendian.dcm")
    gdcm = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "MR_small_bigendian.dcm")))
    assert np.array_equal(gdcm.reshape(ds.pixel_array.shape), ds.pixel_array)


def test_anonymise_and_deid_commands_redact_a_big_endian_file(demo_data, tmp_path, snakemake_env):
    """``hipseg anonymise`` and the deid stage's ``hipseg deid`` on an Explicit VR Big Endian
    radiograph with burned-in text: exit 0, a readable output, the text blanked, every other
    pixel the original's."""
    src, _ = _first(demo_data)
    stamped = tmp_path / "stamped.dcm"
    mask = with_text(src, stamped, transfer_syntax=ExplicitVRBigEndian)
    before = pydicom.dcmread(stamped).pixel_array
    env = dict(snakemake_env, HIPSEG_DEID_KEY="a-secret-key-of-sufficient-length")
    env.pop(deid.KEY_FILE_ENV, None)
    out = tmp_path / "anonymised.dcm"
    proc = subprocess.run([sys.executable, "-m", "hipseg", "anonymise", str(stamped), str(out)],
                          env=env, capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    audit = json.loads(out.with_name(out.name + ".audit.json").read_text())
    # the deid stage, on a sheet whose row names the big-endian file
    df = samplesheet.read(demo_data)
    row = df[df["dicom"] == src].assign(dicom=str(stamped))
    sheet = tmp_path / "samples.tsv"
    row.to_csv(sheet, sep="\t", index=False)
    case, stage = row["id"].iloc[0], tmp_path / "stage.dcm"
    options = json.dumps({"use_demo_key": True})
    argv = ["deid", "--sheet", sheet, "--id", case, "--out", stage, "--audit",
            tmp_path / "stage.audit.json", "--options", options]  # fmt: skip
    assert cli.main([str(a) for a in argv]) == 0
    stage_audit = json.loads((tmp_path / "stage.audit.json").read_text())
    for path, record in ((out, audit), (stage, stage_audit)):
        burned = record["burned_in"]
        assert burned["redacted"] and "was Explicit VR Big Endian" in burned["pixel_data"]
        ds = pydicom.dcmread(path)
        assert ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
        after = ds.pixel_array
        inside = _inside(mask.shape, burned["text_regions"])
        assert inside[mask].all() and inside.mean() < 0.1
        assert np.array_equal(after[~inside], before[~inside])
        assert not np.array_equal(after[mask], before[mask])  # the text is gone
        mono1 = ds.PhotometricInterpretation == "MONOCHROME1"
        assert not any(deid.find_text(after, mono1, ("values", "strokes")).values())


def test_detector_options_are_checked():
    with pytest.raises(HipsegError, match="text_detectors"):
        deid.Options(text_detectors=("values", "crystal-ball"))
    with pytest.raises(HipsegError, match="on_burned_in"):
        deid.Options(on_burned_in="ignore")


# ------------------------------------------------------------------------------------------------
# A generated set with text of several contrasts and sizes, read by Tesseract
# ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def varied(tmp_path_factory):
    """A small generated set (8 radiographs, 6 with text) de-identified by the deid stage, with
    the validated (pseudonymised) sheet the report's figures read."""
    root = tmp_path_factory.mktemp("varied")
    sheet = synth.generate(root / "in", preset="demo", seed=2, n_patients=6)
    out = root / "deid"
    options = deid.Options(use_demo_key=True)
    for row in samplesheet.read(sheet).itertuples():
        deid.deidentify_case(sheet, row.id, out / f"{row.id}.dcm", out / f"{row.id}.audit.json",
                             options)  # fmt: skip
    validated = root / "validated.tsv"
    samplesheet.write_pseudonymised(samplesheet.validate(sheet), validated, use_demo_key=True)
    return sheet, out, validated


def _written(dicom) -> tuple[str, list[str]]:
    """The annotation the generator burned into a radiograph, and its names and date/time."""
    ds = pydicom.dcmread(dicom, stop_before_pixels=True)
    date = pydicom.valuerep.DA(ds.StudyDate)
    text = _burned_in_text(str(ds.PatientName), date, ds.StudyTime)
    surname, given = str(ds.PatientName).upper().split("^")
    return text, [surname, given, f"{date:%d%m%Y}", f"{ds.StudyTime[:2]}:{ds.StudyTime[2:4]}"]


def _read(text: str, tokens: list[str]) -> list[str]:
    digits = re.sub(r"\D", "", text)
    words = set(re.findall(r"[A-Z]+", text))
    return [t for t in tokens if t in words or (t.isdigit() and t in digits) or t in text]


def test_ocr_reads_no_name_or_date_after_deidentification(varied):
    require_tesseract()
    sheet, out, _ = varied
    rows = list(samplesheet.read(sheet).itertuples())
    texts = [r for r in rows if "burned-in text" in r.note]
    styles = {text_style(_written(r.dicom)[0]) for r in texts}
    assert len({s.contrast for s in styles}) >= 3 and None in {s.contrast for s in styles}
    assert len({s.size for s in styles}) >= 2 and len({s.corner for s in styles}) >= 2
    read_before = 0
    for r in rows:
        _, tokens = _written(r.dicom)
        after = _read(read_text(out / f"{r.id}.dcm"), tokens)
        assert after == [], (r.id, after)
        if r in texts:
            read_before += bool(_read(read_text(r.dicom), tokens))
        else:  # no text: the pixel data is the original's, bit for bit
            audit = json.loads((out / f"{r.id}.audit.json").read_text())
            assert audit["burned_in"]["pixel_data"] == "original bytes"
            written = pydicom.dcmread(out / f"{r.id}.dcm")
            assert written.PixelData == pydicom.dcmread(r.dicom).PixelData
    # the attacker can read these annotations before de-identification
    assert read_before >= len(texts) // 2, read_before


# ------------------------------------------------------------------------------------------------
# The report's montage and gallery
# ------------------------------------------------------------------------------------------------
def test_figures_show_deidentified_redacted_images_and_withhold_flagged(
    varied, tmp_path, monkeypatch
):
    sheet, out, validated = varied
    rows = samplesheet.read(validated)
    text_id = next(r.id for r in rows.itertuples() if "burned-in text" in r.note)
    deid_dir = tmp_path / "deid"
    shutil.copytree(out, deid_dir)
    # one radiograph de-identified with on_burned_in: flag: its text is still in the pixels
    options = deid.Options(use_demo_key=True, on_burned_in="flag")
    deid.deidentify_case(sheet, text_id, deid_dir / f"{text_id}.dcm",
                         deid_dir / f"{text_id}.audit.json", options)  # fmt: skip
    read = []
    original = figures.Shown.image
    monkeypatch.setattr(figures.Shown, "image", lambda s: read.append(s.id) or original(s))
    m, g = tmp_path / "montage.png", tmp_path / "gallery.png"
    figures.write(validated, deid_dir, m, g, n=len(rows))
    assert m.stat().st_size > 0 and g.stat().st_size > 0
    assert text_id not in read and set(read) >= set(rows["id"]) - {text_id}
    shown = {s.id: s for s in (figures.load(r.id, deid_dir, r.labels) for r in rows.itertuples())}
    assert "flagged for burned-in text" in shown[text_id].withheld
    for r in rows.itertuples():  # captions carry the audit's pseudonym, which is the sheet's
        assert shown[r.id].pseudonym == r.patient and re.fullmatch(r"P[0-9A-F]{10}", r.patient)
    picks = {title: s for title, s, _ in figures.gallery_pick(list(shown.values()))}
    text_pick = picks["burned-in text (redacted)"]
    assert text_pick.id != text_id and not text_pick.withheld and text_pick.redacted


def test_figures_refuse_a_file_hipseg_did_not_deidentify(varied, tmp_path):
    sheet, out, validated = varied
    deid_dir = tmp_path / "deid"
    shutil.copytree(out, deid_dir)
    row = samplesheet.read(sheet).iloc[0]
    shutil.copy(row["dicom"], deid_dir / f"{row['id']}.dcm")  # a raw file slips in
    with pytest.raises(InputError, match="not de-identified by hipseg") as err:
        figures.write(validated, deid_dir, tmp_path / "m.png", tmp_path / "g.png")
    assert f"{row['id']}.dcm" in str(err.value)
    assert not (tmp_path / "m.png").exists()


def test_figures_command(varied, tmp_path, snakemake_env):
    import subprocess
    import sys

    _, out, validated = varied
    m, g = tmp_path / "m.png", tmp_path / "g.png"
    cmd = [sys.executable, "-m", "hipseg", "figures", "--sheet", str(validated)]
    cmd += ["--deid-dir", str(out), "--montage", str(m), "--gallery", str(g)]
    proc = subprocess.run(cmd, env=snakemake_env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert Path(m).is_file() and Path(g).is_file()
