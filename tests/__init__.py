"""hipseg's tests (``make test``)."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def tool_missing(reason: str) -> NoReturn:
    """A system tool a test needs is missing: with ``CI=true`` (where ``make test`` installs it)
    the test fails, elsewhere it is skipped, with the reason either way."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but {reason}")
    pytest.skip(reason)
