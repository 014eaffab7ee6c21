"""How the node's results leave it: C-STORE to a PACS (pynetdicom) or STOW-RS to a DICOMweb
server, and the transfer syntaxes it accepts when receiving."""

from __future__ import annotations

import urllib.request
import uuid
from io import BytesIO
from pathlib import Path

from ..errors import HipsegError

ACCEPTED_STATUS = {0x0000, 0xB000, 0xB006, 0xB007}  # success and the storage warnings

ALL_TRANSFER_SYNTAXES = [
    "1.2.840.10008.1.2.1",  # Explicit VR Little Endian
    "1.2.840.10008.1.2",  # Implicit VR Little Endian
    "1.2.840.10008.1.2.2",  # Explicit VR Big Endian (retired)
    "1.2.840.10008.1.2.1.99",  # Deflated Explicit VR Little Endian
    "1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.4.57",
    "1.2.840.10008.1.2.4.70", "1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81",
    "1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91", "1.2.840.10008.1.2.5",
]  # fmt: skip


def file_meta_bytes(event) -> bytes:
    """The File Meta Information of a received C-STORE (to spool the instance as a file)."""
    from pydicom.filewriter import write_file_meta_info

    buf = BytesIO()
    write_file_meta_info(buf, event.file_meta, enforce_standard=True)
    return buf.getvalue()


def c_store(dest: dict, ae_title: str, files: list[Path], on_stored=None) -> None:
    """Send ``files`` to ``dest`` (ae_title, host, port) in one association; raise on failure."""
    import pydicom
    from pynetdicom import AE

    datasets = [pydicom.dcmread(p) for p in files]
    if not datasets:
        return
    ae = AE(ae_title=ae_title)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 30
    for sop_class in sorted({str(ds.SOPClassUID) for ds in datasets}):
        ae.add_requested_context(sop_class, ["1.2.840.10008.1.2.1", "1.2.840.10008.1.2"])
    assoc = ae.associate(
        dest.get("host", "127.0.0.1"), int(dest.get("port", 104)), ae_title=dest["ae_title"]
    )
    if not assoc.is_established:
        raise HipsegError(
            f"cannot associate with {dest['ae_title']}@{dest.get('host')}:{dest.get('port')}"
        )
    try:
        for path, ds in zip(files, datasets, strict=True):
            status = assoc.send_c_store(ds)
            code = getattr(status, "Status", None)
            if code not in ACCEPTED_STATUS:
                raise HipsegError(f"{path.name}: C-STORE status {code}")
            if on_stored:
                on_stored(path)
    finally:
        assoc.release()


def stow(url: str, files: list[Path], timeout: float = 30) -> None:
    """DICOMweb STOW-RS: POST the files as one multipart/related request to ``url``."""
    if not files:
        return
    boundary = uuid.uuid4().hex
    body = b""
    for p in files:
        body += (f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n").encode()
        body += p.read_bytes() + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    req = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}',
            "Accept": "application/dicom+json",
        },
    )
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        if resp.status not in (200, 202):
            raise HipsegError(f"STOW-RS {url}: HTTP {resp.status}")
