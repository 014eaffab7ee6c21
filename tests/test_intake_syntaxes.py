"""Every transfer syntax: the decoders are installed and used, and demo radiographs re-encoded
into each syntax give, through validate → deid → crop, the joint images of the uncompressed
file — bit for bit for the lossless syntaxes, within a stated difference for the lossy ones."""

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest
import SimpleITK as sitk
from pydicom import uid
from pydicom.data import get_testdata_file

from hipseg import samplesheet
from hipseg.intake import decode, decoder_plugins, syntax_name
from hipseg.intake import transcode as tc
from tests.test_intake import run_stages


def test_a_decoder_for_every_syntax():
    plugins = decoder_plugins()
    compressed = [ts for ts in decode.SYNTAXES if uid.UID(ts).is_compressed]
    assert set(plugins) == {syntax_name(ts) for ts in compressed}
    missing = [name for name, found in plugins.items() if not found]
    assert not missing, f"no decoder installed for {missing}"
    # the syntaxes pydicom could not read before: JPEG lossless and 12-bit JPEG extended
    for ts in (uid.JPEGLossless, uid.JPEGLosslessSV1, uid.JPEGExtended12Bit):
        assert "pylibjpeg" in plugins[syntax_name(ts)]


def _testfile(name: str) -> pydicom.Dataset:
    path = get_testdata_file(name, download=False)  # pydicom's and pydicom-data's own files
    if path is None:
        pytest.skip(f"pydicom test file {name} is not installed (pydicom-data)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(path)


@pytest.mark.parametrize(
    "name, reference",
    [
        ("JPEG-LL.dcm", None),  # JPEG lossless SV1, 16 bits
        ("JPGLosslessP14SV1_1s_1f_8b.dcm", None),  # JPEG lossless SV1, 8 bits
        ("JPGExtended.dcm", None),  # JPEG extended, 12 bits
        ("MR_small_RLE.dcm", "MR_small.dcm"),
        ("MR_small_jpeg_ls_lossless.dcm", "MR_small.dcm"),
        ("MR_small_jp2klossless.dcm", "MR_small.dcm"),
        ("MR_small_bigendian.dcm", "MR_small.dcm"),
        ("RG3_J2KR.dcm", "RG3_UNCR.dcm"),  # CR, MONOCHROME1, 10 bits
        ("image_dfl.dcm", None),  # deflated
        ("JPEGLSNearLossless_16.dcm", None),
    ],
)
def test_pydicoms_test_files_decode(name, reference):
    ds = _testfile(name)
    arr = decode.decode(ds, name)
    assert arr.shape[-2:] == (ds.Rows, ds.Columns) and arr.max() > arr.min()
    assert arr.max() < 2 ** int(ds.BitsStored)
    if reference:
        assert np.array_equal(arr, _testfile(reference).pixel_array)
    if ds.file_meta.TransferSyntaxUID in (uid.JPEGLosslessSV1, uid.JPEGExtended12Bit):
        from pydicom.pixels import pixel_array

        assert np.array_equal(arr, pixel_array(ds, decoding_plugin="pylibjpeg"))


# ------------------------------------------------------------------------------------------------
# Demo radiographs in every syntax through validate → deid → crop
# ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def two_radiographs(demo_data):
    """One MONOCHROME1 and one MONOCHROME2 radiograph of the demo (rows of its sheet)."""
    df = samplesheet.read(demo_data)
    chosen = {}
    for row in df.itertuples():
        ds = pydicom.dcmread(row.dicom, stop_before_pixels=True)
        chosen.setdefault(ds.PhotometricInterpretation, row)
    assert set(chosen) == {"MONOCHROME1", "MONOCHROME2"}
    return list(chosen.values())


def _sheet(folder: Path, rows, make_dicom) -> Path:
    """A sample sheet of ``rows`` whose DICOMs ``make_dicom(row) -> bytes`` writes."""
    (folder / "dicom").mkdir(parents=True)
    records = []
    for r in rows:
        path = folder / "dicom" / f"{r.id}.dcm"
        path.write_bytes(make_dicom(r))
        records.append({"id": r.id, "patient": r.patient, "dicom": path, "labels": r.labels,
                        "hips": r.hips, "split": r.split, "note": r.note})  # fmt: skip
    sheet = folder / "samples.tsv"
    pd.DataFrame(records).to_csv(sheet, sep="\t", index=False)
    return sheet


def _joints(sheet: Path, out: Path) -> dict[str, tuple[np.ndarray, np.ndarray, tuple]]:
    """{joint case: (image, labels, spacing)} after validate → deid → crop of every row."""
    joints = {}
    for r in samplesheet.read(sheet).itertuples():
        # text is flagged, not redacted: redaction would rewrite the pixels this test compares
        stage, _, err = run_stages(sheet, r.id, out, deid_options=FLAG_TEXT)
        assert stage == "ok", err
        for img in sorted((out / "joints" / r.id).glob("*_img.nii.gz")):
            lab = img.with_name(img.name.replace("_img", "_lab"))
            image = sitk.ReadImage(str(img))
            joints[img.name] = (
                sitk.GetArrayFromImage(image),
                sitk.GetArrayFromImage(sitk.ReadImage(str(lab))),
                image.GetSpacing(),
            )
    return joints


FLAG_TEXT = json.dumps({"use_demo_key": True, "on_burned_in": "flag"})


def _bits_for(syntax) -> int | None:
    return {uid.JPEGBaseline8Bit: 8, uid.JPEGExtended12Bit: 12}.get(syntax)


@pytest.fixture(scope="module")
def references(two_radiographs, tmp_path_factory):
    """Joint images of the uncompressed radiographs (and of their 8- and 12-bit versions,
    the references of JPEG baseline and extended)."""
    out = {}
    for bits in (None, 8, 12):
        folder = tmp_path_factory.mktemp(f"reference{bits or ''}")

        def make(r, bits=bits):
            ds = pydicom.dcmread(r.dicom)
            return tc.file_bytes(tc.reduce_bits(ds, bits) if bits else ds)

        sheet = _sheet(folder, two_radiographs, make)
        out[bits] = _joints(sheet, folder / "out")
    return out


@pytest.mark.parametrize("syntax", tc.LOSSLESS, ids=lambda s: uid.UID(s).keyword)
def test_lossless_syntaxes_crop_bit_for_bit(syntax, two_radiographs, references, tmp_path):
    sheet = _sheet(
        tmp_path, two_radiographs, lambda r: tc.transcode(pydicom.dcmread(r.dicom), syntax)
    )
    got = _joints(sheet, tmp_path / "out")
    assert got.keys() == references[None].keys()
    for case, (img, lab, spacing) in references[None].items():
        assert np.array_equal(got[case][0], img), case
        assert np.array_equal(got[case][1], lab), case
        assert got[case][2] == spacing
    for r in two_radiographs:  # de-identification kept the encoded pixel data as it was
        src = pydicom.dcmread(tmp_path / "dicom" / f"{r.id}.dcm")
        out = pydicom.dcmread(tmp_path / "out" / f"{r.id}.dcm")
        assert out.file_meta.TransferSyntaxUID == syntax
        assert out.PixelData == src.PixelData


# the largest mean absolute difference of a joint image, as a fraction of its grey range
LOSSY_LIMIT = {uid.JPEGBaseline8Bit: 0.01, uid.JPEGExtended12Bit: 0.002,
               uid.JPEGLSNearLossless: 0.002, uid.JPEG2000: 0.01}  # fmt: skip


@pytest.mark.parametrize("syntax", tc.LOSSY, ids=lambda s: uid.UID(s).keyword)
def test_lossy_syntaxes_decode_and_crop(syntax, two_radiographs, references, tmp_path):
    bits = _bits_for(syntax)

    def make(r):
        ds = pydicom.dcmread(r.dicom)
        return tc.transcode(tc.reduce_bits(ds, bits) if bits else ds, syntax)

    got = _joints(_sheet(tmp_path, two_radiographs, make), tmp_path / "out")
    worst_max, worst_mean = 0.0, 0.0
    for case, (img, lab, spacing) in references[bits].items():
        assert np.array_equal(got[case][1], lab) and got[case][2] == spacing
        diff = np.abs(got[case][0].astype(np.float64) - img) / (img.max() - img.min())
        worst_max, worst_mean = max(worst_max, diff.max()), max(worst_mean, diff.mean())
    print(f"{uid.UID(syntax).name}: pixel difference to the uncompressed crop: mean "
          f"{100 * worst_mean:.3f} %, max {100 * worst_max:.2f} % of the grey range")  # fmt: skip
    assert 0 < worst_mean < LOSSY_LIMIT[syntax]
    if syntax == uid.JPEGLSNearLossless:  # NEAR bounds each stored value (and min, max)
        worst = max(np.abs(got[c][0] - img).max() for c, (img, *_) in references[None].items())
        assert worst <= 3 * tc.JLS_NEAR
