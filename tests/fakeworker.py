"""A stand-in for the node's segmenter (``hipseg.node.worker.Segmenter``) in its worker process,
for the tests of the time budget and of a dying worker without a model (tests/test_listen_queue.py).

It answers every radiograph as processed (no files), except those whose SOP Instance UID it was
told to be slow on (it sleeps for an hour), to crash on (it kills itself with SIGKILL, as the
kernel's out-of-memory killer does) or to refuse (not assessable by the content check)."""

from __future__ import annotations

import os
import signal
import time


class FakeSegmenter:
    def __init__(self, slow=(), crash=(), refuse=(), fail_to_load: str = "", **_):
        if fail_to_load:
            from hipseg.errors import HipsegError

            raise HipsegError(fail_to_load)
        self.slow, self.crash, self.refuse = set(slow), set(crash), set(refuse)

    def describe(self) -> dict:
        return {"name": "fake", "folds": ["all"], "device": "cpu", "load_s": 0.0, "fast": None}

    def outcome(self, path: str, k: str) -> tuple[str, dict]:
        import pydicom

        uid = str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID)
        if uid in self.slow:
            time.sleep(3600)
        if uid in self.crash:
            os.kill(os.getpid(), signal.SIGKILL)
        if uid in self.refuse:
            return "not_assessable", {"check": "content", "reasons": ["no adult hips (fake)"]}
        entry = {"needs_review": False, "review_reasons": [], "seconds": {}, "header": []}
        return "processed", {"files": {}, "entry": entry}
