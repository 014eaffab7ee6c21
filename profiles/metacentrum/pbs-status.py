#!/usr/bin/env python3
"""Snakemake cluster-generic status command for OpenPBS (MetaCentrum): `pbs-status.py JOBID`
prints running, success or failed and always exits 0 (a non-zero exit would stop Snakemake).
The logic lives in workflow/hipseg/pbs.py (standard library only)."""

import sys

try:
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "workflow"))
    from hipseg.pbs import status_main

    status_main(sys.argv[1:])
except BaseException as exc:  # noqa: BLE001 - must never fail, whatever went wrong
    print(f"hipseg pbs-status: {exc!r}; reporting running", file=sys.stderr)
    print("running")
sys.exit(0)
