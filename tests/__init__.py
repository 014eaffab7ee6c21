"""hipseg's tests (``make test``)."""

from __future__ import annotations

import json
import os
from typing import NoReturn

import pytest

# The tests' models (tests/conftest.py tiny_model, the tiny run's) are trained for seconds: their
# label maps are no anatomy, and the gate's content check (hipseg.gate.content, tested on true
# and on wrong label maps in tests/test_gate.py) refuses every film they segment. Tests of what
# hipseg segment writes, reads and sends switch that one check off; the header gate stays on.
NO_CONTENT_CHECK = {"content": False}
NO_CONTENT_FLAGS = ["--gate", json.dumps(NO_CONTENT_CHECK)]


def tool_missing(reason: str) -> NoReturn:
    """A system tool a test needs is missing: with ``CI=true`` (where ``make test`` installs it)
    the test fails, elsewhere it is skipped, with the reason either way."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but {reason}")
    pytest.skip(reason)
