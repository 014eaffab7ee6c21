import hashlib
import json
import subprocess
import sys

import pydicom
import pytest
import SimpleITK as sitk

from hipseg import deid, samplesheet
from hipseg.errors import HipsegError, InputError


def _first(sheet):
    row = samplesheet.read(sheet).iloc[0]
    return row["dicom"], row["patient"]


def _all_text(ds):
    out = []
    for elem in ds.iterall():
        out.append(str(elem.value))
    for elem in ds.file_meta:
        out.append(str(elem.value))
    return "\n".join(out)


def test_identifying_values_do_not_survive(demo_data, tmp_path):
    src, patient = _first(demo_data)
    before = hashlib.sha256(open(src, "rb").read()).hexdigest()
    orig = pydicom.dcmread(src)
    out = tmp_path / "out.dcm"
    record = deid.deidentify(src, out, deid.DEMO_KEY, patient)
    assert hashlib.sha256(open(src, "rb").read()).hexdigest() == before  # original untouched
    ds = pydicom.dcmread(out)
    text = _all_text(ds)
    planted = [
        str(orig.PatientName),
        orig.PatientID,
        orig.PatientBirthDate,
        orig.StudyDate,
        orig.InstitutionName,
        orig.StudyInstanceUID,
        orig.SOPInstanceUID,
        orig.AccessionNumber,
    ]
    for value in planted:
        assert value and value not in text, f"{value!r} survived"
    assert not any(e.tag.is_private for e in ds.iterall())
    assert ds.PatientIdentityRemoved == "YES"
    assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    assert ds.SOPInstanceUID.startswith("2.25.")
    assert ds.PixelData == orig.PixelData  # pixels bit-identical
    assert record["patient"] == ds.PatientID == deid.pseudonym(deid.DEMO_KEY, patient)
    assert all(str(v) not in json.dumps(record) for v in planted)  # audit holds no values
    # still a valid image for SimpleITK
    assert sitk.ReadImage(str(out)).GetSize()[:2] == (ds.Columns, ds.Rows)


def test_pseudonyms_identical_across_processes(demo_data, tmp_path, snakemake_env):
    src, patient = _first(demo_data)
    outs = []
    for i in range(2):
        out = tmp_path / f"p{i}.dcm"
        audit = tmp_path / f"p{i}.json"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "hipseg",
                "deid",
                "--id",
                "x",
                "--dicom",
                src,
                "--patient",
                patient,
                "--out",
                str(out),
                "--audit",
                str(audit),
                "--demo-key",
            ],
            check=True,
            env=snakemake_env,
        )
        outs.append(pydicom.dcmread(out))
    a, b = outs
    for kw in ("PatientID", "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "StudyDate"):
        assert a.data_element(kw).value == b.data_element(kw).value
    # a different key gives different pseudonyms
    assert deid.pseudonym(b"another-key-0123456789", patient) != a.PatientID


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


@pytest.mark.parametrize("kind", ["text", "truncated", "pixelless"])
def test_bad_input_gives_clear_error_and_no_output(demo_data, tmp_path, kind):
    src, patient = _first(demo_data)
    bad = tmp_path / f"{kind}.dcm"
    if kind == "text":
        bad.write_text("this is not a DICOM file\n")
    elif kind == "truncated":
        bad.write_bytes(open(src, "rb").read()[:1000])
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
