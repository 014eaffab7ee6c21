"""Re-encode a greyscale radiograph into another transfer syntax (for the tests and the
benchmark: hospitals' exports in every syntax, made from the synthetic radiographs).

Encoders: pydicom's own (deflate, big endian, RLE, JPEG-LS via pyjpegls, JPEG 2000 via
pylibjpeg-openjpeg) and imagecodecs' libjpeg-turbo (JPEG baseline, 12-bit extended and lossless
Process 14 / SV1, which pydicom cannot encode). Lossy syntaxes need 8 (baseline) or at most 12
(extended) bits stored: :func:`reduce_bits` makes such a version to compare against.
"""

from __future__ import annotations

import copy
import io

import numpy as np
import pydicom
from pydicom import uid
from pydicom.encaps import encapsulate

from ..errors import HipsegError

LOSSLESS = (
    uid.ImplicitVRLittleEndian,
    uid.ExplicitVRLittleEndian,
    uid.ExplicitVRBigEndian,
    uid.DeflatedExplicitVRLittleEndian,
    uid.JPEGLossless,
    uid.JPEGLosslessSV1,
    uid.JPEGLSLossless,
    uid.JPEG2000Lossless,
    uid.RLELossless,
)
LOSSY = (uid.JPEGBaseline8Bit, uid.JPEGExtended12Bit, uid.JPEGLSNearLossless, uid.JPEG2000)
JPEG_QUALITY = 90
JLS_NEAR = 2  # JPEG-LS near-lossless: the largest error in stored values
J2K_RATIO = 20  # JPEG 2000 lossy: compression ratio


def reduce_bits(ds: pydicom.Dataset, bits: int) -> pydicom.Dataset:
    """A copy whose stored values keep only the ``bits`` most significant bits stored
    (8 bits are also allocated as 8), uncompressed: the reference of a lossy syntax."""
    out = _uncompressed_copy(ds)
    arr = ds.pixel_array
    shift = max(int(ds.BitsStored) - bits, 0)
    arr = (arr >> shift).astype(np.uint8 if bits <= 8 else np.uint16)
    out.BitsAllocated = 8 if bits <= 8 else 16
    out.BitsStored, out.HighBit = min(bits, int(ds.BitsStored)), min(bits, int(ds.BitsStored)) - 1
    out.PixelData = arr.tobytes()
    for kw in ("WindowCenter", "WindowWidth", "SmallestImagePixelValue", "LargestImagePixelValue"):
        out.pop(kw, None)
    return out


def _uncompressed_copy(ds: pydicom.Dataset) -> pydicom.Dataset:
    out = copy.deepcopy(ds)
    out.file_meta.TransferSyntaxUID = uid.ExplicitVRLittleEndian
    arr = ds.pixel_array
    out.PixelData = arr.astype(arr.dtype.newbyteorder("<")).tobytes()
    out["PixelData"].VR = "OB" if int(ds.BitsAllocated) <= 8 else "OW"
    return out


def transcode(ds: pydicom.Dataset, syntax: str) -> bytes:
    """The DICOM file of ``ds`` (one greyscale frame) in ``syntax``; ``ds`` is not changed."""
    syntax = uid.UID(syntax)
    out = _uncompressed_copy(ds)
    arr = ds.pixel_array
    if syntax in (uid.ImplicitVRLittleEndian, uid.ExplicitVRLittleEndian):
        out.file_meta.TransferSyntaxUID = syntax
    elif syntax == uid.DeflatedExplicitVRLittleEndian:
        out.file_meta.TransferSyntaxUID = syntax
    elif syntax == uid.ExplicitVRBigEndian:
        out.file_meta.TransferSyntaxUID = syntax
        out.PixelData = arr.astype(arr.dtype.newbyteorder(">")).tobytes()
        buf = io.BytesIO()
        pydicom.dcmwrite(buf, out, implicit_vr=False, little_endian=False, enforce_file_format=True)
        return buf.getvalue()
    elif syntax in (uid.JPEGLossless, uid.JPEGLosslessSV1, uid.JPEGBaseline8Bit):
        _jpeg(out, arr, syntax)
    elif syntax == uid.JPEGExtended12Bit:
        _jpeg(out, arr, syntax)
    elif syntax in (uid.JPEGLSLossless, uid.RLELossless, uid.JPEG2000Lossless):
        out.compress(syntax, arr, generate_instance_uid=False)
    elif syntax == uid.JPEGLSNearLossless:
        out.compress(syntax, arr, jls_error=JLS_NEAR, generate_instance_uid=False)
    elif syntax == uid.JPEG2000:
        out.compress(syntax, arr, j2k_cr=[J2K_RATIO], generate_instance_uid=False)
    else:
        raise HipsegError(f"no encoder for {syntax.name}")
    return file_bytes(out)


def file_bytes(ds: pydicom.Dataset) -> bytes:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def _jpeg(out: pydicom.Dataset, arr: np.ndarray, syntax: uid.UID) -> None:
    import imagecodecs

    bits = int(out.BitsStored)
    if syntax == uid.JPEGBaseline8Bit and int(out.BitsAllocated) != 8:
        raise HipsegError("JPEG baseline needs 8-bit pixels (reduce_bits(ds, 8) first)")
    if syntax == uid.JPEGExtended12Bit and bits > 12:
        raise HipsegError("JPEG extended needs at most 12 bits stored (reduce_bits(ds, 12))")
    if syntax in (uid.JPEGLossless, uid.JPEGLosslessSV1):
        predictor = 1 if syntax == uid.JPEGLosslessSV1 else 6
        stream = imagecodecs.jpeg8_encode(
            arr, lossless=True, predictor=predictor, bitspersample=bits
        )
    else:
        stream = imagecodecs.jpeg8_encode(
            arr, level=JPEG_QUALITY, bitspersample=None if bits <= 8 else 12
        )
        out.LossyImageCompression = "01"
        out.LossyImageCompressionMethod = "ISO_10918_1"
    out.PixelData = encapsulate([stream])
    out["PixelData"].VR = "OB"
    out.file_meta.TransferSyntaxUID = syntax
