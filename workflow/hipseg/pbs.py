"""OpenPBS (MetaCentrum) glue for Snakemake's cluster-generic executor: the qsub line of a job,
the job wrapper (``$SCRATCHDIR`` as ``TMPDIR``, ``clean_scratch``), and the job status from
``qstat -x -f -F json``.

The scripts in ``profiles/metacentrum`` are thin callers of :func:`submit_main` and
:func:`status_main`. This module uses the standard library only, so that those scripts also run
under a frontend's system ``python3``.

Resources a job may carry (Snakemake's ``resources``; see config/README.md):

======================  ==================================================================
``threads``             ``ncpus``
``mem_mb``              ``mem`` (Snakemake's ``mem_mib``, i.e. PBS's binary ``mb``)
``runtime`` (minutes)   ``walltime=HH:MM:SS``
``gpu``                 ``ngpus`` (left out when 0: CPU-only jobs request no GPU)
``gpu_mem_mb``          ``gpu_mem`` (GPU jobs only; left out when 0)
``scratch_mb``          ``scratch_local``
``pbs_queue``           ``-q`` (left out when empty: the server routes the job)
======================  ==================================================================
"""

from __future__ import annotations

import json
import math
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

SUCCESS, FAILED, RUNNING = "success", "failed", "running"

# PBS Professional / OpenPBS exit statuses below zero: the job was not run to its end by its own
# program (Administrator's Guide, "Job Exit Status Codes"). Above 256: killed by signal N-256.
EXIT_STATUS_MEANING = {
    0: "success",
    -1: "could not start (JOB_EXEC_FAIL1)",
    -2: "could not start (JOB_EXEC_FAIL2)",
    -3: "requeued for retry (JOB_EXEC_RETRY)",
    -11: "rerun (JOB_EXEC_RERUN)",
    -26: "killed for exceeding vmem (JOB_EXEC_KILL_VMEM)",
    -27: "killed for exceeding mem (JOB_EXEC_KILL_MEM)",
    -28: "killed for exceeding cput (JOB_EXEC_KILL_CPUT)",
    -29: "killed at walltime (JOB_EXEC_KILL_WALLTIME)",
}
# job states: Q queued, H held, W waiting, T transiting, R running, S suspended, U user-suspended,
# E exiting, B array begun, X array subjob finished, F finished, M moved to another server
ACTIVE_STATES = set("QHWTRSUEB")
FINISHED_STATES = set("FX")
# qstat's exit status for "Unknown Job Id": 35 as observed on MetaCentrum; 153 is PBSE_UNKJOBID
# (15001) modulo 256, which other OpenPBS builds return. The message is matched as well.
UNKNOWN_JOB_EXITS = (35, 153)
MB_PER_MIB = 1_000_000 / 2**20


class PBSError(ValueError):
    """A job's properties cannot be turned into a qsub line."""


# --------------------------------------------------------------------------- submission


def read_job_properties(jobscript: str | Path) -> dict:
    """The job properties Snakemake writes into line 2 of every job script
    (``# properties = {json}``)."""
    for line in Path(jobscript).read_text().splitlines()[:5]:
        if line.startswith("# properties = "):
            return json.loads(line[len("# properties = ") :])
    raise PBSError(f"{jobscript}: no '# properties = ' line (not a Snakemake job script?)")


def walltime(minutes) -> str:
    """Snakemake's runtime (minutes) as PBS walltime ``HH:MM:SS`` (hours may exceed 24)."""
    try:
        total = int(math.ceil(float(minutes) * 60))
    except (TypeError, ValueError) as exc:
        raise PBSError(f"runtime must be a number of minutes, got {minutes!r}") from exc
    if total <= 0:
        raise PBSError(f"runtime must be positive, got {minutes!r}")
    return f"{total // 3600:02d}:{total % 3600 // 60:02d}:{total % 60:02d}"


def _int_resource(resources: dict, name: str, default: int = 0) -> int:
    value = resources.get(name, default)
    if value in (None, ""):
        return default
    try:
        number = int(value)
    except (TypeError, ValueError) as exc:
        raise PBSError(f"resource {name} must be an integer, got {value!r}") from exc
    if number < 0:
        raise PBSError(f"resource {name} must not be negative, got {value!r}")
    return number


def _mib(mb: int) -> int:
    return int(math.ceil(mb * MB_PER_MIB))


def job_name(props: dict) -> str:
    """``hipseg.<rule>[.<wildcard values>]``, restricted to the characters PBS accepts."""
    rule = props.get("rule") or props.get("groupid") or "job"
    parts = [str(rule), *(str(v) for v in (props.get("wildcards") or {}).values())]
    name = re.sub(r"[^A-Za-z0-9_.+-]", "_", ".".join(["hipseg", *parts]))
    return name[:230]


def select_statement(props: dict) -> str:
    """``select=1:ncpus=…[:ngpus=…]:mem=…mb[:scratch_local=…mb][:gpu_mem=…mb]``."""
    res = props.get("resources") or {}
    ncpus = int(props.get("threads") or 1)
    gpus = _int_resource(res, "gpu")
    mem_mib = _int_resource(res, "mem_mib") or _mib(_int_resource(res, "mem_mb"))
    if mem_mib <= 0:
        raise PBSError(f"rule {props.get('rule')}: no memory (mem_mb) resource")
    chunk = [f"select=1:ncpus={ncpus}"]
    if gpus:
        chunk.append(f"ngpus={gpus}")
    chunk.append(f"mem={mem_mib}mb")
    scratch = _int_resource(res, "scratch_mb")
    if scratch:
        chunk.append(f"scratch_local={_mib(scratch)}mb")
    gpu_mem = _int_resource(res, "gpu_mem_mb")
    if gpus and gpu_mem:
        chunk.append(f"gpu_mem={_mib(gpu_mem)}mb")
    return ":".join(chunk)


def qsub_args(props: dict, log_file: str | Path) -> list[str]:
    """The qsub arguments (without the script) for one Snakemake job."""
    res = props.get("resources") or {}
    if res.get("runtime") in (None, ""):
        raise PBSError(f"rule {props.get('rule')}: no runtime resource (minutes)")
    args = ["qsub", "-N", job_name(props)]
    queue = str(res.get("pbs_queue") or "").strip()
    if queue:
        args += ["-q", queue]
    args += ["-l", select_statement(props), "-l", f"walltime={walltime(res['runtime'])}"]
    args += ["-j", "oe", "-o", str(log_file)]
    return args


WRAPPER = """\
#!/bin/bash
# hipseg: PBS job wrapper around Snakemake's job script (written by hipseg.pbs)
# The job's temporary files go to the node's scratch, which is cleaned however the job ends;
# its results (and nnU-Net's checkpoints) are written to the shared working directory.
if [ -n "${{SCRATCHDIR:-}}" ]; then
    export TMPDIR="$SCRATCHDIR"
    trap 'clean_scratch 2>/dev/null || rm -rf "${{SCRATCHDIR:?}}"/* 2>/dev/null; true' EXIT
    trap 'exit 143' TERM
fi
{path}{prologue}
{jobscript}
"""


def wrapper_script(jobscript_text: str, prologue: str = "") -> str:
    """The script qsub receives: scratch setup, the profile's prologue (software on the node),
    then Snakemake's job script."""
    body = "\n".join(line for line in jobscript_text.splitlines() if not line.startswith("#!"))
    # PBS starts jobs with a login environment: put the bin folder of the Python that runs
    # Snakemake (named in the job script) first in PATH, so the rules' `python` is that one too
    path = ""
    m = re.search(r"(\S+)/python[0-9.]* -m snakemake", body)
    if m:
        path = f'export PATH={shlex.quote(m.group(1))}:"$PATH"\n'
    return WRAPPER.format(path=path, prologue=prologue.strip(), jobscript=body.strip())


def submit(
    jobscript: str | Path,
    log_dir: str | Path,
    prologue_file: str | Path | None = None,
    run=subprocess.run,
) -> str:
    """Submit one Snakemake job script with qsub; return the PBS job id."""
    jobscript = Path(jobscript)
    props = read_job_properties(jobscript)
    name = job_name(props)
    log_dir = Path(log_dir).absolute()
    log_dir.mkdir(parents=True, exist_ok=True)
    log_file = log_dir / f"{name}.{time.strftime('%Y%m%dT%H%M%S')}.{os.getpid()}.log"
    prologue = Path(prologue_file).read_text() if prologue_file else ""
    script = jobscript.with_name(jobscript.name + ".pbs.sh")
    script.write_text(wrapper_script(jobscript.read_text(), prologue))
    args = [*qsub_args(props, log_file), str(script)]
    proc = run(args, capture_output=True, text=True)
    if proc.returncode != 0:
        raise PBSError(f"{shlex.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
    job_id = proc.stdout.strip().splitlines()[-1].strip() if proc.stdout.strip() else ""
    if not job_id:
        raise PBSError(f"{shlex.join(args)} printed no job id")
    return job_id


def submit_main(argv: list[str] | None = None, profile_dir: str | Path | None = None) -> int:
    """``pbs-submit.py JOBSCRIPT``: print the job id (Snakemake reads it), errors to stderr."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: pbs-submit.py JOBSCRIPT", file=sys.stderr)
        return 2
    profile_dir = Path(profile_dir) if profile_dir else Path(__file__).parent
    prologue = profile_dir / "job-prologue.sh"
    log_dir = os.environ.get("HIPSEG_PBS_LOGDIR", ".snakemake/pbs_logs")
    try:
        print(submit(argv[0], log_dir, prologue if prologue.is_file() else None))
    except (PBSError, OSError) as exc:
        print(f"hipseg pbs-submit: error: {exc}", file=sys.stderr)
        return 1
    return 0


# --------------------------------------------------------------------------- status


def parse_qstat_json(text: str, job_id: str) -> dict | None:
    """The attributes of ``job_id`` in ``qstat -f -F json`` output, or None when absent.
    Job ids are matched exactly, then by their number (the server part may be spelled
    differently, e.g. a short host name)."""
    data = json.loads(text)
    jobs = data.get("Jobs") or {}
    if job_id in jobs:
        return jobs[job_id]
    number = job_id.split("@")[0].split(".")[0]
    for key, attrs in jobs.items():
        if key.split(".")[0] == number:
            return attrs
    return None


def moved_to(attrs: dict, asked: str = "") -> str | None:
    """The server a moved job (state M) went to: from its ``queue`` attribute (``queue@server``),
    else from a ``server`` attribute that differs from the server asked."""
    queue = str(attrs.get("queue") or "")
    if "@" in queue:
        return queue.split("@", 1)[1]
    server = str(attrs.get("server") or "")
    asked_server = asked.split("@", 1)[1] if "@" in asked else asked.partition(".")[2]
    if server and server != asked_server:
        return server
    return None


def state_of(attrs: dict) -> str:
    """running / success / failed for one job's attributes (not for a moved job)."""
    state = str(attrs.get("job_state", "")).strip()
    if state in FINISHED_STATES:
        status = attrs.get("Exit_status")
        try:
            return SUCCESS if int(status) == 0 else FAILED
        except (TypeError, ValueError):
            return FAILED  # finished without an exit status: deleted before it ran
    if state in ACTIVE_STATES:
        return RUNNING
    return RUNNING  # a state this module does not know: ask again later


def job_status(job_id: str, run=subprocess.run, max_hops: int = 3, log=None) -> str:
    """Snakemake's status of one PBS job: ``success``, ``failed`` or ``running``.

    - finished with Exit_status 0 → success; finished otherwise → failed (walltime -29,
      memory -27, qdel 271, …: Snakemake's ``retries`` resubmit it, training resumes);
    - queued, held, waiting, running, suspended, exiting → running;
    - moved to another server (M) → asked again at ``id@server``;
    - unknown to the server (qstat: "Unknown Job Id", or absent from the output) → failed;
    - qstat failing in any other way (server unreachable, timeout, garbage) → running, so that
      a transient outage does not fail the workflow.
    """
    log = log or (lambda msg: print(msg, file=sys.stderr))
    query = job_id
    for _ in range(max_hops + 1):
        try:
            proc = run(
                ["qstat", "-x", "-f", "-F", "json", query],
                capture_output=True,
                text=True,
                timeout=60,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            log(f"hipseg pbs-status: qstat {query}: {exc}; reporting running")
            return RUNNING
        if proc.returncode != 0:
            if proc.returncode in UNKNOWN_JOB_EXITS or "Unknown Job Id" in (proc.stderr or ""):
                log(f"hipseg pbs-status: {query}: unknown job; reporting failed")
                return FAILED
            log(
                f"hipseg pbs-status: qstat {query} exited {proc.returncode}: "
                f"{(proc.stderr or '').strip()}; reporting running"
            )
            return RUNNING
        try:
            attrs = parse_qstat_json(proc.stdout, query)
        except (ValueError, AttributeError) as exc:
            log(f"hipseg pbs-status: qstat {query}: unreadable output ({exc}); reporting running")
            return RUNNING
        if attrs is None:
            log(f"hipseg pbs-status: {query} absent from qstat's output; reporting failed")
            return FAILED
        if str(attrs.get("job_state", "")).strip() == "M":
            server = moved_to(attrs, query)
            if not server:
                log(f"hipseg pbs-status: {query} moved, destination unknown; reporting running")
                return RUNNING
            query = f"{job_id.split('@')[0]}@{server}"
            continue
        status = state_of(attrs)
        if status == FAILED:
            code = attrs.get("Exit_status")
            try:
                meaning = EXIT_STATUS_MEANING.get(int(code)) or (
                    f"killed by signal {int(code) - 256}" if int(code) > 256 else "exit status"
                )
            except (TypeError, ValueError):
                meaning = "no exit status"
            log(f"hipseg pbs-status: {query} failed: Exit_status {code} ({meaning})")
        return status
    log(f"hipseg pbs-status: {job_id} moved more than {max_hops} times; reporting running")
    return RUNNING


def status_main(argv: list[str] | None = None) -> int:
    """``pbs-status.py JOBID``: print one of running/success/failed; always exit 0."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        print(job_status(argv[0].strip()) if argv else RUNNING)
    except Exception as exc:  # never fail: Snakemake would abort the whole workflow
        print(f"hipseg pbs-status: {exc!r}; reporting running", file=sys.stderr)
        print(RUNNING)
    return 0
