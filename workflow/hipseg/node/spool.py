"""The node's on-disk queue: every state a received instance passes through is a file.

::

    SPOOL/incoming/<key>.dcm       received, fsynced and renamed into place before C-STORE success
    SPOOL/outbox/<key>/            results waiting to be sent (sr.dcm, pr.dcm, seg.dcm, sc.dcm;
                                   a not-assessed report's sr.dcm, pr.dcm), ``<file>.sent`` once
                                   the destination stored that file
    SPOOL/results/<key>/           ``hipseg segment``'s outputs of the radiograph (kept)
    SPOOL/ledger/<key>.json        the end state of an instance: sent, ignored (no image, or
                                   hipseg's own result), not_assessable (the gate's check and
                                   reasons; what was sent of its report) or failed (damaged, over
                                   the time budget, the worker died: the error)
    SPOOL/log.jsonl                one line per event (received, duplicate, processed, sent, …)

``<key>`` is a file-name-safe digest of the SOP Instance UID. An instance with a ledger entry,
an incoming file or an outbox folder is known: receiving it again is a duplicate and is
acknowledged without queueing it twice. A restart finds every unfinished state on disk: incoming
files are processed, outbox folders are sent (files already marked sent are not sent again).
A folder is written as ``.<name>.partial`` and renamed when complete, so a kill leaves either
nothing or the whole folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
import time
from pathlib import Path

STATES = ("incoming", "outbox", "results", "ledger", "tmp")


def key(sop_instance_uid: str) -> str:
    uid = str(sop_instance_uid).strip().rstrip("\x00")
    return hashlib.sha256(uid.encode()).hexdigest()[:32]


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def durable_write(path: Path, data: bytes | list[bytes], tmp_dir: Path) -> None:
    """Write ``data`` to ``path`` atomically and durably: a temporary file in ``tmp_dir`` (the
    same file system), fsync, rename, fsync of the folder."""
    tmp = tmp_dir / f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp"
    with open(tmp, "wb") as f:
        for chunk in [data] if isinstance(data, bytes) else data:
            f.write(chunk)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


class Spool:
    def __init__(self, root: str | Path):
        self.root = Path(root)
        for state in STATES:
            (self.root / state).mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.root / "tmp", ignore_errors=True)  # leftovers of a killed node
        (self.root / "tmp").mkdir()
        for partial in (self.root / "outbox").glob(".*.partial"):
            shutil.rmtree(partial, ignore_errors=True)
        self.lock = threading.Lock()

    def path(self, state: str, k: str, suffix: str = "") -> Path:
        return self.root / state / f"{k}{suffix}"

    def known(self, k: str) -> str | None:
        """The state of an instance we already have, or None."""
        for state, suffix in (("ledger", ".json"), ("outbox", ""), ("incoming", ".dcm")):
            if self.path(state, k, suffix).exists():
                return state
        return None

    def receive(self, sop_instance_uid: str, chunks: list[bytes]) -> tuple[str, bool]:
        """Spool a received instance durably; (key, True) if new, (key, False) if known."""
        k = key(sop_instance_uid)
        with self.lock:
            if self.known(k):
                return k, False
            durable_write(self.path("incoming", k, ".dcm"), chunks, self.root / "tmp")
        return k, True

    def incoming(self) -> list[Path]:
        files = [p for p in (self.root / "incoming").glob("*.dcm")]
        return sorted(files, key=lambda p: (p.stat().st_mtime_ns, p.name))

    def outbox(self) -> list[Path]:
        return sorted(p for p in (self.root / "outbox").iterdir() if not p.name.startswith("."))

    def finish(self, k: str, entry: dict) -> None:
        """Write the ledger entry of ``k``, then drop its incoming file and outbox folder."""
        data = json.dumps(entry, indent=1, sort_keys=True).encode()
        durable_write(self.path("ledger", k, ".json"), data, self.root / "tmp")
        self.path("incoming", k, ".dcm").unlink(missing_ok=True)
        shutil.rmtree(self.path("outbox", k), ignore_errors=True)

    def publish(self, k: str, files: dict[str, Path], meta: dict) -> Path:
        """Put results in the outbox (atomically: a partial folder renamed), then drop the
        incoming file: from here a restart only sends."""
        final = self.path("outbox", k)
        tmp = self.root / "outbox" / f".{k}.partial"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        for kind, src in files.items():
            shutil.copyfile(src, tmp / f"{kind}.dcm")
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1, sort_keys=True))
        for f in tmp.iterdir():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
        fsync_dir(tmp)
        os.replace(tmp, final)
        fsync_dir(final.parent)
        self.path("incoming", k, ".dcm").unlink(missing_ok=True)
        return final

    def log(self, event: str, **fields) -> None:
        line = json.dumps({"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "event": event, **fields})
        with self.lock, open(self.root / "log.jsonl", "a", encoding="utf-8") as f:
            f.write(line + "\n")
            f.flush()
            os.fsync(f.fileno())

    def logged(self, event: str, k: str) -> bool:
        """Whether the log has ``event`` for ``k`` (read after a kill, to log it only once)."""
        return any(e["event"] == event and e.get("key") == k for e in self.events())

    def events(self) -> list[dict]:
        path = self.root / "log.jsonl"
        if not path.exists():
            return []
        out = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:  # a line cut by a kill
                continue
        return out
