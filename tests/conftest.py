"""Shared fixtures: a small synthetic demo dataset generated once per test session."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def demo_data(tmp_path_factory) -> Path:
    """A small synthetic demo (DICOM + label maps + sample sheet); returns the sheet path."""
    from hipseg import synth

    out = tmp_path_factory.mktemp("demo")
    return synth.generate(out, preset="demo", seed=3, n_patients=6)


@pytest.fixture
def demo_copy(demo_data, tmp_path) -> Path:
    """A private copy of the demo data that a test may damage; returns the sheet path."""
    dst = tmp_path / "demo"
    shutil.copytree(demo_data.parent, dst)
    return dst / demo_data.name


@pytest.fixture(scope="session")
def snakemake_env() -> dict[str, str]:
    """Environment for subprocess runs of snakemake and hipseg from this checkout."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO / "workflow") + os.pathsep + env.get("PYTHONPATH", "")
    return env


def crop_all(sheet: Path, out: Path) -> list[Path]:
    """Crop every radiograph of a sample sheet (demo key pseudonyms); return the manifests."""
    from hipseg import deid, samplesheet
    from hipseg.crop import CropRule, crop_case

    manifests = []
    for row in samplesheet.read(sheet).itertuples():
        crop_case(
            row.id,
            row.dicom,
            row.labels,
            row.hips,
            out / row.id,
            CropRule.from_config({}),
            deid.pseudonym(deid.DEMO_KEY, row.patient),
            row.split,
            row.note,
        )
        manifests.append(out / row.id / "manifest.json")
    return manifests
