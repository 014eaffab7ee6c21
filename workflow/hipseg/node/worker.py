"""The node's worker process: the loaded model, one radiograph at a time, within a time budget.

The node segments in a separate process so that one radiograph cannot stall or take down the
node. The worker is started once with the ``spawn`` method (a fresh interpreter: none of the
node's threads, sockets or locks inherited), loads the model and answers one request at a time
over a pipe: a spooled file in, an outcome out (:meth:`Segmenter.outcome`). The node keeps
receiving and sending meanwhile. A radiograph that takes longer than ``listen.timeout_s``, or a
worker that dies (a crash, the kernel's out-of-memory killer), costs that radiograph alone: the
node fails it with the reason, kills the worker and starts a new one (the model loaded again).

On Linux the worker asks the kernel to kill it when the node dies (``PR_SET_PDEATHSIG``), so a
node killed with SIGKILL leaves no worker behind; elsewhere it ends when the pipe closes.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import sys
import threading
import time
from pathlib import Path

from ..errors import HipsegError
from ..gate import NotAssessable

SEGMENTER = "hipseg.node.worker:Segmenter"


class Segmenter:
    """The worker's side: the model, loaded once, and ``hipseg segment``'s path for one
    radiograph (:func:`hipseg.segment.run._one`: the gate, intake, crop, prediction, the
    content check, measurements, quality flags, SEG, SR, presentation state), plus a Secondary
    Capture of the overlay when ``sc`` is among the kinds sent. Built from plain config values
    (``model_dir``, the ``segment``, ``crop``, ``gate`` sections, ``listen.quality``)."""

    def __init__(self, model_dir: str, segment: dict, crop: dict, gate: dict, quality: dict,
                 threads: int | None, send: list[str], results: str, say=None):  # fmt: skip
        from ..clinical.quality import QualityRules
        from ..crop import CropRule
        from ..gate import GateOptions
        from ..segment.model import Model, fast_model_dir
        from ..segment.run import SegmentOptions

        self.options = SegmentOptions.from_config(segment)
        self.rule = CropRule.from_config(crop)
        self.gate = GateOptions.from_config(gate)
        self.rules = QualityRules.from_config(quality)
        self.send, self.results = list(send), Path(results)
        self.note, self.catalogue = None, None
        if self.options.template:  # the implant catalogue, read once (checked by the node)
            from ..templating.catalogue import load

            self.catalogue = load(self.options.template)
        if self.options.fastest:  # the coarser 2d_lowres model beside the folder
            model_dir, self.note = fast_model_dir(Path(model_dir), self.options.model)
        # --fast's or --fastest's engine, mirroring and tile step, as hipseg segment uses them
        used = self.options.effective()
        self.model = Model(Path(model_dir), used.model, used, threads)

    def describe(self) -> dict:
        m = self.model
        return {"name": m.name, "folds": list(m.folds), "device": str(m.device),
                "load_s": m.load_seconds, "fast": self.note}  # fmt: skip

    def outcome(self, path: str, k: str) -> tuple[str, dict]:
        """("processed", {files, entry}), ("not_assessable", {check, reasons}) or
        ("failed", {error}) for the spooled file ``path`` (key ``k``)."""
        try:
            files, entry = self.segment(Path(path), k)
        except NotAssessable as exc:
            return "not_assessable", {"check": exc.check, "reasons": list(exc.reasons)}
        except Exception as exc:
            error = str(exc) if isinstance(exc, HipsegError) else f"{type(exc).__name__}: {exc}"
            return "failed", {"error": error}
        return "processed", {"files": {kind: str(p) for kind, p in files.items()}, "entry": entry}

    def segment(self, path: Path, k: str) -> tuple[dict[str, Path], dict]:
        from ..clinical.pr import build_sc
        from ..segment.run import _one
        from ..segment.sources import Source

        keep: dict = {}
        entry = _one(Source(k, path, {}), self.model, self.options, self.rule, self.results,
                     False, quality_rules=self.rules, keep=keep, gate=self.gate,
                     catalogue=self.catalogue)  # fmt: skip
        entry = {key: v for key, v in entry.items() if not key.startswith("_")}
        with open(self.results / k / "run.json", "w") as f:  # the radiograph's entry
            json.dump(entry, f, indent=1)
        files = {kind: self.results / k / f"{kind}.dcm" for kind in ("sr", "pr", "seg")}
        if "sc" in self.send:
            from PIL import Image

            it = keep["intake"]
            overlay = Image.open(self.results / k / "overlay.png")
            sc = build_sc(it.header, overlay, self.model.name, it.spacing_xy, it.patient_right_on)
            sc.save_as(self.results / k / "sc.dcm")
            files["sc"] = self.results / k / "sc.dcm"
        return {kind: p for kind, p in files.items() if kind in self.send}, entry


def _die_with_parent(parent: int) -> None:
    """Linux: SIGKILL this process when the thread that started it ends (PR_SET_PDEATHSIG)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: the closed pipe ends the worker
        pass
    if os.getppid() != parent:  # the node died before the line above
        os._exit(1)


def serve(conn, factory: str, config: dict, parent: int) -> None:
    """The worker process: build the segmenter, say ready, answer requests until told to stop
    (None) or the pipe closes."""
    from importlib import import_module

    _die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the node, which ends us
    try:
        module, name = factory.split(":")
        segmenter = getattr(import_module(module), name)(**config)
    except Exception as exc:
        text = str(exc) if isinstance(exc, HipsegError) else f"{type(exc).__name__}: {exc}"
        conn.send(("load_failed", text))
        return
    conn.send(("ready", segmenter.describe()))
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            job = None
        if job is None:  # nothing to save (every output is written atomically): end at once,
            sys.stdout.flush()  # without seconds of interpreter and torch teardown
            sys.stderr.flush()
            os._exit(0)
        conn.send(segmenter.outcome(*job))


class Stopped(Exception):
    """The node is stopping: the radiograph in hand stays in the spool."""


class Worker:
    """The node's side of the worker process: start it, hand it one radiograph with a time
    budget, kill and restart it when it overruns or dies."""

    def __init__(self, config: dict, stop: threading.Event, factory: str = SEGMENTER):
        self.config, self.stop, self.factory = config, stop, factory
        self.context = multiprocessing.get_context("spawn")
        self.proc = self.conn = None
        self.info: dict = {}

    def alive(self) -> bool:
        return self.proc is not None and self.proc.is_alive()

    def start(self) -> dict:
        """Start the worker and wait until its model is loaded; its description, with
        ``start_s`` (process start and model load). HipsegError when it cannot load the model."""
        self.kill()
        t0 = time.perf_counter()
        conn, child = self.context.Pipe()
        args = (child, self.factory, self.config, os.getpid())
        proc = self.context.Process(target=serve, args=args, name="hipseg-worker", daemon=False)
        proc.start()
        child.close()
        self.proc, self.conn = proc, conn
        kind, payload = self._answer(None)
        if kind == "ready":
            self.info = {**payload, "start_s": time.perf_counter() - t0, "pid": proc.pid}
            return self.info
        self.kill()
        if kind == "load_failed":
            raise HipsegError(f"the worker process cannot load the model: {payload}")
        raise HipsegError(f"the worker process ended while loading the model ({payload})")

    def segment(self, path: Path, k: str, timeout: float) -> tuple[str, dict]:
        """The outcome of one radiograph (:meth:`Segmenter.outcome`); ("failed", {error,
        restart: True}) when it took longer than ``timeout`` seconds or the worker died (the
        worker is then killed: :meth:`start` it again). :class:`Stopped` when the node stops."""
        if not self.alive():
            self.start()
        try:
            self.conn.send((str(path), k))
        except OSError:
            pass  # it died just now: _answer says how
        kind, payload = self._answer(timeout)
        if kind in ("timeout", "died"):
            self.kill()
            return "failed", {"error": payload, "restart": True}
        return kind, payload

    def _answer(self, timeout: float | None) -> tuple[str, object]:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self.stop.is_set():
                self.kill()
                raise Stopped
            left = 0.5 if deadline is None else min(0.5, deadline - time.monotonic())
            if left <= 0:
                return "timeout", f"exceeded listen.timeout_s ({timeout:g} s)"
            try:
                if self.conn.poll(left):
                    return self.conn.recv()
            except (EOFError, OSError):
                pass  # the pipe closed: the process ended
            else:
                if self.proc.is_alive():
                    continue
            self.proc.join(timeout=5)
            if self.stop.is_set():  # ended by the same signal that stops the node
                raise Stopped
            return "died", f"the worker process died ({_exit_reason(self.proc.exitcode)})"

    def kill(self) -> None:
        if self.proc is not None:
            if self.proc.is_alive():
                self.proc.kill()
            self.proc.join(timeout=30)
            self.conn.close()
        self.proc = self.conn = None

    def close(self) -> None:
        """Ask the worker to end, then make sure it has."""
        if self.alive():
            try:
                self.conn.send(None)
                self.proc.join(timeout=5)
            except OSError:
                pass
        self.kill()


def _exit_reason(code: int | None) -> str:
    if code is None:
        return "exit code unknown"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        why = " (the kernel's out-of-memory killer sends SIGKILL)" if code == -9 else ""
        return f"exit code {code}: killed by {name}{why}"
    return f"exit code {code}"
