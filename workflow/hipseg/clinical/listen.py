"""``hipseg listen``: a DICOM node that segments radiographs sent to it and returns the results.

* **Receiving** (pynetdicom C-STORE SCP on ``listen.host:listen.port`` as ``listen.ae_title``):
  associations from AE titles not in ``listen.calling_ae_titles`` are rejected (A-ASSOCIATE-RJ,
  calling AE title not recognised), and so are those whose Called AE Title is not
  ``listen.ae_title`` (called AE title not recognised): a sender configured for another node
  is told so instead of having its images taken. Both are logged (``rejected``). Each instance is
  written to the spool (:mod:`.spool`: fsync and atomic rename) *before* the success status goes
  back, so an acknowledged instance survives a crash. An instance already known (same SOP
  Instance UID) is acknowledged and not queued again. The raw bytes are spooled as received:
  a damaged file is acknowledged too, then logged as failed; it never stops the node.
* **Processing** (one worker thread, one model kept loaded): an instance whose Modality,
  ViewPosition and BodyPartExamined match ``listen.modalities``/``views``/``body_parts`` goes
  through ``hipseg segment``'s own path for one radiograph (:func:`hipseg.segment.run._one`:
  intake, crop, prediction, measurements, quality flags, SEG, SR, presentation state), plus a
  Secondary Capture of the overlay when ``listen.send`` asks for ``sc``. Others are logged as
  ignored. Results keep the patient's identity: they belong in the patient's record.
* **Sending** (one sender thread): the results named in ``listen.send`` go to
  ``listen.destination`` by C-STORE (or STOW-RS to ``destination.stow_url``). A destination that
  is down is retried with exponential backoff (``retry_initial_s`` doubling up to
  ``retry_max_s``); each file stored is marked, so a retry or a restart sends only the rest.

A restart with the same spool resumes: received but unprocessed instances are processed, unsent
results are sent. ``SIGTERM``/``SIGINT`` stop the node after the current step.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
import traceback
import urllib.request
import uuid
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import ClassVar, TextIO

from ..errors import HipsegError
from ..options import StageOptions
from .spool import Spool

ACCEPTED_STATUS = {0x0000, 0xB000, 0xB006, 0xB007}  # success and the storage warnings
OUTPUT_SOP_CLASSES = {
    "sr": "1.2.840.10008.5.1.4.1.1.88.34",  # Comprehensive 3D SR
    "pr": "1.2.840.10008.5.1.4.1.1.11.1",  # Grayscale Softcopy Presentation State
    "seg": "1.2.840.10008.5.1.4.1.1.66.4",  # Segmentation
    "sc": "1.2.840.10008.5.1.4.1.1.7",  # Secondary Capture
}


@dataclass(frozen=True)
class ListenOptions(StageOptions):
    """The ``listen:`` section."""

    SECTION: ClassVar[str] = "listen"
    ae_title: str = "HIPSEG"
    host: str = "127.0.0.1"
    port: int = 11112
    calling_ae_titles: tuple = ()
    spool: str = "listen-spool"
    modalities: tuple = ("CR", "DX")
    views: tuple = ("AP",)
    body_parts: tuple = ("PELVIS", "HIP", "")
    destination: dict = field(default_factory=dict)
    send: tuple = ("sr", "pr", "seg")
    retry_initial_s: float = 2.0
    retry_max_s: float = 300.0
    quality: dict = field(default_factory=dict)


def matches(ds, options: ListenOptions) -> str | None:
    """Why an instance is not one to segment (None: it is)."""

    def value(keyword: str) -> str:
        return str(ds.get(keyword, "") or "").strip().upper()

    allowed = {
        "Modality": options.modalities,
        "ViewPosition": options.views,
        "BodyPartExamined": options.body_parts,
    }
    for keyword, values in allowed.items():
        if value(keyword) not in {v.strip().upper() for v in values}:
            return f"{keyword} {value(keyword) or '(absent)'} is not one of {list(values)}"
    if "PixelData" not in ds:
        return "no pixel data"
    return None


class Node:
    """The node: receiver, worker and sender around one spool and one loaded model."""

    def __init__(
        self,
        options: ListenOptions,
        model_dir: str | Path,
        segment_options=None,
        crop_rule=None,
        threads: int | None = None,
        log: TextIO | None = None,
    ):
        from ..crop import CropRule
        from ..segment.run import SegmentOptions
        from .quality import QualityRules

        self.options = options
        self.segment_options = segment_options or SegmentOptions.from_config({})
        self.catalogue = None
        if self.segment_options.template:  # a bad catalogue stops the node before its spool
            from ..templating.catalogue import load

            self.catalogue = load(self.segment_options.template)
        self.spool = Spool(options.spool)
        self.model_dir, self.threads = Path(model_dir), threads
        self.rule = crop_rule or CropRule.from_config({})
        self.rules = QualityRules.from_config(dict(options.quality))
        self.out = log or sys.stderr
        self.stop = threading.Event()
        self.work = threading.Event()  # something new in incoming/
        self.outgoing = threading.Event()  # something new in outbox/
        self.retry_at: dict[str, tuple[float, float]] = {}  # key -> (next time, last wait)
        self.model = None
        self.server = None

    def say(self, text: str) -> None:
        print(f"hipseg listen: {text}", file=self.out, flush=True)

    # ------------------------------------------------------------------ receiving
    def _on_store(self, event) -> int:
        try:
            uid = str(event.request.AffectedSOPInstanceUID)
            chunks = [
                b"\x00" * 128,
                b"DICM",
                _file_meta_bytes(event),
                event.request.DataSet.getvalue(),
            ]
            k, new = self.spool.receive(uid, chunks)
        except Exception as exc:  # cannot even spool it: refuse, the sender keeps it
            self.say(f"cannot spool an instance ({type(exc).__name__}: {exc})")
            return 0xA700  # out of resources
        calling = event.assoc.requestor.ae_title
        if new:
            self.spool.log("received", key=k, sop_instance_uid=uid, calling=calling)
            self.work.set()
        else:
            self.spool.log("duplicate", key=k, sop_instance_uid=uid, calling=calling)
        return 0x0000

    def _on_rejected(self, event) -> None:
        request = event.assoc.requestor.primitive
        self.spool.log(
            "rejected",
            calling=event.assoc.requestor.ae_title,
            called=str(getattr(request, "called_ae_title", "") or ""),
            address=event.assoc.requestor.address,
        )

    def start_server(self):
        from pynetdicom import AE, evt
        from pynetdicom.presentation import AllStoragePresentationContexts
        from pynetdicom.sop_class import Verification

        ae = AE(ae_title=self.options.ae_title)
        for cx in AllStoragePresentationContexts:
            ae.add_supported_context(cx.abstract_syntax, ALL_TRANSFER_SYNTAXES)
        ae.add_supported_context(Verification)
        ae.require_calling_aet = list(self.options.calling_ae_titles) or ["\x00never"]
        ae.require_called_aet = True  # the Called AE Title must be ours (listen.ae_title)
        ae.maximum_associations = 16
        ae.network_timeout = ae.acse_timeout = ae.dimse_timeout = 60
        handlers = [(evt.EVT_C_STORE, self._on_store), (evt.EVT_REJECTED, self._on_rejected)]
        self.server = ae.start_server(
            (self.options.host, self.options.port), block=False, evt_handlers=handlers
        )
        return self.server

    # ------------------------------------------------------------------ processing
    def load_model(self):
        from ..segment.model import Model, fast_model_dir

        model_dir = self.model_dir
        if self.segment_options.fast:
            model_dir, note = fast_model_dir(model_dir, self.segment_options.model)
            self.say(f"fast: {note}")
        # --fast's engine, mirroring and tile step, as hipseg segment uses them
        used = self.segment_options.effective()
        self.model = Model(model_dir, used.model, used, self.threads)
        self.say(
            f"model {self.model.name} ({', '.join(self.model.folds)}) on "
            f"{self.model.device} loaded in {self.model.load_seconds:.1f} s"
        )

    def process(self, path: Path) -> None:
        """One spooled instance: segment it (or log why not) and put its results in the outbox."""
        import pydicom

        k = path.stem
        started = time.time()
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=False, defer_size=1024)
            uid = str(ds.SOPInstanceUID)
            why = matches(ds, self.options)
        except Exception as exc:
            self.spool.log(
                "failed", key=k, error=f"not readable as DICOM ({type(exc).__name__}: {exc})"
            )
            self.spool.finish(k, {"status": "failed", "error": f"not readable as DICOM: {exc}"})
            return
        if why:
            self.spool.log("ignored", key=k, sop_instance_uid=uid, reason=why)
            self.spool.finish(k, {"status": "ignored", "sop_instance_uid": uid, "reason": why})
            return
        try:
            files, entry = self._segment(path, k)
        except Exception as exc:
            error = str(exc) if isinstance(exc, HipsegError) else f"{type(exc).__name__}: {exc}"
            self.spool.log("failed", key=k, sop_instance_uid=uid, error=error)
            self.spool.finish(k, {"status": "failed", "sop_instance_uid": uid, "error": error})
            return
        meta = {
            "sop_instance_uid": uid,
            "received_mtime": path.stat().st_mtime,
            "processed": time.time(),
            "needs_review": entry["needs_review"],
            "review_reasons": entry["review_reasons"],
            "seconds": entry["seconds"],
        }
        self.spool.publish(k, files, meta)
        self.spool.log(
            "processed",
            key=k,
            sop_instance_uid=uid,
            seconds=time.time() - started,
            needs_review=entry["needs_review"],
            reasons=entry["review_reasons"],
            header=entry["header"],
        )
        self.outgoing.set()

    def _segment(self, path: Path, k: str) -> tuple[dict[str, Path], dict]:
        from ..segment.run import _one
        from ..segment.sources import Source
        from .pr import build_sc

        keep: dict = {}
        results = self.spool.root / "results"
        entry = _one(
            Source(k, path, {}),
            self.model,
            self.segment_options,
            self.rule,
            results,
            False,
            quality_rules=self.rules,
            keep=keep,
            catalogue=self.catalogue,
        )
        with open(results / k / "run.json", "w") as f:  # the radiograph's entry, as run.json's
            json.dump({k2: v for k2, v in entry.items() if not k2.startswith("_")}, f, indent=1)
        files = {kind: results / k / f"{kind}.dcm" for kind in ("sr", "pr", "seg")}
        if "sc" in self.options.send:
            from PIL import Image

            it = keep["intake"]
            overlay = Image.open(results / k / "overlay.png")
            sc = build_sc(it.header, overlay, self.model.name, it.spacing_xy, it.patient_right_on)
            sc.save_as(results / k / "sc.dcm")
            files["sc"] = results / k / "sc.dcm"
        return {kind: p for kind, p in files.items() if kind in self.options.send}, entry

    def worker(self) -> None:
        while not self.stop.is_set():
            pending = self.spool.incoming()
            if not pending:
                self.work.wait(0.5)
                self.work.clear()
                continue
            try:
                self.process(pending[0])
            except Exception:  # a bug must not stop the node; the file stays for a restart
                self.say("error while processing:\n" + traceback.format_exc())
                self.stop.wait(1.0)

    # ------------------------------------------------------------------ sending
    def sender(self) -> None:
        while not self.stop.is_set():
            now = time.time()
            due = [p for p in self.spool.outbox() if self.retry_at.get(p.name, (0, 0))[0] <= now]
            if not due:
                self.outgoing.wait(0.5)
                self.outgoing.clear()
                continue
            for folder in due:
                if self.stop.is_set():
                    break
                self.send(folder)

    def send(self, folder: Path) -> bool:
        dest = dict(self.options.destination)
        if not dest.get("ae_title") and not dest.get("stow_url"):
            return False  # no destination: results stay in the outbox
        files = sorted(p for p in folder.glob("*.dcm") if not (folder / f"{p.name}.sent").exists())
        try:
            if dest.get("stow_url"):
                stow(dest["stow_url"], files)
                for p in files:
                    (folder / f"{p.name}.sent").touch()
            else:
                c_store(
                    dest,
                    self.options.ae_title,
                    files,
                    on_stored=lambda p: (folder / f"{p.name}.sent").touch(),
                )
        except Exception as exc:
            _, last = self.retry_at.get(folder.name, (0, 0))
            wait = min(self.options.retry_max_s, last * 2 if last else self.options.retry_initial_s)
            self.retry_at[folder.name] = (time.time() + wait, wait)
            self.spool.log("send_failed", key=folder.name, error=str(exc), retry_in_s=wait)
            return False
        meta = json.loads((folder / "meta.json").read_text())
        sent = sorted(p.name for p in folder.glob("*.dcm"))
        self.retry_at.pop(folder.name, None)
        self.spool.finish(
            folder.name, {"status": "sent", **meta, "sent": sent, "sent_time": time.time()}
        )
        self.spool.log(
            "sent",
            key=folder.name,
            sop_instance_uid=meta["sop_instance_uid"],
            files=sent,
            latency_s=time.time() - meta["received_mtime"],
        )
        return True

    # ------------------------------------------------------------------ running
    def run(self) -> None:
        self.load_model()
        self.start_server()
        left = len(self.spool.incoming()), len(self.spool.outbox())
        self.say(
            f"listening on {self.options.host}:{self.options.port} as "
            f"{self.options.ae_title}; spool {self.spool.root} ({left[0]} to process, "
            f"{left[1]} to send)"
        )
        threads = [
            threading.Thread(target=self.worker, name="hipseg-worker", daemon=True),
            threading.Thread(target=self.sender, name="hipseg-sender", daemon=True),
        ]
        for t in threads:
            t.start()
        try:
            while not self.stop.is_set():
                self.stop.wait(0.5)
        finally:
            self.stop.set()
            self.server.shutdown()
            for t in threads:
                t.join(timeout=30)
            self.say("stopped")


ALL_TRANSFER_SYNTAXES = [
    "1.2.840.10008.1.2.1",  # Explicit VR Little Endian
    "1.2.840.10008.1.2",  # Implicit VR Little Endian
    "1.2.840.10008.1.2.2",  # Explicit VR Big Endian (retired)
    "1.2.840.10008.1.2.1.99",  # Deflated Explicit VR Little Endian
    "1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.4.57",
    "1.2.840.10008.1.2.4.70", "1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81",
    "1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91", "1.2.840.10008.1.2.5",
]  # fmt: skip


def _file_meta_bytes(event) -> bytes:
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


def listen(
    options: ListenOptions,
    model_dir,
    segment_options=None,
    crop_rule=None,
    threads: int | None = None,
) -> None:
    """Run the node until SIGTERM or SIGINT."""
    node = Node(options, model_dir, segment_options, crop_rule, threads)

    def stop(signum, frame):
        node.say(f"signal {signum}: stopping")
        node.stop.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    node.run()
