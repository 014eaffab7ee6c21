"""Transfer syntaxes, decoders and the structure of the pixel data, checked before decoding.

Decoders (pinned in requirements.lock and envs/hipseg.yaml; chosen by measurement, see the
README's *Intake* section): pydicom itself for the uncompressed syntaxes, pylibjpeg with
pylibjpeg-libjpeg (JPEG baseline, 12-bit extended, lossless Process 14 and SV1),
pylibjpeg-openjpeg (JPEG 2000) and pylibjpeg-rle (RLE), pyjpegls (JPEG-LS). pydicom registers
them itself when they are installed; :func:`decoder_plugins` says which it found.

JPEG and JPEG-LS decoders accept a codestream that is cut short and fill the missing part with
made-up pixels, so every compressed frame is checked for its end-of-image marker, and its size
for agreement with Rows and Columns, before it is decoded.
"""

from __future__ import annotations

import struct
import warnings
from pathlib import Path

import pydicom
from pydicom import uid
from pydicom.errors import InvalidDicomError

from ..errors import InputError

# Every transfer syntax an X-ray export may use: UID → (short name, lossy)
SYNTAXES: dict[str, tuple[str, bool]] = {
    uid.ImplicitVRLittleEndian: ("implicit VR little endian", False),
    uid.ExplicitVRLittleEndian: ("explicit VR little endian", False),
    uid.ExplicitVRBigEndian: ("explicit VR big endian", False),
    uid.DeflatedExplicitVRLittleEndian: ("deflated explicit VR little endian", False),
    uid.JPEGBaseline8Bit: ("JPEG baseline (8-bit)", True),
    uid.JPEGExtended12Bit: ("JPEG extended (12-bit)", True),
    uid.JPEGLossless: ("JPEG lossless (Process 14)", False),
    uid.JPEGLosslessSV1: ("JPEG lossless (Process 14, SV1)", False),
    uid.JPEGLSLossless: ("JPEG-LS lossless", False),
    uid.JPEGLSNearLossless: ("JPEG-LS near-lossless", True),
    uid.JPEG2000Lossless: ("JPEG 2000 lossless", False),
    uid.JPEG2000: ("JPEG 2000", True),
    uid.RLELossless: ("RLE lossless", False),
}
_JPEG = {
    uid.JPEGBaseline8Bit,
    uid.JPEGExtended12Bit,
    uid.JPEGLossless,
    uid.JPEGLosslessSV1,
    uid.JPEGLSLossless,
    uid.JPEGLSNearLossless,
}
_J2K = {uid.JPEG2000Lossless, uid.JPEG2000}
_EOI = b"\xff\xd9"  # JPEG end of image; the JPEG 2000 end of codestream has the same bytes


def decoder_plugins() -> dict[str, tuple[str, ...]]:
    """{syntax name: available pydicom plugins} for every compressed syntax of :data:`SYNTAXES`
    (an empty tuple: no decoder installed)."""
    from pydicom.pixels.decoders.base import get_decoder

    out = {}
    for ts, (name, _) in SYNTAXES.items():
        if uid.UID(ts).is_compressed:
            out[name] = tuple(sorted(get_decoder(ts).available_plugins))
    return out


def syntax_name(ts: str) -> str:
    return SYNTAXES.get(ts, (uid.UID(ts).name, False))[0]


def read_dataset(path: str | Path, stop_before_pixels: bool = False) -> pydicom.Dataset:
    """Read a DICOM file; every failure is an :class:`InputError` naming the file."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "DICOM file does not exist")
    if path.stat().st_size == 0:
        raise InputError(path, "is empty (0 bytes): not a DICOM file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path, stop_before_pixels=stop_before_pixels)
    except InvalidDicomError as exc:
        raise InputError(path, f"not a DICOM file ({exc})") from exc
    except Exception as exc:  # truncated or corrupt files raise a variety of errors
        problem = f"{type(exc).__name__}: {exc}".strip()
        raise InputError(
            path, f"cannot be read as DICOM, truncated or corrupt ({problem})"
        ) from exc
    if "TransferSyntaxUID" not in ds.file_meta:
        raise InputError(
            path, "has no Transfer Syntax UID in its file meta (truncated or incomplete file)"
        )
    return ds


def _int(ds: pydicom.Dataset, keyword: str, path: Path, default: int | None = None) -> int:
    value = ds.get(keyword, default)
    try:
        return int(value)
    except (TypeError, ValueError):
        what = "is missing" if value is None else f"is {value!r}, not an integer"
        raise InputError(path, f"{keyword} {what}: not a usable image") from None


def image_geometry(ds: pydicom.Dataset, path: str | Path) -> dict[str, int]:
    """Rows, Columns, SamplesPerPixel, NumberOfFrames, BitsAllocated, BitsStored, checked."""
    path = Path(path)
    g = {
        "rows": _int(ds, "Rows", path),
        "cols": _int(ds, "Columns", path),
        "samples": _int(ds, "SamplesPerPixel", path, 1),
        "frames": _int(ds, "NumberOfFrames", path, 1) if ds.get("NumberOfFrames") else 1,
        "bits_allocated": _int(ds, "BitsAllocated", path),
        "bits_stored": _int(ds, "BitsStored", path),
    }
    if g["rows"] < 1 or g["cols"] < 1:
        raise InputError(path, f"Rows×Columns is {g['rows']}×{g['cols']}: no image")
    if g["frames"] < 1:
        raise InputError(path, f"NumberOfFrames is {g['frames']}: no image")
    if g["bits_allocated"] not in (1, 8, 16, 32):
        raise InputError(path, f"BitsAllocated is {g['bits_allocated']}, not 8, 16 or 32")
    if not 1 <= g["bits_stored"] <= g["bits_allocated"]:
        raise InputError(
            path,
            f"BitsStored ({g['bits_stored']}) is greater than BitsAllocated "
            f"({g['bits_allocated']}): the header contradicts itself",
        )
    return g


def check_pixel_data(ds: pydicom.Dataset, path: str | Path) -> dict[str, int]:
    """Check, without decoding, that the pixel data is there, whole and of the size the header
    says; returns the image geometry (:func:`image_geometry`)."""
    path = Path(path)
    if "PixelData" not in ds:
        cut = _cut_inside(path)
        if cut:
            raise InputError(path, f"is truncated: the file ends inside {cut}, before the image")
        if len(ds) == 0:
            raise InputError(path, "is truncated: the file ends after its file meta information")
        raise InputError(path, "has no pixel data (no image in this file)")
    g = image_geometry(ds, path)
    ts = ds.file_meta.TransferSyntaxUID
    if not ts.is_encapsulated:
        _check_native_length(len(ds.PixelData), g, path)
        return g
    try:
        from pydicom.encaps import generate_fragmented_frames

        frames = [
            b"".join(f)
            for f in generate_fragmented_frames(ds.PixelData, number_of_frames=g["frames"])
        ]
    except Exception as exc:
        raise InputError(
            path, f"compressed pixel data is damaged or cut short ({type(exc).__name__}: {exc})"
        ) from exc
    if len(frames) < g["frames"]:
        raise InputError(
            path, f"compressed pixel data holds {len(frames)} of {g['frames']} frame(s): cut short"
        )
    for i, frame in enumerate(frames[: g["frames"]]):
        if ts in _JPEG or ts in _J2K:
            _check_codestream(frame, ts, g, path, i)
    return g


def _cut_inside(path: Path) -> str:
    """Where the file ends in the middle of a data element ('' when it ends cleanly): pydicom
    stops silently at the end of a truncated file, so the elements are walked again here."""
    from pydicom.filereader import _read_file_meta_info, data_element_generator, read_preamble

    size = path.stat().st_size
    with open(path, "rb") as fp:
        try:
            read_preamble(fp, False)
            meta = _read_file_meta_info(fp)
        except Exception:
            return "the file meta information"
        ts = uid.UID(str(meta.get("TransferSyntaxUID", uid.ExplicitVRLittleEndian)))
        if ts == uid.DeflatedExplicitVRLittleEndian:
            return ""  # a cut deflate stream fails in zlib, reported by pydicom
        end, last = fp.tell(), "the first data element"
        try:
            for elem in data_element_generator(fp, ts.is_implicit_VR, ts.is_little_endian):
                tag = f"({elem.tag.group:04X},{elem.tag.element:04X})"
                if isinstance(elem.value, bytes) and len(elem.value) < elem.length != 0xFFFFFFFF:
                    return f"element {tag}"
                end, last = fp.tell(), f"the element after {tag}"
        except Exception:
            return last
    return last if end < size else ""


def _check_native_length(actual: int, g: dict[str, int], path: Path) -> None:
    pixels = g["rows"] * g["cols"] * g["samples"] * g["frames"]
    expected = (pixels + 7) // 8 if g["bits_allocated"] == 1 else pixels * g["bits_allocated"] // 8
    shape = f"{g['rows']}×{g['cols']}" + (f"×{g['frames']} frames" if g["frames"] > 1 else "")
    if g["samples"] > 1:
        shape += f"×{g['samples']} samples"
    if actual < expected and _cut_inside(path):
        raise InputError(
            path,
            f"is truncated: the file ends inside the pixel data ({actual} of the {expected} "
            f"bytes that {shape} pixels of {g['bits_allocated']} bits need)",
        )
    if actual < expected:
        raise InputError(
            path,
            f"Rows/Columns disagree with the pixel data: {shape} pixels of "
            f"{g['bits_allocated']} bits need {expected} bytes, the pixel data has {actual}",
        )
    if actual > expected + expected % 2:
        raise InputError(
            path,
            f"Rows/Columns disagree with the pixel data: {shape} pixels of "
            f"{g['bits_allocated']} bits are {expected} bytes, the pixel data has {actual}",
        )


def _check_codestream(frame: bytes, ts: str, g: dict[str, int], path: Path, i: int) -> None:
    name = syntax_name(ts)
    where = f"frame {i + 1}: " if g["frames"] > 1 else ""
    # FF D9 cannot occur inside JPEG, JPEG-LS or JPEG 2000 entropy-coded data (byte or bit
    # stuffing), so finding it among the last bytes (after padding, 00 or FF) is enough
    if _EOI not in frame[-16:]:
        raise InputError(
            path,
            f"{where}{name} stream is cut short (no end-of-image marker): the file is "
            "truncated or was damaged in transfer",
        )
    size = _jpeg_size(frame) if ts in _JPEG else _j2k_size(frame)
    if size is None:
        raise InputError(path, f"{where}{name} stream has no readable frame header")
    if size != (g["rows"], g["cols"]):
        raise InputError(
            path,
            f"{where}Rows/Columns {g['rows']}×{g['cols']} disagree with the {name} stream's "
            f"{size[0]}×{size[1]}",
        )


def _jpeg_size(frame: bytes) -> tuple[int, int] | None:
    from pydicom.pixels.utils import _get_jpg_parameters

    info = _get_jpg_parameters(frame)
    return (info["height"], info["width"]) if "height" in info else None


def _j2k_size(frame: bytes) -> tuple[int, int] | None:
    start = frame.find(b"\xff\x4f\xff\x51")  # SOC then SIZ (after a JP2 header, if any)
    if start < 0 or len(frame) < start + 24:
        return None
    xsiz, ysiz, x0, y0 = struct.unpack(">4I", frame[start + 8 : start + 24])
    return ysiz - y0, xsiz - x0


def check_decoder(ds: pydicom.Dataset, path: str | Path) -> None:
    """Refuse a transfer syntax that no installed decoder reads (without decoding)."""
    from pydicom.pixels.decoders.base import get_decoder

    ts = ds.file_meta.TransferSyntaxUID
    try:
        available = get_decoder(ts).is_available
    except NotImplementedError:
        available = False
    if not available:
        raise InputError(
            path,
            f"its transfer syntax {syntax_name(ts)} ({ts}) cannot be decoded here: no decoder "
            "for it is installed (see the README's Intake section for the supported syntaxes)",
        )


def decode(ds: pydicom.Dataset, path: str | Path):
    """The pixel array (pydicom's decoders); checked first with :func:`check_pixel_data`."""
    path = Path(path)
    check_pixel_data(ds, path)
    ts = ds.file_meta.TransferSyntaxUID
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ds.pixel_array
    except Exception as exc:
        msg = " ".join(str(exc).split())
        if "missing dependencies" in msg or "no decoding plugins" in msg.lower():
            raise InputError(
                path, f"no decoder installed for its transfer syntax {syntax_name(ts)} ({msg})"
            ) from exc
        raise InputError(path, f"{syntax_name(ts)} pixel data cannot be decoded ({msg})") from exc
