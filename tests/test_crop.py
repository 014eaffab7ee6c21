import json

import numpy as np
import pytest
import SimpleITK as sitk

from hipseg import deid, samplesheet
from hipseg.crop import CropRule, crop_case, split_joints
from hipseg.dicomio import read_radiograph
from hipseg.errors import HipsegError


def test_split_and_mirror_semantics():
    img = np.arange(4 * 6, dtype=np.float32).reshape(4, 6)
    lab = np.zeros((4, 6), np.uint8)
    lab[:, 0] = 1  # image-left edge = patient right (standard AP display)
    lab[:, 5] = 2  # image-right edge = patient left
    joints = split_joints(img, lab, CropRule())
    right_img, right_lab = joints["right"]
    left_img, left_lab = joints["left"]
    assert right_img.shape == left_img.shape == (4, 3)
    # right joint mirrored: its lateral edge (column 0 of the image) is now on the right
    assert (right_lab[:, 2] == 1).all() and (right_img[0] == img[0, 2::-1]).all()
    # left joint unchanged: lateral edge stays on the right
    assert (left_lab[:, 2] == 2).all() and (left_img[0] == img[0, 3:]).all()
    # both joints now have the same orientation: lateral side on the image right
    flipped = split_joints(img, lab, CropRule(mirror="none"))
    assert (flipped["right"][1][:, 0] == 1).all()
    rows = split_joints(img, lab, CropRule(rows=(0.25, 0.75)))
    assert rows["left"][0].shape == (2, 3)


def test_crop_rule_validation():
    with pytest.raises(HipsegError, match="crop.split_at"):
        CropRule.from_config({"split_at": 0.95})
    with pytest.raises(HipsegError, match="crop.mirror"):
        CropRule.from_config({"mirror": "up"})
    with pytest.raises(HipsegError, match="crop.rows"):
        CropRule.from_config({"rows": [0.8, 0.2]})
    assert CropRule.from_config('{"rows": [0.1, 0.9]}').rows == (0.1, 0.9)


def test_crop_case_writes_2d_nifti_with_true_spacing(demo_data, tmp_path):
    df = samplesheet.read(demo_data)
    row = df.iloc[0]
    out = tmp_path / "joints"
    manifest = crop_case(
        row["id"],
        row["dicom"],
        row["labels"],
        "left",
        out,
        CropRule(),
        patient=deid.pseudonym(deid.DEMO_KEY, row["patient"]),
    )
    rad = read_radiograph(row["dicom"])
    left, right = (j for j in sorted(manifest["joints"], key=lambda j: j["side"]))
    assert right["excluded"] and not (out / f"{row['id']}_R_img.nii.gz").exists()
    img = sitk.ReadImage(str(out / left["image"]))
    lab = sitk.ReadImage(str(out / left["labels"]))
    assert img.GetDimension() == 2 and lab.GetDimension() == 2
    assert img.GetSpacing() == pytest.approx(rad.spacing_xy)
    assert img.GetSize() == lab.GetSize()
    arr = sitk.GetArrayFromImage(lab)
    assert set(np.unique(arr)) <= {0, 1, 2, 3, 4, 5}
    assert json.loads((out / "manifest.json").read_text()) == manifest


def test_monochrome1_is_displayed_bone_bright(demo_data):
    df = samplesheet.read(demo_data)
    import pydicom
    from PIL import Image

    seen = set()
    for row in df.itertuples():
        ds = pydicom.dcmread(row.dicom, stop_before_pixels=True)
        rad = read_radiograph(row.dicom)
        lab = np.array(Image.open(row.labels))
        seen.add(ds.PhotometricInterpretation)
        # bone (pelvis) brighter than background in the displayed image, whatever polarity
        assert rad.pixels[lab == 5].mean() > rad.pixels[lab == 0].mean()
    assert seen == {"MONOCHROME1", "MONOCHROME2"}
