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
* **Triage** (one thread): an instance that is no image (SR, presentation state, SEG, KO, …: no
  Rows, Columns or pixel data) and hipseg's own results coming back (Manufacturer ``hipseg``, or
  the SOP class of an output) are **ignored**: never answered, so that a PACS that routes
  everything to the node makes no loop. An image that the header gate of :mod:`hipseg.gate`
  refuses is **not assessable** without segmenting it.
* **Segmenting** (the worker process, :mod:`.worker`, one model kept loaded): the other images
  go through ``hipseg segment``'s own path for one radiograph with the same ``gate`` (intake,
  crop, prediction, the content check, measurements, quality flags, SEG, SR, presentation
  state), plus a Secondary Capture of the overlay when ``listen.send`` asks for ``sc``. A film
  the gate refuses is **not assessable**: logged with the check and the reasons, no measurement
  sent; with ``gate.not_assessable: report`` its not-assessed SR and presentation state go back
  (:mod:`hipseg.clinical.notassessed`). A radiograph that takes longer than
  ``listen.timeout_s``, or kills the worker, **fails** alone with the reason; the worker is
  restarted. Results keep the patient's identity: they belong in the patient's record.
* **Sending** (one sender thread): the results named in ``listen.send`` go to
  ``listen.destination`` by C-STORE (or STOW-RS to ``destination.stow_url``). A destination that
  is down is retried with exponential backoff (``retry_initial_s`` doubling up to
  ``retry_max_s``); each file stored is marked, so a retry or a restart sends only the rest.

A restart with the same spool resumes: received but unfinished instances are processed, unsent
results are sent. ``SIGTERM``/``SIGINT`` stop the node after the current step (a radiograph in
the worker stays in the spool).
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, TextIO

from ..errors import HipsegError
from ..options import StageOptions
from .spool import Spool
from .transport import ALL_TRANSFER_SYNTAXES, c_store, file_meta_bytes, stow

MANUFACTURER = "hipseg"  # (hipseg.clinical.sr.MANUFACTURER, hipseg.dicomseg.MANUFACTURER)
OUTPUT_SOP_CLASSES = {
    "sr": "1.2.840.10008.5.1.4.1.1.88.34",  # Comprehensive 3D SR
    "pr": "1.2.840.10008.5.1.4.1.1.11.1",  # Grayscale Softcopy Presentation State
    "seg": "1.2.840.10008.5.1.4.1.1.66.4",  # Segmentation
    "sc": "1.2.840.10008.5.1.4.1.1.7",  # Secondary Capture
}
NON_IMAGE_CLASSES = {  # SOP class UID prefixes of objects that are no film
    "1.2.840.10008.5.1.4.1.1.88.": "a structured report or key object selection",
    "1.2.840.10008.5.1.4.1.1.11.": "a presentation state",
    "1.2.840.10008.5.1.4.1.1.66.": "a segmentation, registration or fiducials",
    "1.2.840.10008.5.1.4.1.1.104.": "an encapsulated document",
}


@dataclass(frozen=True)
class ListenOptions(StageOptions):
    """The ``listen:`` section (which films are answered: the ``gate:`` section)."""

    SECTION: ClassVar[str] = "listen"
    ae_title: str = "HIPSEG"
    host: str = "127.0.0.1"
    port: int = 11112
    calling_ae_titles: tuple = ()
    spool: str = "listen-spool"
    destination: dict = field(default_factory=dict)
    send: tuple = ("sr", "pr", "seg")
    retry_initial_s: float = 2.0
    retry_max_s: float = 300.0
    timeout_s: float = 300.0
    quality: dict = field(default_factory=dict)


def ignored(ds) -> str | None:
    """Why an instance is never answered (None: it is an image, for the gate to judge): no
    image at all, or one of hipseg's own results coming back."""
    sop_class = str(ds.get("SOPClassUID", "") or "")
    manufacturer = str(ds.get("Manufacturer", "") or "").strip()
    if manufacturer.lower() == MANUFACTURER or sop_class in OUTPUT_SOP_CLASSES.values():
        which = f"Manufacturer {manufacturer}" if manufacturer.lower() == MANUFACTURER else (
            f"SOP class {sop_class}")  # fmt: skip
        return f"one of hipseg's own results ({which})"
    for prefix, what in NON_IMAGE_CLASSES.items():
        if sop_class.startswith(prefix):
            return f"not an image: {what} (SOP class {sop_class})"
    missing = [kw for kw in ("Rows", "Columns", "PixelData") if kw not in ds]
    if missing:
        return f"not an image (SOP class {sop_class or 'unknown'}: no {', '.join(missing)})"
    return None


class Node:
    """The node: receiver, triage, worker process and sender around one spool."""

    def __init__(self, options: ListenOptions, model_dir: str | Path, segment_options=None,
                 crop_rule=None, threads: int | None = None, log: TextIO | None = None,
                 gate=None, segmenter: str | None = None):  # fmt: skip
        from ..crop import CropRule
        from ..gate import GateOptions
        from ..segment.run import SegmentOptions
        from .worker import SEGMENTER, Worker

        self.options = options
        self.segment_options = segment_options or SegmentOptions.from_config({})
        if self.segment_options.template:  # a bad catalogue stops the node before its spool
            from ..templating.catalogue import load

            load(self.segment_options.template)
        self.spool = Spool(options.spool)
        self.model_dir, self.threads = Path(model_dir), threads
        self.rule = crop_rule or CropRule.from_config({})
        self.gate = gate or GateOptions()
        self.out = log or sys.stderr
        self.stop = threading.Event()
        self.work = threading.Event()  # something new in incoming/
        self.outgoing = threading.Event()  # something new in outbox/
        self.retry_at: dict[str, tuple[float, float]] = {}  # key -> (next time, last wait)
        self.worker_process = Worker(self._worker_config(), self.stop, segmenter or SEGMENTER)
        self.server = None

    def _worker_config(self) -> dict:
        return {
            "model_dir": str(self.model_dir), "segment": self.segment_options.to_config(),
            "crop": self.rule.to_config(), "gate": self.gate.to_config(),
            "quality": self.options.to_config()["quality"], "threads": self.threads,
            "send": list(self.options.send), "results": str(self.spool.root / "results"),
        }  # fmt: skip

    def say(self, text: str) -> None:
        print(f"hipseg listen: {text}", file=self.out, flush=True)

    # ------------------------------------------------------------------ receiving
    def _on_store(self, event) -> int:
        try:
            uid = str(event.request.AffectedSOPInstanceUID)
            chunks = [
                b"\x00" * 128,
                b"DICM",
                file_meta_bytes(event),
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

    def _callers(self) -> list[str]:
        """``listen.calling_ae_titles``; none is a named error (pynetdicom would take an empty
        list for "anyone")."""
        if not self.options.calling_ae_titles:
            raise HipsegError(
                "listen.calling_ae_titles is empty: every association would be rejected; list "
                "the AE titles allowed to send (the PACS's)"
            )
        return list(self.options.calling_ae_titles)

    def start_server(self):
        from pynetdicom import AE, evt
        from pynetdicom.presentation import AllStoragePresentationContexts
        from pynetdicom.sop_class import Verification

        ae = AE(ae_title=self.options.ae_title)
        for cx in AllStoragePresentationContexts:
            ae.add_supported_context(cx.abstract_syntax, ALL_TRANSFER_SYNTAXES)
        ae.add_supported_context(Verification)
        ae.require_calling_aet = self._callers()
        ae.require_called_aet = True  # the Called AE Title must be ours (listen.ae_title)
        ae.maximum_associations = 16
        ae.network_timeout = ae.acse_timeout = ae.dimse_timeout = 60
        handlers = [(evt.EVT_C_STORE, self._on_store), (evt.EVT_REJECTED, self._on_rejected)]
        try:
            self.server = ae.start_server(
                (self.options.host, self.options.port), block=False, evt_handlers=handlers
            )
        except OSError as exc:
            raise HipsegError(f"cannot listen on {self.options.host}:{self.options.port} "
                              f"(listen.host, listen.port): {exc}") from exc  # fmt: skip
        return self.server

    # ------------------------------------------------------------------ processing
    def start_worker(self, restart: bool = False) -> dict:
        """Start the worker process and wait for its model (logged: ``worker_started``)."""
        info = self.worker_process.start()
        self.spool.log("worker_started", pid=info["pid"], seconds=info["start_s"],
                       restart=restart, model=info["name"])  # fmt: skip
        if info.get("fast"):
            self.say(f"fastest: {info['fast']}")
        self.say(
            f"{'worker restarted: ' if restart else ''}model {info['name']} "
            f"({', '.join(info['folds'])}) on {info['device']} loaded in {info['load_s']:.1f} s "
            f"(worker process {info['pid']} ready in {info['start_s']:.1f} s)"
        )
        return info

    def process(self, path: Path) -> None:
        """One spooled instance: ignore it, refuse it or segment it in the worker; its results
        (or its not-assessed report) to the outbox, or its end state to the ledger."""
        import pydicom

        from ..gate import header as header_gate

        k = path.stem
        started = time.time()
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=False, defer_size=1024)
            uid = str(ds.SOPInstanceUID)
            why = ignored(ds)
            reasons = [] if why else header_gate.reasons(
                ds, path, self.gate, colour=self.rule.colour,
                fallback_spacing=self.rule.fallback_spacing)  # fmt: skip
        except Exception as exc:
            error = f"not readable as DICOM ({type(exc).__name__}: {exc})"
            self.spool.log("failed", key=k, error=error)
            self.spool.finish(k, {"status": "failed", "error": error})
            return
        if why:
            self.spool.log("ignored", key=k, sop_instance_uid=uid, reason=why)
            self.spool.finish(k, {"status": "ignored", "sop_instance_uid": uid, "reason": why})
            return
        if reasons:
            self.not_assessable(path, k, uid, "header", reasons)
            return
        kind, result = self.worker_process.segment(path, k, float(self.options.timeout_s))
        if kind == "not_assessable":
            self.not_assessable(path, k, uid, result["check"], result["reasons"])
        elif kind == "failed":
            self.spool.log("failed", key=k, sop_instance_uid=uid, error=result["error"])
            self.spool.finish(k, {"status": "failed", "sop_instance_uid": uid,
                                  "error": result["error"]})  # fmt: skip
            if result.get("restart"):
                self.start_worker(restart=True)
        else:
            self.processed(path, k, uid, result, time.time() - started)

    def processed(self, path: Path, k: str, uid: str, result: dict, seconds: float) -> None:
        entry = result["entry"]
        meta = {
            "sop_instance_uid": uid,
            "received_mtime": path.stat().st_mtime,
            "processed": time.time(),
            "needs_review": entry["needs_review"],
            "review_reasons": entry["review_reasons"],
            "seconds": entry["seconds"],
        }
        self.spool.publish(k, {kind: Path(p) for kind, p in result["files"].items()}, meta)
        self.spool.log("processed", key=k, sop_instance_uid=uid, seconds=seconds,
                       needs_review=entry["needs_review"], reasons=entry["review_reasons"],
                       header=entry["header"])  # fmt: skip
        self.outgoing.set()

    def not_assessable(self, path: Path, k: str, uid: str, check: str, reasons: list) -> None:
        """A film the gate refused: logged with the check and the reasons; with
        ``gate.not_assessable: report`` its not-assessed SR and presentation state (the kinds of
        ``listen.send`` among them) go to the outbox, else it is finished in the ledger."""
        from ..clinical.notassessed import write_not_assessed
        from ..gate import NotAssessable

        self.spool.log("not_assessable", key=k, sop_instance_uid=uid, check=check,
                       reasons=reasons)  # fmt: skip
        entry = {"status": "not_assessable", "sop_instance_uid": uid, "check": check,
                 "reasons": reasons}  # fmt: skip
        files = {}
        if self.gate.not_assessable == "report" and {"sr", "pr"} & set(self.options.send):
            results = self.spool.root / "results"
            exc = NotAssessable(path, reasons, check)
            model = self.worker_process.info.get("name") or self.segment_options.model
            written = write_not_assessed(results, k, path, exc, model, self.rule.patient_right_on)
            files = {kind: results / f for kind, f in written.items() if kind in self.options.send}
        if not files:
            self.spool.finish(k, entry)
            return
        self.spool.publish(k, files, {**entry, "received_mtime": path.stat().st_mtime,
                                      "processed": time.time()})  # fmt: skip
        self.outgoing.set()

    def worker(self) -> None:
        from .worker import Stopped

        while not self.stop.is_set():
            pending = self.spool.incoming()
            if not pending:
                self.work.wait(0.5)
                self.work.clear()
                continue
            try:
                self.process(pending[0])
            except Stopped:  # the radiograph in hand stays in the spool for a restart
                break
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
            if not files:  # all stored before a kill: only the log and the ledger are left
                pass
            elif dest.get("stow_url"):
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
        status = meta.pop("status", "sent")  # a not-assessed report keeps "not_assessable"
        # logged before the ledger: a kill between the two leaves the folder (every file
        # marked), and the restart finishes it without a second event; a kill before the log
        # leaves no event, and the restart logs it once
        if files or not self.spool.logged("sent", folder.name):
            self.spool.log(
                "sent",
                key=folder.name,
                sop_instance_uid=meta["sop_instance_uid"],
                files=sent,
                latency_s=time.time() - meta["received_mtime"],
            )
        self.spool.finish(
            folder.name, {"status": status, **meta, "sent": sent, "sent_time": time.time()}
        )
        return True

    # ------------------------------------------------------------------ running
    def run(self) -> None:
        from .worker import Stopped

        self._callers()  # before the model loads: a wrong setting fails at once
        try:
            self.start_worker()
        except Stopped:  # a signal while the model loads
            self.say("stopped")
            return
        threads = [
            threading.Thread(target=self.worker, name="hipseg-worker", daemon=True),
            threading.Thread(target=self.sender, name="hipseg-sender", daemon=True),
        ]
        try:  # from here on, whatever happens, the worker process is ended with the node
            self.start_server()
            left = len(self.spool.incoming()), len(self.spool.outbox())
            self.say(
                f"listening on {self.options.host}:{self.options.port} as "
                f"{self.options.ae_title}; spool {self.spool.root} ({left[0]} to process, "
                f"{left[1]} to send); timeout {self.options.timeout_s:g} s per radiograph"
            )
            for t in threads:
                t.start()
            while not self.stop.is_set():
                self.stop.wait(0.5)
        finally:
            self.stop.set()
            if self.server is not None:
                self.server.shutdown()
            for t in threads:
                if t.is_alive():
                    t.join(timeout=30)
            self.worker_process.close()
            self.say("stopped")


def _mapping(text: str | None, flag: str) -> dict:
    """A JSON object given as a flag's value ({} when the flag is absent)."""
    try:
        value = json.loads(text) if text else {}
    except json.JSONDecodeError as exc:
        raise HipsegError(f"{flag}: not valid JSON ({exc})") from exc
    if not isinstance(value, dict):
        raise HipsegError(f"{flag}: must be a JSON object, got {type(value).__name__}")
    return value


def settings(config_path: str | None, options: str | None = None,
             segment: str | None = None, crop: str | None = None, gate: str | None = None,
             flags: dict | None = None) -> tuple:  # fmt: skip
    """The node's options, segment options, crop rule and gate: the ``listen``, ``segment``,
    ``crop`` and ``gate`` sections of the workflow config YAML at ``config_path`` (optional),
    each with the command line's JSON (``--options``, ``--segment``, ``--crop``, ``--gate``)
    over it, and the ``listen`` option flags (``flags``) over that."""
    import yaml

    from ..crop import CropRule
    from ..gate import GateOptions
    from ..segment.run import SegmentOptions

    config = {}
    if config_path:
        try:
            config = yaml.safe_load(open(config_path, encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise HipsegError(f"{config_path}: cannot be read as a YAML config ({exc})") from exc
        if not isinstance(config, dict):
            raise HipsegError(f"{config_path}: is not a YAML mapping of config sections")
    values = {**(config.get("listen") or {}), **_mapping(options, "--options"), **(flags or {})}
    scheduling = ("enabled", "threads", "resources")  # the workflow's, not the node's
    segment_values = {k: v for k, v in (config.get("segment") or {}).items() if k not in scheduling}
    return (
        ListenOptions.from_config(values, source="hipseg listen options"),
        SegmentOptions.from_config(segment_values | _mapping(segment, "--segment"),
                                   source="hipseg listen segment options"),
        CropRule.from_config({**(config.get("crop") or {}), **_mapping(crop, "--crop")},
                             source="hipseg listen crop rule"),
        # the workflow's gate, as hipseg segment and the intake use it; --gate over it
        GateOptions.from_config({**(config.get("gate") or {}), **_mapping(gate, "--gate")},
                                source="hipseg listen gate (--config, --gate)"),
    )  # fmt: skip


def listen(options: ListenOptions, model_dir, segment_options=None, crop_rule=None,
           threads: int | None = None, gate=None) -> None:  # fmt: skip
    """Run the node until SIGTERM or SIGINT."""
    node = Node(options, model_dir, segment_options, crop_rule, threads, gate=gate)

    def stop(signum, frame):
        node.say(f"signal {signum}: stopping")
        node.stop.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    node.run()
