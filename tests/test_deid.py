"""De-identification to DICOM PS3.15 Annex E: planted values, pseudonyms across processes,
references, real CR files, bad input, the anonymise command, the summary (burned-in text:
test_redaction.py)."""

import datetime as dt
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.data import get_testdata_file
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from hipseg import deid, samplesheet
from hipseg.errors import HipsegError, InputError
from tests.textstamp import with_text

BASIC_ONLY = deid.Options(
    retain_longitudinal=False, retain_patient_characteristics=(), retain_device_identity=False
)


def _first(sheet):
    """The first radiograph without burned-in text (the generator burns text into some)."""
    df = samplesheet.read(sheet)
    row = df[~df["note"].str.contains("burned-in text")].iloc[0]
    return row["dicom"], row["patient"]


# ------------------------------------------------------------------------------------------------
# Planting a value of the right VR in every attribute of the profile table
# ------------------------------------------------------------------------------------------------
class Planter:
    """Unique, greppable values per VR. Dates lie within 120 days of 1950-01-01, so that a
    shifted date (365–3650 days earlier) can never equal a planted one."""

    def __init__(self):
        self.n = 0
        self.planted = []  # (where, tag, vr, marker bytes or None, value)
        self.covered = set()  # (where, tag) of every planted attribute, sequences included

    def value(self, vr: str):
        self.n += 1
        i = self.n
        j = i % 120
        if vr in ("AE", "CS", "SH", "LO", "ST", "LT", "UT", "UC"):
            return f"PLNT{i:05d}", f"PLNT{i:05d}".encode()
        if vr == "PN":
            return f"PLNT{i:05d}^Given", f"PLNT{i:05d}".encode()
        if vr == "UR":
            return f"http://plnt{i:05d}.example", f"plnt{i:05d}".encode()
        if vr == "DA":
            v = (dt.date(1950, 1, 1) + dt.timedelta(days=j)).strftime("%Y%m%d")
            return v, v.encode()
        if vr == "DT":
            v = (dt.date(1950, 1, 1) + dt.timedelta(days=j)).strftime("%Y%m%d") + f"0{i % 10}3344"
            return v, v.encode()
        if vr == "TM":
            v = f"13{i % 60:02d}00.7{i:05d}"
            return v, v.encode()
        if vr == "DS":
            v = f"9{i:05d}.25"
            return v, v.encode()
        if vr == "IS":
            v = f"87{i:05d}"
            return v, v.encode()
        if vr == "AS":
            v = f"{i % 1000:03d}W"
            return v, None  # too short to grep: checked on the dataset
        if vr == "UI":
            v = f"1.2.826.0.1.3680043.10.999.1{i:05d}"
            return v, v.encode()
        if vr in ("US", "SS", "UL", "SL"):
            return 40000 + i % 20000 if vr in ("US", "UL") else 20000 + i % 10000, None
        if vr in ("FL", "FD"):
            return 12345.5 + i, None
        # OB, OW, UN and unknown: bytes
        v = f"PLNTB{i:05d}".encode()
        v += b"\0" * (len(v) % 2)
        return v, v.rstrip(b"\0")

    def element_vr(self, tag: int) -> str:
        try:
            return dictionary_VR(tag).split(" or ")[0]  # also repeating groups (60xx,3000)
        except KeyError:
            return "UN"  # newer than pydicom's dictionary: any value is valid as UN

    def plant(self, ds: Dataset, tag: int, where: str, depth: int) -> None:
        vr = self.element_vr(tag)
        self.covered.add((where, tag))
        if vr == "SQ":
            item = Dataset()
            inner = tag_for_keyword("InstitutionName")
            v, m = self.value("LO")
            item.add_new(inner, "LO", v)
            self.planted.append((f"{where}>item", inner, "LO", m, v))
            if tag in (tag_for_keyword("ReferencedImageSequence"), 0x00082112):
                item.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.1"
                v, m = self.value("UI")
                item.ReferencedSOPInstanceUID = v
                self.planted.append((f"{where}>item", 0x00081155, "UI", m, v))
            self._plant_private(item, f"{where}>item")
            ds.add_new(tag, "SQ", Sequence([item]))
            return
        v, m = self.value(vr)
        ds.add_new(tag, vr, v)
        self.planted.append((where, tag, vr, m, v))

    def _plant_private(self, ds: Dataset, where: str) -> None:
        block = ds.private_block(0x0011, "PLNT CREATOR", create=True)
        v, m = self.value("LO")
        block.add_new(0x10, "LO", v)
        self.planted.append((where, block.get_tag(0x10), "LO", m, v))
        v, m = self.value("OB")
        block.add_new(0x11, "OB", v)
        self.planted.append((where, block.get_tag(0x11), "OB", m, v))
        ds.add_new(0x00110010, "LO", "PLNT CREATOR")  # the creator (also planted, as a name)
        self.planted.append((where, 0x00110010, "LO", b"PLNT CREATOR", "PLNT CREATOR"))

    def plant_table(self, ds: Dataset, where: str, depth: int) -> None:
        for tag in sorted(deid.TABLE):
            if tag >> 16 == 0x0002:
                continue  # the file meta: planted there
            if tag >> 16 == 0x0000 and depth == 0:
                continue  # a Part 10 file cannot hold command elements at the top level
            self.plant(ds, tag, where, depth)
        # repeating groups: curves (50xx,xxxx), overlay data (60xx,3000) and comments (60xx,4000)
        for tag in (0x50002500, 0x60003000, 0x60004000):
            self.plant(ds, tag, where, depth)
        self._plant_private(ds, where)


def make_planted(src: Path, out: Path) -> tuple[Path, Planter]:
    """A real demo radiograph with a planted value in every attribute of the table, at the top
    level, two levels deep in a sequence the table does not name, in private tags (also a
    private sequence) and in the file meta."""
    ds = pydicom.dcmread(src)
    p = Planter()
    p.plant_table(ds, "top", 0)
    region = Dataset()
    region.CodeValue, region.CodingSchemeDesignator, region.CodeMeaning = "T-1", "99X", "pelvis"
    p.plant_table(region, "nested1", 1)
    modifier = Dataset()
    p.plant_table(modifier, "nested2", 2)
    region.AnatomicRegionModifierSequence = Sequence([modifier])
    ds.AnatomicRegionSequence = Sequence([region])
    private_sq = Dataset()
    p.plant_table(private_sq, "private-seq", 1)
    block = ds.private_block(0x0013, "PLNT SQ CREATOR", create=True)
    block.add_new(0x01, "SQ", Sequence([private_sq]))
    meta = ds.file_meta
    for kw, vr in (
        ("MediaStorageSOPInstanceUID", "UI"),
        ("SourceApplicationEntityTitle", "AE"),
        ("SendingApplicationEntityTitle", "AE"),
        ("PrivateInformationCreatorUID", "UI"),
        ("PrivateInformation", "OB"),
        ("ImplementationVersionName", "SH"),
    ):
        v, m = p.value(vr)
        setattr(meta, kw, v)
        p.planted.append(("file_meta", tag_for_keyword(kw), vr, m, v))
    ds.save_as(out, enforce_file_format=True)
    return out, p


def _survivors(out: Path, planter: Planter, kept_tags=()) -> list:
    """Planted values that survive anywhere in the output: a byte scan of the whole file (pixel
    data, bit-identical to the unplanted input, taken out) and, for values too short to grep,
    a scan of every element of the dataset and file meta."""
    raw = out.read_bytes()
    ds = pydicom.dcmread(out)
    raw = raw.replace(ds.PixelData, b"")
    elements = {}
    for elem in [*ds.iterall(), *ds.file_meta]:
        elements.setdefault(int(elem.tag), []).append(elem.value)
    found = []
    for where, tag, vr, marker, value in planter.planted:
        if tag in kept_tags:
            continue
        if marker is not None:
            if marker in raw:
                found.append((where, f"{tag:08X}", vr))
        elif any(v == value for v in elements.get(tag, [])):
            found.append((where, f"{tag:08X}", vr))
    return found


@pytest.fixture(scope="module")
def planted(demo_data, tmp_path_factory):
    src, patient = _first(demo_data)
    path, planter = make_planted(Path(src), tmp_path_factory.mktemp("planted") / "planted.dcm")
    return path, planter, patient


def test_table_is_the_2026c_edition_from_dicom_anonymizer():
    assert deid.TABLE_EDITION == "2026c"
    assert deid.TABLE_SIZE == len(deid.TABLE) + len(deid.TABLE_MASKED) == 655
    assert deid.TABLE[tag_for_keyword("PatientBirthDate")] == "Z"
    assert deid.TABLE[tag_for_keyword("SOPInstanceUID")] == "U"
    assert deid.TABLE[tag_for_keyword("InstitutionName")] == "X/Z/D"
    assert "dicom-anonymizer 2.1.0" in deid.TABLE_SOURCE


def test_no_planted_value_survives_the_basic_profile(planted, tmp_path):
    path, planter, patient = planted
    # every attribute of the table: two levels deep, and at the top level all but
    # (0002,0003) (planted in the file meta) and the command elements (0000,eeee) (pydicom
    # cannot write them at the top level of a file; they are planted in the nested items)
    command = {t for t in deid.TABLE if t >> 16 == 0}
    table = set(deid.TABLE) | {0x50002500, 0x60003000, 0x60004000}
    assert {t for w, t in planter.covered if w == "nested2"} == table - {0x00020003}
    assert {t for w, t in planter.covered if w == "top"} == table - {0x00020003} - command
    assert ("file_meta", 0x00020003) in {(w, t) for w, t, *_ in planter.planted}
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    out = tmp_path / "out.dcm"
    record = deid.deidentify(path, out, deid.DEMO_KEY, patient, BASIC_ONLY)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before  # original untouched
    assert _survivors(out, planter) == []
    ds = pydicom.dcmread(out)
    assert not any(e.tag.is_private for e in ds.iterall())
    assert ds.PatientIdentityRemoved == "YES"
    assert ds.LongitudinalTemporalInformationModified == "REMOVED"
    assert [i.CodeValue for i in ds.DeidentificationMethodCodeSequence] == ["113100"]
    assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    assert ds.SOPInstanceUID.startswith("2.25.")
    # the nested sequence that the table does not name is kept, its contents cleaned
    assert ds.AnatomicRegionSequence[0].CodeMeaning == "pelvis"
    # the audit holds actions, never a value
    text = json.dumps(record)
    assert not any(m is not None and m.decode() in text for *_, m, _v in planter.planted)
    assert {"path", "tag", "keyword", "rule", "action"} <= set(record["actions"][0])
    assert sitk.ReadImage(str(out)).GetSize()[:2] == (ds.Columns, ds.Rows)


def test_default_options_keep_only_what_they_name(planted, tmp_path):
    path, planter, patient = planted
    out = tmp_path / "out.dcm"
    deid.deidentify(path, out, deid.DEMO_KEY, patient, deid.Options())
    kept = {tag_for_keyword(k) for k in deid.DEFAULT_PATIENT_CHARACTERISTICS}
    survivors = _survivors(out, planter, kept_tags=kept)
    # times are kept by the longitudinal option (dates are shifted by whole days); nothing else
    assert survivors and all(vr == "TM" for _w, _t, vr in survivors), survivors
    ds = pydicom.dcmread(out)
    assert ds.LongitudinalTemporalInformationModified == "MODIFIED"
    assert ds.PatientSex == "PLNT" + ds.PatientSex[4:]  # planted and retained
    assert ds.StudyDate < "1949"  # shifted by at least a year, still a date
    assert "PatientBirthDate" not in ds or not ds.PatientBirthDate
    codes = [i.CodeValue for i in ds.DeidentificationMethodCodeSequence]
    assert codes == ["113100", "113107", "113108"]


def test_device_identity_and_private_allow_list(planted, tmp_path):
    path, planter, patient = planted
    out = tmp_path / "out.dcm"
    options = deid.Options(
        retain_longitudinal=False,
        retain_patient_characteristics=(),
        retain_device_identity=True,
        keep_private=("0011,10,PLNT CREATOR",),
    )
    record = deid.deidentify(path, out, deid.DEMO_KEY, patient, options)
    ds = pydicom.dcmread(out)
    assert ds.DeviceSerialNumber.startswith("PLNT")
    assert ds[0x00110010].value == "PLNT CREATOR" and ds[0x00111010].value.startswith("PLNT")
    assert 0x00111011 not in ds and 0x00130010 not in ds  # not allow-listed
    kept = {0x00110010, 0x00111010, *(tag_for_keyword(k) for k in deid.DEVICE_IDENTITY)}
    assert all(int(t, 16) in kept for _w, t, _vr in _survivors(out, planter, ()))
    assert any(a["action"] == "kept (allow-list)" for a in record["actions"])
    assert "113109" in [i.CodeValue for i in ds.DeidentificationMethodCodeSequence]


def test_options_are_checked():
    with pytest.raises(HipsegError, match="not patient characteristics"):
        deid.Options(retain_patient_characteristics=("PatientName",))
    with pytest.raises(HipsegError, match="GGGG,EE"):
        deid.Options(keep_private=("0010,10,EVEN GROUP",))
    with pytest.raises(HipsegError, match="blank_regions"):
        deid.Options(blank_regions=((0.5, 0.0, 0.2, 1.0),))


# ------------------------------------------------------------------------------------------------
# Pseudonyms, UIDs and dates: identical in separate processes; references consistent
# ------------------------------------------------------------------------------------------------
def _deid_process(env, src, patient, out, audit):
    """`hipseg deid` as the rule runs it: the patient value is read from the sheet."""
    sheet = out.with_suffix(".tsv")
    sheet.write_text(f"id\tpatient\tdicom\tlabels\nx\t{patient}\t{src}\tnone.png\n")
    cmd = [sys.executable, "-m", "hipseg", "deid", "--sheet", str(sheet), "--id", "x"]
    cmd += ["--out", str(out), "--audit", str(audit), "--options", '{"use_demo_key": true}']
    subprocess.run(cmd, check=True, env=env)


def test_identical_in_two_separate_processes(planted, tmp_path, snakemake_env):
    path, _planter, patient = planted
    outs = []
    for i in range(2):
        out, audit = tmp_path / f"p{i}.dcm", tmp_path / f"p{i}.json"
        env = dict(snakemake_env, PYTHONHASHSEED=str(i + 1))  # different processes, hash seeds
        _deid_process(env, path, patient, out, audit)
        outs.append((out.read_bytes(), json.loads(audit.read_text())))
    (a, audit_a), (b, audit_b) = outs
    assert a == b and audit_a == audit_b  # byte-identical: pseudonyms, UIDs, dates
    ds = pydicom.dcmread(tmp_path / "p0.dcm")
    assert ds.PatientID == deid.pseudonym(deid.DEMO_KEY, patient)
    orig = pydicom.dcmread(path)
    assert ds.StudyInstanceUID == deid.pseudo_uid(deid.DEMO_KEY, orig.StudyInstanceUID)
    shift = deid.date_shift_days(deid.DEMO_KEY, patient)
    expected = dt.datetime.strptime(orig.StudyDate, "%Y%m%d") + dt.timedelta(days=shift)
    assert ds.StudyDate == expected.strftime("%Y%m%d")
    # a different key gives different pseudonyms
    assert deid.pseudonym(b"another-key-0123456789", patient) != ds.PatientID


def test_references_stay_consistent(demo_data, tmp_path):
    rows = samplesheet.read(demo_data)
    a_src, b_src = tmp_path / "a.dcm", tmp_path / "b.dcm"
    a = pydicom.dcmread(rows.iloc[0]["dicom"])
    b = pydicom.dcmread(rows.iloc[1]["dicom"])
    a.FrameOfReferenceUID = "1.2.826.0.1.3680043.10.999.777"
    b.StudyInstanceUID, b.FrameOfReferenceUID = a.StudyInstanceUID, a.FrameOfReferenceUID
    ref = Dataset()
    ref.ReferencedSOPClassUID, ref.ReferencedSOPInstanceUID = a.SOPClassUID, a.SOPInstanceUID
    b.ReferencedImageSequence = Sequence([ref])
    src_ref = Dataset()
    src_ref.ReferencedSOPClassUID = a.SOPClassUID
    src_ref.ReferencedSOPInstanceUID = a.SOPInstanceUID
    b.SourceImageSequence = Sequence([src_ref])
    a.save_as(a_src, enforce_file_format=True)
    b.save_as(b_src, enforce_file_format=True)
    patient = rows.iloc[0]["patient"]
    deid.deidentify(a_src, tmp_path / "a_out.dcm", deid.DEMO_KEY, patient)
    deid.deidentify(b_src, tmp_path / "b_out.dcm", deid.DEMO_KEY, patient)
    a2, b2 = pydicom.dcmread(tmp_path / "a_out.dcm"), pydicom.dcmread(tmp_path / "b_out.dcm")
    assert a2.SOPInstanceUID != a.SOPInstanceUID
    assert b2.ReferencedImageSequence[0].ReferencedSOPInstanceUID == a2.SOPInstanceUID
    assert b2.SourceImageSequence[0].ReferencedSOPInstanceUID == a2.SOPInstanceUID
    assert b2.ReferencedImageSequence[0].ReferencedSOPClassUID == a.SOPClassUID  # a class
    assert b2.StudyInstanceUID == a2.StudyInstanceUID != a.StudyInstanceUID
    assert b2.FrameOfReferenceUID == a2.FrameOfReferenceUID != a.FrameOfReferenceUID
    assert b2.SeriesInstanceUID != a2.SeriesInstanceUID
    assert a2.file_meta.MediaStorageSOPInstanceUID == a2.SOPInstanceUID


def test_key_required_for_real_data(monkeypatch, tmp_path):
    monkeypatch.delenv(deid.KEY_ENV, raising=False)
    monkeypatch.delenv(deid.KEY_FILE_ENV, raising=False)
    with pytest.raises(HipsegError, match="HIPSEG_DEID_KEY"):
        deid.load_key(use_demo_key=False)
    keyfile = tmp_path / "key"
    keyfile.write_text("a-secret-key-of-sufficient-length\n")
    monkeypatch.setenv(deid.KEY_FILE_ENV, str(keyfile))
    key, source = deid.load_key(use_demo_key=False)
    assert source == "file" and key == b"a-secret-key-of-sufficient-length"
    monkeypatch.setenv(deid.KEY_ENV, "short")
    with pytest.raises(HipsegError, match="shorter than 16"):
        deid.load_key(use_demo_key=False)


# ------------------------------------------------------------------------------------------------
# Real CR files of pydicom-data (offline)
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["RG1_UNCR.dcm", "RG3_UNCR.dcm", "RG1_UNCI.dcm", "RG3_UNCI.dcm"])
def test_real_cr_files_of_pydicom_data(name, tmp_path):
    src = get_testdata_file(name, download=False)  # from the pydicom-data package, no network
    assert src is not None and "data_store" in src, f"{name} not found in pydicom-data"
    orig = pydicom.dcmread(src)
    out = tmp_path / name
    rec = deid.deidentify(src, out, b"a-test-key-of-sufficient-length", str(orig.PatientID))
    ds = pydicom.dcmread(out)
    assert ds.Modality == "CR" and ds.PixelData == orig.PixelData
    assert np.array_equal(ds.pixel_array, orig.pixel_array)
    img = sitk.ReadImage(str(out))
    assert img.GetSize()[:2] == (ds.Columns, ds.Rows)
    text = out.read_bytes().replace(ds.PixelData, b"")
    for kw in ("PatientName", "PatientID", "StudyInstanceUID", "SOPInstanceUID", "StudyDate"):
        value = str(orig.get(kw, "") or "")
        if len(value) >= 4:
            assert value.encode() not in text, f"{kw} survived"
    for kw in ("InstitutionName", "ReferringPhysicianName", "StationName", "OperatorsName"):
        assert not ds.get(kw)
    assert not any(e.tag.is_private for e in ds.iterall())
    assert not rec["burned_in"]["flagged"]


# ------------------------------------------------------------------------------------------------
# Bad input
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["text", "truncated", "truncated_pixels", "pixelless", "empty"])
def test_bad_input_gives_clear_error_and_no_output(demo_data, tmp_path, kind):
    src, patient = _first(demo_data)
    bad = tmp_path / f"{kind}.dcm"
    data = Path(src).read_bytes()
    if kind == "text":
        bad.write_text("this is not a DICOM file\n")
    elif kind == "truncated":
        bad.write_bytes(data[:1000])
    elif kind == "truncated_pixels":
        bad.write_bytes(data[: len(data) - 5000])
    elif kind == "empty":
        bad.write_bytes(b"")
    else:
        ds = pydicom.dcmread(src)
        del ds.PixelData
        ds.save_as(bad)
    out = tmp_path / "out" / "x.dcm"
    with pytest.raises(InputError) as err:
        deid.deidentify(bad, out, deid.DEMO_KEY, patient)
    assert str(bad) in str(err.value)
    assert not out.exists()
    assert not list(tmp_path.glob("out/*"))


def test_refuses_to_overwrite_original(demo_copy):
    src, patient = _first(demo_copy)
    with pytest.raises(InputError, match="overwrite the original"):
        deid.deidentify(src, src, deid.DEMO_KEY, patient)


# ------------------------------------------------------------------------------------------------
# `hipseg anonymise IN OUT` and the summary for the report
# ------------------------------------------------------------------------------------------------
def test_anonymise_command_directory(demo_data, tmp_path, snakemake_env):
    rows = samplesheet.read(demo_data)
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    for i, row in enumerate(rows.head(3).itertuples()):
        (src / ("sub" if i else "") / f"{row.id}.dcm").write_bytes(Path(row.dicom).read_bytes())
    (src / "notes.txt").write_text("not DICOM")
    env = dict(snakemake_env, HIPSEG_DEID_KEY="a-secret-key-of-sufficient-length")
    env.pop(deid.KEY_FILE_ENV, None)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "hipseg", "anonymise", str(src), str(out)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert proc.returncode == 2
    assert f"{src / 'notes.txt'}: not a DICOM file" in proc.stderr
    assert "3 file(s) de-identified" in proc.stdout
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.dcm"))
    first, second, third = rows.head(3)["id"]
    assert written == sorted([f"{first}.dcm", f"sub/{second}.dcm", f"sub/{third}.dcm"])
    assert not (out / "notes.txt").exists()
    summary = json.loads((out / "deid_summary.json").read_text())
    assert summary["n_images"] == 3 and summary["key_source"] == "env"
    ds = pydicom.dcmread(out / f"{first}.dcm")
    orig = pydicom.dcmread(rows.iloc[0]["dicom"])
    key = b"a-secret-key-of-sufficient-length"
    assert ds.PatientID == deid.pseudonym(key, orig.PatientID)
    # a single file, and no key: a clear error and nothing written
    env.pop(deid.KEY_ENV)
    one = tmp_path / "one.dcm"
    proc = subprocess.run(
        [sys.executable, "-m", "hipseg", "anonymise", str(src / f"{first}.dcm"), str(one)],
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and "HIPSEG_DEID_KEY" in proc.stderr and not one.exists()
    # a single file into an existing directory keeps its name
    key_file = tmp_path / "secret" / "key"
    key_file.parent.mkdir()
    key_file.write_text("another-secret-key-0123456789\n")
    env[deid.KEY_FILE_ENV] = str(key_file)
    into = tmp_path / "into"
    into.mkdir()
    proc = subprocess.run(
        [sys.executable, "-m", "hipseg", "anonymise", str(src / f"{first}.dcm"), str(into)],
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    audit = json.loads((into / f"{first}.dcm.audit.json").read_text())
    assert audit["key_source"] == "file" and audit["profile"]["edition"] == "2026c"
    assert pydicom.dcmread(into / f"{first}.dcm").PatientIdentityRemoved == "YES"


def test_summary_counts_without_values(demo_data, tmp_path):
    audits = []
    df = samplesheet.read(demo_data)
    for row in df[~df["note"].str.contains("burned-in text")].head(3).itertuples():
        rec = deid.deidentify(row.dicom, tmp_path / f"{row.id}.dcm", deid.DEMO_KEY, row.patient)
        rec.update(id=row.id, key_source="demo")
        (tmp_path / f"{row.id}.json").write_text(json.dumps(rec))
        audits.append(tmp_path / f"{row.id}.json")
    stamped = tmp_path / "stamped.dcm"
    src, patient = _first(demo_data)
    with_text(src, stamped)
    for name, mode in (("redacted", "redact"), ("flagged", "flag")):
        options = deid.Options(on_burned_in=mode)
        rec = deid.deidentify(stamped, tmp_path / f"{name}.dcm", deid.DEMO_KEY, patient, options)
        rec.update(id=name, key_source="demo")
        (tmp_path / f"{name}.json").write_text(json.dumps(rec))
        audits.append(tmp_path / f"{name}.json")
    s = deid.summarise(audits, tmp_path / "summary.json")
    assert s["n_images"] == 5 and s["key_source"] == "demo"
    assert s["n_images_flagged_burned_in"] == 1 and s["images_flagged_burned_in"] == ["flagged"]
    assert s["n_images_redacted_burned_in"] == 1
    assert s["images_redacted_burned_in"] == ["redacted"]
    assert s["table_attributes"] == 655 and "2026c" in s["profile"]
    assert s["attributes"]["removed"] > 0 and s["attributes"]["UIDs replaced"] >= 5 * 3
    assert s["private_tags_removed"] >= 5 * 3  # the demo files carry a private block
    assert s["options"]["retain_longitudinal"] is True
    assert json.loads((tmp_path / "summary.json").read_text()) == s
    assert patient not in json.dumps(s)


def test_every_option_attribute_is_in_the_profile_table():
    assert deid.option_attributes_missing_from_table() == []


@pytest.mark.parametrize("retain", [True, False])
def test_dates_other_deidentifiers_left_are_emptied_and_counted(demo_data, tmp_path, retain):
    """Values the shift cannot move (dicom-anonymizer's 00010101, the common 19000101, an
    unparseable or a far-future date, a multi-valued date with one placeholder): emptied, as
    PS3.15 allows, recorded and counted, never a traceback; a real date is still shifted."""
    src, patient = _first(demo_data)
    ds = pydicom.dcmread(src)
    ds.StudyDate, ds.SeriesDate, ds.AcquisitionDate = "00010101", "19000101", "2010-01-01"
    ds.ContentDate, ds.PatientBirthDate = "99991231", "19710623"
    ds.add_new(0x00181200, "DA", ["20100101", "00010101"])  # Date of Last Calibration
    ds.AcquisitionDateTime = "00010101000000"
    odd = tmp_path / "odd.dcm"
    ds.save_as(odd)
    options = deid.Options(retain_longitudinal=retain)
    rec = deid.deidentify(odd, tmp_path / "out.dcm", deid.DEMO_KEY, patient, options)
    done = {a["keyword"]: a["action"] for a in rec["actions"] if a["path"] == ""}
    out = pydicom.dcmread(tmp_path / "out.dcm", stop_before_pixels=True)
    if retain:
        assert done["StudyDate"] == done["SeriesDate"] == "emptied (placeholder date)"
        assert done["AcquisitionDate"] == "emptied (unparseable date)"
        assert done["ContentDate"] == "emptied (date out of range)"
        assert done["DateOfLastCalibration"] == "emptied (placeholder date)"
        assert done["AcquisitionDateTime"] == "emptied (placeholder date)"
        assert done["PatientBirthDate"] != "date shifted" or out.PatientBirthDate < "19710623"
    for kw in ("StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate", "AcquisitionDateTime"):
        assert str(out.get(kw, "") or "") in ("", "19000101", "19000101000000"), kw
    (tmp_path / "a.json").write_text(json.dumps({**rec, "id": "odd", "key_source": "demo"}))
    s = deid.summarise([tmp_path / "a.json"], tmp_path / "summary.json")
    assert s["attributes"].get("dates emptied (placeholder or not a date)", 0) == (
        6 if retain else 0
    )


# ------------------------------------------------------------------------------------------------
# Characteristics of the subgroup analysis: bands, never the exact age or a date
# ------------------------------------------------------------------------------------------------
def test_age_bands_and_ages_from_the_header():
    from hipseg.deid.characteristics import age_band
    from hipseg.intake.patient import age_years

    assert [age_band(a, (50, 65, 80)) for a in (3, 49.99, 50, 64.9, 65, 79, 80, 104)] == [
        "<50", "<50", "50–64", "50–64", "65–79", "65–79", "≥80", "≥80"
    ]  # fmt: skip
    assert age_band(40, (60,)) == "<60" and age_band(60, (60,)) == "≥60"
    ds = Dataset()
    ds.PatientAge = "063Y"
    assert age_years(ds) == 63
    ds.PatientAge = "018M"
    assert age_years(ds) == pytest.approx(1.5)
    ds = Dataset()  # no Patient's Age: birth date to the study's date
    ds.PatientBirthDate, ds.StudyDate = "19500301", "20100228"
    assert age_years(ds) == pytest.approx(59.997, abs=1e-3)
    ds.StudyDate = ""
    ds.AcquisitionDate = "20100301"
    assert age_years(ds) == pytest.approx(60.0, abs=1e-2)
    ds.PatientBirthDate = ""  # no birth date: no age
    assert age_years(ds) is None
    with pytest.raises(HipsegError, match="deid.age_bands"):
        deid.Options(age_bands=(65, 50))


def test_characteristics_only_what_the_profile_keeps(demo_data, tmp_path):
    """The audit records sex, age band and device; the band only where PatientAge is retained,
    the sex only where PatientSex is; the exact age and the dates are nowhere in the record."""
    src, patient = _first(demo_data)
    original = pydicom.dcmread(src)
    original.PatientAge = "097Y"
    original.PatientBirthDate, original.StudyDate = "19130517", "20100611"
    planted = tmp_path / "in.dcm"
    original.save_as(planted, enforce_file_format=True)
    rec = deid.deidentify(planted, tmp_path / "out.dcm", deid.DEMO_KEY, patient)
    assert rec["characteristics"] == {
        "sex": original.PatientSex,
        "age_band": "≥80",
        "device": f"{original.Manufacturer} {original.ManufacturerModelName}",
    }
    text = json.dumps(rec, ensure_ascii=False)
    assert "097" not in text and "19130517" not in text and "20100611" not in text
    del original.PatientAge  # the band from the original dates (shifted/removed in the output)
    original.save_as(planted, enforce_file_format=True)
    options = deid.Options(age_bands=(60, 98))  # 1913-05-17 to 2010-06-11: 97.07 years
    rec = deid.deidentify(planted, tmp_path / "out.dcm", deid.DEMO_KEY, patient, options)
    assert rec["characteristics"]["age_band"] == "60–97"
    options = deid.Options(age_bands=(60, 97))
    rec = deid.deidentify(planted, tmp_path / "out.dcm", deid.DEMO_KEY, patient, options)
    assert rec["characteristics"]["age_band"] == "≥97"
    out = pydicom.dcmread(tmp_path / "out.dcm")
    assert "PatientAge" not in out and str(out.get("PatientBirthDate", "")) == ""
    rec = deid.deidentify(planted, tmp_path / "basic.dcm", deid.DEMO_KEY, patient, BASIC_ONLY)
    assert set(rec["characteristics"]) == {"device"}  # no sex, no age band
