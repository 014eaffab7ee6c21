import shutil

import numpy as np
import pytest
from PIL import Image

from hipseg import samplesheet
from hipseg.errors import ValidationError


def _rewrite(sheet, fn):
    lines = sheet.read_text().splitlines()
    lines = fn(lines)
    sheet.write_text("\n".join(lines) + "\n")


def test_demo_sheet_is_valid(demo_data):
    df = samplesheet.validate(demo_data)
    assert list(df.columns[:4]) == ["id", "patient", "dicom", "labels"]
    assert df["id"].is_unique
    assert all(p.startswith("/") for p in df["dicom"])  # resolved against the sheet's folder


def test_every_problem_is_listed_with_its_file(demo_copy):
    sheet = demo_copy
    folder = sheet.parent
    df = samplesheet.read(sheet)
    first, second, third, fourth = df["id"][:4]
    # 1) missing DICOM file
    (folder / "dicom" / f"{first}.dcm").unlink()
    # 2) label map of the wrong size
    lab = folder / "labels" / f"{second}.png"
    Image.fromarray(np.zeros((10, 12), np.uint8)).save(lab)
    # 3) label values outside 0-5
    lab3 = folder / "labels" / f"{third}.png"
    arr = np.array(Image.open(lab3))
    arr[0, 0] = 9
    Image.fromarray(arr).save(lab3)

    def edit(lines):
        header, rows = lines[0], lines[1:]
        cols = header.split("\t")
        i_split, i_patient = cols.index("split"), cols.index("patient")
        # 4) duplicate id
        rows.append(rows[3])
        # 5) the same patient fixed to both train and test
        a, b = rows[0].split("\t"), rows[1].split("\t")
        b[i_patient] = a[i_patient]
        a[i_split], b[i_split] = "train", "test"
        rows[0], rows[1] = "\t".join(a), "\t".join(b)
        return [header, *rows]

    _rewrite(sheet, edit)
    with pytest.raises(ValidationError) as err:
        samplesheet.validate(sheet)
    msg = str(err.value)
    assert f"{first}.dcm: dicom file does not exist" in msg
    assert f"{second}.png: mask size 10×12" in msg
    assert f"{third}.png: label values outside 0–5: 9" in msg
    assert f"duplicate id '{fourth}'" in msg
    assert "fixed split in both train and test" in msg
    assert len(err.value.problems) == 5


def test_bad_values_and_missing_columns(demo_copy, tmp_path):
    def edit(lines):
        cols = lines[0].split("\t")
        row = lines[1].split("\t")
        row[cols.index("hips")] = "middle"
        row[cols.index("id")] = "bad id!"
        return [lines[0], "\t".join(row), *lines[2:]]

    _rewrite(demo_copy, edit)
    with pytest.raises(ValidationError) as err:
        samplesheet.validate(demo_copy, check_pixels=False)
    assert "hips must be one of" in str(err.value)
    assert "id must be letters" in str(err.value)

    bad = tmp_path / "bad.tsv"
    bad.write_text("id\tdicom\nx\ty\n")
    with pytest.raises(Exception, match=r"bad.tsv: missing column\(s\) \['patient', 'labels'\]"):
        samplesheet.read(bad)


def test_not_a_dicom_is_reported(demo_copy):
    df = samplesheet.read(demo_copy)
    shutil.copyfile(df["labels"][0], df["dicom"][0])  # a PNG where the DICOM should be
    with pytest.raises(ValidationError, match="not a DICOM file"):
        samplesheet.validate(demo_copy)
