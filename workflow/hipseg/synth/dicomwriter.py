"""File contents: CR Image Storage DICOM with fake identities, PNG label maps, derived UIDs.

Every UID is derived from the seed and the radiograph id (no wall-clock values), so the same seed
gives byte-identical files. The identities (name, IDs, birth date, institution, operators) are
fake but realistic, some of them repeated in a private block: the de-identification step must
remove them.
"""

from __future__ import annotations

import datetime as _dt
import io as _io
from pathlib import Path

import numpy as np
from PIL import Image

from ..io import atomic_path
from .physics import _stored_values

CR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.1"


def _uid(seed: int, *parts) -> str:
    import pydicom.uid

    return pydicom.uid.generate_uid(entropy_srcs=["hipseg-synth", str(seed), *map(str, parts)])


def _header(ds, meta: dict) -> None:
    """Study, series, equipment and patient attributes of ``ds`` from ``meta``."""
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    d: _dt.date = meta["date"]
    ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = d.strftime("%Y%m%d")
    ds.StudyTime = ds.SeriesTime = meta["time"]
    ds.AcquisitionTime = ds.ContentTime = meta["time"]
    ds.AccessionNumber = meta["accession"]
    ds.Modality = "CR"
    ds.Manufacturer, ds.ManufacturerModelName, ds.StationName = meta["station"]
    ds.InstitutionName, ds.InstitutionAddress = meta["institution"]
    ds.ReferringPhysicianName = meta["referring"]
    ds.OperatorsName = meta["operator"]
    ds.StudyDescription = "RTG PANVE AP"
    ds.SeriesDescription = "Pelvis AP"
    ds.PatientName = meta["name"]
    ds.PatientID = meta["patient_id"]
    ds.PatientBirthDate = meta["birth"].strftime("%Y%m%d")
    ds.PatientSex = meta["sex"]
    age = (d - meta["birth"]).days // 365
    ds.PatientAge = f"{age:03d}Y"
    ds.BodyPartExamined = "PELVIS"
    ds.BurnedInAnnotation = "YES" if meta.get("text") else "NO"
    ds.ViewPosition = "AP"
    ds.DeviceSerialNumber = meta["serial"]
    ds.SoftwareVersions = "hipseg-synth"
    ds.StudyInstanceUID = _uid(meta["seed"], meta["id"], "study")
    ds.SeriesInstanceUID = _uid(meta["seed"], meta["id"], "series")
    ds.StudyID = meta["study_id"]
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.PatientOrientation = ["L", "F"]
    for keyword, value in meta.get("geometry", {}).items():  # :meth:`.projection.header_values`
        setattr(ds, keyword, f"{value:g}")


def _image_pixels(ds, stored: np.ndarray, sp: float, bits: int, mono1: bool) -> None:
    """Image pixel, spacing, window and rescale attributes of ``ds``, and its pixel data."""
    wc_lo, wc_hi = np.percentile(stored[::4, ::4], [2, 99.5])
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME1" if mono1 else "MONOCHROME2"
    ds.Rows, ds.Columns = stored.shape
    spv = [f"{sp:.6g}", f"{sp:.6g}"]
    ds.PixelSpacing = spv
    ds.ImagerPixelSpacing = spv
    ds.BitsAllocated = 16
    ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 0
    ds.WindowCenter = f"{(wc_lo + wc_hi) / 2:.1f}"
    ds.WindowWidth = f"{max(wc_hi - wc_lo, 1.0):.1f}"
    ds.RescaleIntercept = "0"
    ds.RescaleSlope = "1"


def _dicom_bytes(img_p, sp, meta: dict) -> tuple[bytes, str]:
    """The DICOM file of one radiograph (log-attenuation image ``img_p``, spacing ``sp`` mm)
    and its photometric interpretation."""
    import pydicom
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian

    bits, mono1 = meta["bits"], meta["mono1"]
    stored = _stored_values(img_p, bits, meta["window"], mono1)
    sop = _uid(meta["seed"], meta["id"], "sop")

    fm = FileMetaDataset()
    fm.MediaStorageSOPClassUID = CR_IMAGE_STORAGE
    fm.MediaStorageSOPInstanceUID = sop
    fm.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = fm
    ds.SOPClassUID = fm.MediaStorageSOPClassUID
    ds.SOPInstanceUID = sop
    _header(ds, meta)
    _image_pixels(ds, stored, sp, bits, mono1)
    block = ds.private_block(0x0009, "HIPSEG SYNTH PRIVATE", create=True)
    block.add_new(0x10, "LO", meta["name"].replace("^", " "))
    block.add_new(0x11, "LO", meta["patient_id"])
    ds.PixelData = stored.tobytes()
    buf = _io.BytesIO()
    pydicom.dcmwrite(buf, ds, enforce_file_format=True)
    return buf.getvalue(), ds.PhotometricInterpretation


def _png_bytes(labels: np.ndarray) -> bytes:
    buf = _io.BytesIO()
    Image.fromarray(labels, mode="L").save(buf, format="PNG")
    return buf.getvalue()


def _write_bytes(path: Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
