"""Test-only fault injection for tests/test_listen.py (never on hipseg's own path): with
``HIPSEG_TEST_SLOW_UID`` set, the radiograph with that SOP Instance UID takes an hour in
``hipseg.segment.run._one``, so that it exceeds the node's ``listen.timeout_s``.

Python imports ``sitecustomize`` at start-up from the first folder of ``sys.path`` that has one;
the test puts this folder first on the node's ``PYTHONPATH``, which its worker process inherits.
``_one`` is wrapped right after its module is imported (a finder first on ``sys.meta_path``), so
that the worker's ``from ..segment.run import _one`` gets the slow one. Nothing is changed
without the variable, and nothing in any other process."""

from __future__ import annotations

import os
import sys

UID = os.environ.get("HIPSEG_TEST_SLOW_UID", "")
MODULE = "hipseg.segment.run"


class _SlowOne:
    """A finder that wraps ``_one`` of :data:`MODULE` when that module is executed."""

    def find_spec(self, name, path, target=None):
        if name != MODULE:
            return None
        from importlib.machinery import PathFinder

        spec = PathFinder.find_spec(name, path)
        execute = spec.loader.exec_module

        def exec_module(module):
            execute(module)
            one = module._one

            def slow_one(src, *args, **kwargs):
                import time

                import pydicom

                if str(pydicom.dcmread(src.path, stop_before_pixels=True).SOPInstanceUID) == UID:
                    time.sleep(3600)
                return one(src, *args, **kwargs)

            module._one = slow_one

        spec.loader.exec_module = exec_module
        return spec


if UID:
    sys.meta_path.insert(0, _SlowOne())
