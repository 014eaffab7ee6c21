"""hipseg.masks: label masks of annotation tools (PNG, TIFF, NIfTI, NRRD, Slicer, DICOM SEG).

Every file is written here, tiny and non-square (40 rows × 30 columns) so that a transposed
reading fails; each test checks where the labelled pixels land, not only their counts.
"""

from __future__ import annotations

import gzip
import re
import struct
import warnings
import zlib

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from hipseg import labels
from hipseg.dicomseg import segment_descriptions, write_seg
from hipseg.errors import InputError
from hipseg.io import write_image_2d
from hipseg.masks import describe, read_mask
from tests.segnrrd import write_seg_nrrd

ROWS, COLS = 40, 30
SHAPE = (ROWS, COLS)


@pytest.fixture
def truth() -> np.ndarray:
    """A label map with every hipseg label, asymmetric in rows and columns."""
    lab = np.zeros(SHAPE, np.uint8)
    lab[2:9, 3:12] = labels.BY_NAME["L1"].value
    lab[12:20, 4:7] = labels.BY_NAME["L2"].value
    lab[30, 25:29] = labels.BY_NAME["L3"].value
    lab[22:26, 15:20] = labels.BY_NAME["L4"].value
    lab[33:39, 1:5] = labels.BY_NAME["L5"].value
    lab[39, 29] = labels.BY_NAME["L3"].value  # the last stored pixel
    return lab


def _error(match: str, *args, **kwargs) -> InputError:
    with pytest.raises(InputError, match=match) as info:
        read_mask(*args, **kwargs)
    assert str(args[0]) in str(info.value)  # every message names the file
    return info.value


# ------------------------------------------------------------------------------------------------
# PNG, TIFF
# ------------------------------------------------------------------------------------------------
def test_palette_png_gives_its_indices(tmp_path, truth):
    img = Image.fromarray(truth, mode="P")
    colours = [0, 0, 0, 230, 25, 25, 25, 190, 50, 240, 215, 25, 40, 90, 240, 150, 50, 190]
    img.putpalette(colours + [0] * (768 - len(colours)))
    img.save(tmp_path / "m.png")
    assert np.array_equal(read_mask(tmp_path / "m.png", shape=SHAPE), truth)
    assert describe(tmp_path / "m.png") == "PNG palette label map"


def test_grey_png_8_and_16_bit(tmp_path, truth):
    Image.fromarray(truth, mode="L").save(tmp_path / "g8.png")
    mask = read_mask(tmp_path / "g8.png", shape=SHAPE)
    assert mask.dtype == np.uint8 and np.array_equal(mask, truth)
    assert describe(tmp_path / "g8.png") == "PNG greyscale label map (8-bit)"
    Image.fromarray(truth.astype(np.uint16) * 1000).save(tmp_path / "g16.png")
    values = {1000 * v: v for v in labels.VALUES}
    assert np.array_equal(read_mask(tmp_path / "g16.png", values=values), truth)
    assert describe(tmp_path / "g16.png") == "PNG greyscale label map (16-bit)"


def _png_low_bit(path, array: np.ndarray, bits: int) -> None:
    """A greyscale PNG of 2 or 4 bits per pixel (Pillow cannot write one)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    raw = b""
    for row in array:
        text = "".join(format(int(v), f"0{bits}b") for v in row)
        text += "0" * (-len(text) % 8)
        raw += b"\0" + int(text, 2).to_bytes(len(text) // 8, "big")
    header = struct.pack(">IIBBBBB", array.shape[1], array.shape[0], bits, 0, 0, 0, 0)
    data = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + data)


def test_low_bit_grey_png_gives_its_samples_not_pillows_scaling(tmp_path, truth):
    _png_low_bit(tmp_path / "g4.png", truth, 4)  # Pillow would read 1 as 17, 5 as 85
    assert np.array_equal(read_mask(tmp_path / "g4.png", shape=SHAPE), truth)
    assert describe(tmp_path / "g4.png") == "PNG greyscale label map (4-bit)"


def test_grey_tiff_and_multipage_tiff(tmp_path, truth):
    Image.fromarray(truth, mode="L").save(tmp_path / "m.tif")
    assert np.array_equal(read_mask(tmp_path / "m.tif", shape=SHAPE), truth)
    Image.fromarray(truth.astype(np.uint16)).save(tmp_path / "m16.tiff", compression="tiff_lzw")
    assert np.array_equal(read_mask(tmp_path / "m16.tiff", shape=SHAPE), truth)
    assert describe(tmp_path / "m16.tiff") == "TIFF greyscale label map (16-bit)"
    pages = [Image.fromarray(truth, mode="L"), Image.fromarray(truth, mode="L")]
    pages[0].save(tmp_path / "pages.tif", save_all=True, append_images=pages[1:])
    _error("multi-page TIFF.*2 frames", tmp_path / "pages.tif")


def test_rgb_with_equal_channels_is_grey_a_colour_image_is_refused(tmp_path, truth):
    Image.fromarray(np.stack([truth] * 3, -1), mode="RGB").save(tmp_path / "rgb.png")
    assert np.array_equal(read_mask(tmp_path / "rgb.png", shape=SHAPE), truth)
    rgba = np.dstack([truth, truth, truth, np.full(SHAPE, 255, np.uint8)])
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "rgba.png")
    assert np.array_equal(read_mask(tmp_path / "rgba.png", shape=SHAPE), truth)
    colour = np.stack([truth * 40, truth * 0, truth * 0], -1).astype(np.uint8)
    Image.fromarray(colour, mode="RGB").save(tmp_path / "colour.png")
    _error("colour image: save the mask as a palette or greyscale image", tmp_path / "colour.png")


def test_jpeg_is_refused(tmp_path, truth):
    Image.fromarray(truth, mode="L").save(tmp_path / "m.jpg")
    _error("JPEG.*lossy", tmp_path / "m.jpg")


# ------------------------------------------------------------------------------------------------
# NIfTI, NRRD
# ------------------------------------------------------------------------------------------------
def test_nifti_as_hipseg_writes_its_label_maps(tmp_path, truth):
    write_image_2d(tmp_path / "m.nii.gz", truth, (0.2, 0.2))
    assert np.array_equal(read_mask(tmp_path / "m.nii.gz", shape=SHAPE), truth)
    assert describe(tmp_path / "m.nii.gz") == "NIfTI label map"
    write_image_2d(tmp_path / "f.nii", truth.astype(np.float32), (0.2, 0.2))  # integral floats
    assert np.array_equal(read_mask(tmp_path / "f.nii", shape=SHAPE), truth)
    img = sitk.GetImageFromArray(np.stack([truth, truth]))  # 2 slices
    sitk.WriteImage(img, str(tmp_path / "3d.nii.gz"))
    _error("3D", tmp_path / "3d.nii.gz")
    single = sitk.GetImageFromArray(truth[None])  # one slice: squeezed
    sitk.WriteImage(single, str(tmp_path / "one.nii.gz"))
    assert np.array_equal(read_mask(tmp_path / "one.nii.gz"), truth)


def test_plain_nrrd_label_map(tmp_path, truth):
    sitk.WriteImage(sitk.GetImageFromArray(truth), str(tmp_path / "m.nrrd"), True)
    assert np.array_equal(read_mask(tmp_path / "m.nrrd", shape=SHAPE), truth)
    assert describe(tmp_path / "m.nrrd") == "NRRD label map"
    # hand-written: the first axis is x (columns); raw encoding
    head = f"NRRD0004\ntype: uint8\ndimension: 2\nsizes: {COLS} {ROWS}\nencoding: raw\n\n"
    (tmp_path / "raw.nrrd").write_bytes(head.encode() + truth.tobytes())  # C order = x fastest
    assert np.array_equal(read_mask(tmp_path / "raw.nrrd", shape=SHAPE), truth)


# ------------------------------------------------------------------------------------------------
# 3D Slicer .seg.nrrd
# ------------------------------------------------------------------------------------------------
SLICER_NAMES = {1: "Femoral head", 2: "Neck and shaft", 3: "Teardrop", 4: "joint", 5: "Pelvis"}
SOURCE_LABELS = {"femoral head": "L1", "neck and shaft": "L2", " TEARDROP ": "L3",
                 "Joint": "L4", "pelvis": "L5"}  # fmt: skip


def _crop(truth: np.ndarray):
    """Slicer's cropped array (the labelled pixels' bounding box) and its (i, j, k) offset."""
    rows, cols = np.nonzero(truth)
    r0, c0 = rows.min(), cols.min()
    return truth[r0 : rows.max() + 1, c0 : cols.max() + 1], (int(c0), int(r0), 0)


def test_slicer_segmentation_is_placed_by_its_extent_offset(tmp_path, truth):
    truth[0:2, 10:14] = 0  # leave the first rows and columns empty: a non-zero offset
    truth[:, :1] = 0
    crop, offset = _crop(truth)
    assert offset[0] > 0 and offset[1] > 0 and crop.shape != SHAPE
    path = write_seg_nrrd(tmp_path / "m.seg.nrrd", crop, SLICER_NAMES, offset,
                          reference_shape=SHAPE)  # fmt: skip
    mask = read_mask(path, shape=SHAPE, names=SOURCE_LABELS)
    assert mask.dtype == np.uint8 and np.array_equal(mask, truth)
    assert np.array_equal(read_mask(path, names=SOURCE_LABELS), truth)  # size from the geometry
    assert describe(path) == "3D Slicer segmentation (.seg.nrrd), 5 segments"
    # without a recorded reference geometry: the given shape, or the array's size + offset
    bare = write_seg_nrrd(tmp_path / "bare.seg.nrrd", crop, SLICER_NAMES, offset)
    assert np.array_equal(read_mask(bare, shape=SHAPE, names=SOURCE_LABELS), truth)
    alone = read_mask(bare, names=SOURCE_LABELS)
    assert alone.shape == (offset[1] + crop.shape[0], offset[0] + crop.shape[1])
    assert np.array_equal(alone, truth[: alone.shape[0], : alone.shape[1]])


def test_slicer_hipseg_names_need_no_mapping_and_unknown_names_are_listed(tmp_path, truth):
    hipseg_names = {lab.value: lab.name for lab in labels.LABELS}
    path = write_seg_nrrd(tmp_path / "h.seg.nrrd", truth, hipseg_names)
    assert np.array_equal(read_mask(path, shape=SHAPE), truth)
    path = write_seg_nrrd(tmp_path / "m.seg.nrrd", truth, SLICER_NAMES)
    err = _error("segment names not known", path, shape=SHAPE, names={"femoral head": "L1"})
    for name in ("Neck and shaft", "Teardrop", "joint", "Pelvis"):
        assert f'"{name}"' in err.problem
    assert '"Femoral head"' not in err.problem
    assert ", ".join(labels.NAMES) in err.problem and "source.labels" in err.problem
    _error("maps 'Teardrop' to 'L9'", path, names={"Teardrop": "L9"})


def test_slicer_layers_without_overlap_are_accepted(tmp_path, truth):
    first = np.where(truth <= 2, truth, 0)  # L1, L2 in layer 0; L3-L5 in layer 1 as 1-3
    second = np.where(truth > 2, truth - 2, 0)
    path = write_seg_nrrd(tmp_path / "l.seg.nrrd", [first, second],
                          [{1: "L1", 2: "L2"}, {1: "L3", 2: "L4", 3: "L5"}],
                          reference_shape=SHAPE)  # fmt: skip
    assert np.array_equal(read_mask(path, shape=SHAPE), truth)
    assert describe(path) == "3D Slicer segmentation (.seg.nrrd), 5 segments in 2 layers"


def test_slicer_overlapping_segments_are_an_error(tmp_path, truth):
    extra = np.zeros(SHAPE, np.uint8)
    extra[5:7, 10:14] = 1  # 2 rows × 2 columns on L1 (columns 10, 11), 2 × 2 off it
    path = write_seg_nrrd(tmp_path / "o.seg.nrrd", [truth, extra],
                          [SLICER_NAMES, {1: "Acetabular fossa"}])  # fmt: skip
    names = {**SOURCE_LABELS, "acetabular fossa": "L4"}
    err = _error("overlap", path, shape=SHAPE, names=names)
    assert '"Femoral head" and "Acetabular fossa" overlap in 4 pixels' in err.problem
    # two segments merged into the same label may overlap
    names["acetabular fossa"] = "L1"
    merged = read_mask(path, shape=SHAPE, names=names)
    assert np.array_equal(merged, np.where(extra > 0, 1, truth))


def test_slicer_geometry_and_content_errors(tmp_path, truth):
    crop, offset = _crop(truth)
    path = write_seg_nrrd(tmp_path / "g.seg.nrrd", crop, SLICER_NAMES, offset,
                          reference_shape=(80, 60))  # fmt: skip  # oversampled grid
    _error(r"mask size 80×60 \(rows×cols, the segmentation's reference geometry\) ≠ image size "
           r"40×30", path, shape=SHAPE, names=SOURCE_LABELS)  # fmt: skip
    path = write_seg_nrrd(tmp_path / "out.seg.nrrd", crop, SLICER_NAMES, (offset[0] + 5, 0, 0))
    _error("labelled pixels outside the 40×30 image", path, shape=SHAPE, names=SOURCE_LABELS)
    path = write_seg_nrrd(tmp_path / "stray.seg.nrrd", truth, {1: "L1", 2: "L2", 3: "L3"})
    _error("layer 0 holds values that belong to no segment: 4, 5", path, shape=SHAPE)
    legacy = tmp_path / "legacy.seg.nrrd"
    head = f"NRRD0004\ntype: uint8\ndimension: 3\nsizes: {COLS} {ROWS} 1\nencoding: gzip\n"
    head += "Segment0_ID:=S1\nSegment0_Name:=L1\nSegmentation_Extent:=0 29 0 39 0 0\n\n"
    legacy.write_bytes(head.encode() + gzip.compress(truth.tobytes()))
    _error("older than 4.11", legacy)


# ------------------------------------------------------------------------------------------------
# DICOM SEG
# ------------------------------------------------------------------------------------------------
def _radiograph(path, seed: str, rows: int = ROWS, cols: int = COLS) -> Dataset:
    fm = FileMetaDataset()
    fm.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1"  # CR Image Storage
    fm.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=[seed, "sop"])
    fm.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = fm
    ds.SOPClassUID, ds.SOPInstanceUID = fm.MediaStorageSOPClassUID, fm.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = generate_uid(entropy_srcs=[seed, "study"])
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=[seed, "series"])
    ds.Modality, ds.PatientName, ds.PatientID = "CR", "Mask^Test", "P1"
    ds.PatientBirthDate = ds.PatientSex = ds.AccessionNumber = ds.ReferringPhysicianName = ""
    ds.StudyDate, ds.StudyTime, ds.StudyID = "20240101", "120000", "1"
    ds.SeriesNumber = ds.InstanceNumber = 1
    ds.PatientOrientation = ["L", "F"]
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.Rows, ds.Columns, ds.PixelSpacing = rows, cols, [0.2, 0.2]
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = (np.arange(rows * cols, dtype=np.uint16).reshape(rows, cols) % 4096).tobytes()
    pydicom.dcmwrite(path, ds, enforce_file_format=True)
    return pydicom.dcmread(path)


def _seg(path, source: Dataset, pixels: np.ndarray, seg_labels: list[str], kind="BINARY"):
    """A highdicom SEG of ``source`` with one segment per label (pixels: rows × cols × n)."""
    import highdicom as hd

    descriptions = segment_descriptions("test")[: len(seg_labels)]
    for desc, label in zip(descriptions, seg_labels, strict=True):
        desc.SegmentLabel = label
    extra = {"max_fractional_value": 255} if kind == "FRACTIONAL" else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        seg = hd.seg.Segmentation(
            source_images=[source], pixel_array=pixels[None], segmentation_type=kind,
            segment_descriptions=descriptions, series_instance_uid=hd.UID(), series_number=9,
            sop_instance_uid=hd.UID(), instance_number=1, manufacturer="test",
            manufacturer_model_name="test", software_versions="1", device_serial_number="1",
            pixel_measures=hd.PixelMeasuresSequence(pixel_spacing=[0.2, 0.2], slice_thickness=None),
            **extra,
        )  # fmt: skip
    seg.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0].SliceThickness = None
    seg.PatientOrientation = source.PatientOrientation
    seg.save_as(path)
    return path


def _uids(*datasets) -> set[str]:
    return {str(ds[tag].value) for ds in datasets for tag in
            ("SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID") if tag in ds}  # fmt: skip


def test_dicom_seg_of_hipseg_round_trips(tmp_path, truth):
    source = _radiograph(tmp_path / "cr.dcm", "a")
    seg = write_seg(source, truth, (0.2, 0.2), "fold_0", tmp_path / "seg.bin")  # any extension
    mask = read_mask(seg, shape=SHAPE, reference=tmp_path / "cr.dcm")
    assert mask.dtype == np.uint8 and np.array_equal(mask, truth)
    assert np.array_equal(read_mask(seg), truth)  # the one image it references
    assert describe(seg) == "DICOM SEG (binary), 5 segments"
    lab = truth.copy()
    lab[lab == 4] = 0  # an absent segment (no frame) is background
    write_seg(source, lab, (0.2, 0.2), "fold_0", tmp_path / "seg4.dcm")
    assert np.array_equal(read_mask(tmp_path / "seg4.dcm", shape=SHAPE), lab)


def test_dicom_seg_of_another_image_does_not_print_uids(tmp_path, truth):
    source = _radiograph(tmp_path / "a.dcm", "a")
    other = _radiograph(tmp_path / "b.dcm", "b")
    seg = write_seg(source, truth, (0.2, 0.2), "fold_0", tmp_path / "seg.dcm")
    err = _error("segmentation of another image", seg, reference=tmp_path / "b.dcm")
    assert str(tmp_path / "b.dcm") in str(err)
    assert not any(uid in str(err) for uid in _uids(source, other, pydicom.dcmread(seg)))
    assert not re.search(r"\d+\.\d+\.\d+\.\d+", str(err).replace(str(tmp_path), ""))
    _error(r"mask size 40×30 \(rows×cols\) ≠ image size 40×31", seg, shape=(40, 31))


def test_dicom_seg_names_fractional_and_overlap(tmp_path, truth):
    source = _radiograph(tmp_path / "cr.dcm", "a")
    head, pelvis = truth == 1, truth == 5
    seg = _seg(tmp_path / "n.dcm", source, np.dstack([head, pelvis]).astype(np.uint8),
               ["Femoral Head", "Pelvis"])  # fmt: skip
    _error('segment names not known: "Femoral Head", "Pelvis"', seg)
    mask = read_mask(seg, shape=SHAPE, names={"femoral head": "L1", "pelvis": "L5"})
    assert np.array_equal(mask, np.where(head | pelvis, truth, 0))
    frac = np.dstack([head * 0.7, pelvis * 0.3]).astype(np.float32)
    frac[2, 3, 0] = 0.45  # under half the maximum: background
    seg = _seg(tmp_path / "f.dcm", source, frac, ["L1", "L5"], kind="FRACTIONAL")
    expected = np.where(head, 1, 0)
    expected[2, 3] = 0
    assert np.array_equal(read_mask(seg, reference=tmp_path / "cr.dcm"), expected)
    assert describe(seg) == "DICOM SEG (fractional), 2 segments"
    both = np.dstack([head, head | pelvis]).astype(np.uint8)
    seg = _seg(tmp_path / "o.dcm", source, both, ["L1", "L5"])
    _error(f'"L1" and "L5" overlap in {int(head.sum())} pixels', seg)


def test_a_dicom_image_is_not_a_seg(tmp_path):
    _radiograph(tmp_path / "cr.dcm", "a")
    _error(r"DICOM CR object, not a segmentation \(DICOM SEG\)", tmp_path / "cr.dcm")


# ------------------------------------------------------------------------------------------------
# Values, sizes and files
# ------------------------------------------------------------------------------------------------
def test_values_outside_the_labels_are_listed(tmp_path, truth):
    bad = truth.copy()
    bad[0, :12] = np.arange(6, 18)
    Image.fromarray(bad, mode="L").save(tmp_path / "bad.png")
    err = _error("label values outside 0–5", tmp_path / "bad.png")
    assert "6, 7, 8, 9, 10, 11, 12, 13, … (12 in all)" in err.problem
    values = {0: 0, 1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 1}
    err = _error("not in the value mapping: 7, 8", tmp_path / "bad.png", values=values)
    assert "mapped values: 0, 1, 2, 3, 4, 5, 6" in err.problem
    _error("sends 6 to 9", tmp_path / "bad.png", values={6: 9})
    mapped = read_mask(tmp_path / "bad.png", values={**values, **{v: 0 for v in range(7, 18)}})
    expected = truth.copy()
    expected[0, :12] = [1] + [0] * 11
    assert np.array_equal(mapped, expected)


def test_non_integer_values_and_wrong_size(tmp_path, truth):
    frac = truth.astype(np.float32)
    frac[3, 4] = 1.5
    write_image_2d(tmp_path / "f.nii.gz", frac, (0.2, 0.2))
    _error("non-integer values: 1.5", tmp_path / "f.nii.gz")
    Image.fromarray(truth, mode="L").save(tmp_path / "m.png")
    _error(r"mask size 40×30 \(rows×cols\) ≠ image size 30×40", tmp_path / "m.png", shape=(30, 40))


def test_missing_empty_and_unknown_files(tmp_path):
    _error("does not exist", tmp_path / "none.png")
    (tmp_path / "empty.png").write_bytes(b"")
    _error("file is empty", tmp_path / "empty.png")
    (tmp_path / "notes.png").write_text("not an image\n")
    _error("not a label mask of a known format", tmp_path / "notes.png")
    (tmp_path / "cut.png").write_bytes(b"\x89PNG\r\n\x1a\n\0\0")
    _error("cannot be read as a PNG image", tmp_path / "cut.png")
    (tmp_path / "cut.nrrd").write_bytes(b"NRRD0004\ntype: uint8\ndimension: 2\n")
    _error("cannot be read as an image", tmp_path / "cut.nrrd")
    with pytest.raises(InputError, match="file is empty"):
        describe(tmp_path / "empty.png")
