#!/usr/bin/env python3
"""Snakemake cluster-generic submit command for OpenPBS (MetaCentrum): `pbs-submit.py JOBSCRIPT`
prints the PBS job id. The logic lives in workflow/hipseg/pbs.py (standard library only)."""

import sys
from pathlib import Path

HERE = Path(__file__).absolute().parent
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "workflow"))
from hipseg.pbs import submit_main  # noqa: E402

sys.exit(submit_main(sys.argv[1:], profile_dir=HERE))
