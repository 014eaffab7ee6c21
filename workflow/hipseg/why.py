"""``hipseg why``: which stages a run would redo, and why (params, input, code, library).

It runs ``snakemake -n`` (a dry run: no job is executed) and reads Snakemake's reason
for every job. A change of the ``code`` param (see :mod:`hipseg.fingerprint`) is broken down
into the modules, templates and library versions that differ between the last run and now.
"""

from __future__ import annotations

import difflib
import re
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from .errors import HipsegError
from .fingerprint import PREFIX, STAGES, describe_change

# a job's head and its fields; the jobs of a group job (``Group job plan (...):``) are printed
# one level deeper: "    rule plan:" with its fields at 8 spaces
_HEAD = re.compile(r"^( *)(?:local)?(?:rule|checkpoint) (\w+):$")
_FIELD = re.compile(r"^( +)(\w+): (.*)$")
_RERUN_OF = "input: rerun of "
_CODE = re.compile(r"'(" + re.escape(PREFIX) + r"[^',]*)'")


@dataclass
class Job:
    rule: str
    output: list[str]
    reason: str


def dry_run(args: Sequence[str]) -> str:
    """Output of ``snakemake -n ARGS`` (with this Python's Snakemake)."""
    cmd = [sys.executable, "-m", "snakemake", "-n", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-30:])
        raise HipsegError(f"`snakemake -n {' '.join(args)}` failed:\n{tail}")
    return proc.stdout


def jobs(text: str) -> list[Job]:
    """The jobs of a dry run's output, with their output files and Snakemake's reason."""
    found: list[Job] = []
    current, depth = None, 0
    for line in text.splitlines():
        if m := _HEAD.match(line):
            current, depth = Job(m.group(2), [], ""), len(m.group(1))
            found.append(current)
        elif current is not None and (m := _FIELD.match(line)) and len(m.group(1)) == depth + 4:
            if m.group(2) == "output":
                current.output = m.group(3).split(", ")
            elif m.group(2) == "reason":
                current.reason = m.group(3)
        else:
            current = None
    return found


def explain(reason: str, producers: dict[str, str]) -> list[str]:
    """Snakemake's reason for one job as short lines; ``producers``: output file -> rule of
    the jobs of this dry run."""
    lines = []
    for part in reason.split("; "):
        head, _, rest = part.partition(": ")
        if head == "Params have changed since last execution":
            lines += _params_change(rest)
        elif head == "Input files updated by another job":
            stages = sorted({producers.get(f, "?") for f in rest.split(", ")} - {"?"})
            lines.append(_RERUN_OF + ", ".join(stages) if stages else "input: updated")
        elif head == "Updated input files":
            lines.append(f"input: newer than the output: {rest}")
        elif head in ("Missing output files", "Incomplete output files"):
            lines.append(f"output: {head.split()[0].lower()}")
        elif head == "Set of input files has changed since last execution":
            lines.append("input: the set of input files changed")
        elif head == "Code has changed since last execution":
            lines.append("rule: its command changed")
        elif head == "Software environment definition has changed since last execution":
            lines.append("software environment changed")
        elif part:
            lines.append(part)
    return lines


def _params_change(text: str) -> list[str]:
    before, _, now = text.partition(" now: ")
    before = before.partition("before: ")[2]
    old, new = _CODE.findall(before), _CODE.findall(now)
    lines = []
    if old and new:
        lines += describe_change(old[0], new[0])
    elif old or new:
        lines.append("code: fingerprint recorded " + ("before only" if old else "now only"))
    was, others = (_CODE.sub("", t).strip(" ,") for t in (before, now))
    if others and others != "<nothing exclusive>":
        lines.append(f"params: {_words_diff(was, others)[:200]}")
    return lines


def _words_diff(old: str, new: str) -> str:
    """The words that differ, after the option or key they belong to:
    ``--epochs 1 → --epochs 2``, ``rows: [0.0, 1.0] → rows: [0.0, 0.9]`` (quotes dropped)."""
    a, b = ([w.strip("'\"") for w in text.split()] for text in (old, new))
    parts = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if op == "equal":
            continue
        start = i1
        for k in range(i1 - 1, max(i1 - 4, -1), -1):
            if a[k].startswith("--") or a[k].endswith(":"):
                start = k
                break
        context = a[start:i1]
        parts.append(f"{' '.join(context + a[i1:i2])} → {' '.join(context + b[j1:j2])}")
    return "; ".join(parts)


def report(text: str) -> str:
    """Per stage (in the workflow's order), the number of jobs and the distinct reasons."""
    found = [j for j in jobs(text) if j.rule != "all"]
    if not found:
        return "Nothing would rerun."
    producers = {f: j.rule for j in found for f in j.output}
    per_rule: dict[str, tuple[int, list[str]]] = {}
    upstream: dict[str, set[str]] = {}
    for job in found:
        count, reasons = per_rule.get(job.rule, (0, []))
        for line in explain(job.reason, producers):
            if line.startswith(_RERUN_OF):
                upstream.setdefault(job.rule, set()).update(line[len(_RERUN_OF) :].split(", "))
                line = _RERUN_OF
            if line not in reasons:
                reasons.append(line)
        per_rule[job.rule] = (count + 1, reasons)
    for rule, stages in upstream.items():
        reasons = per_rule[rule][1]
        reasons[reasons.index(_RERUN_OF)] = _RERUN_OF + ", ".join(_in_order(stages))
    order = _in_order(per_rule)
    width = max(len(r) for r in order)
    out = []
    for rule in order:
        count, reasons = per_rule[rule]
        jobs_text = f"{count} job{'s' if count > 1 else ''}"
        out.append(f"{rule:<{width}}  {jobs_text:>8}  {reasons[0] if reasons else ''}")
        out += [f"{'':<{width}}  {'':>8}  {r}" for r in reasons[1:]]
    return "\n".join(out)


def _in_order(rules) -> list[str]:
    """Rules in the workflow's order (STAGES), others after them by name."""
    return [r for r in STAGES if r in rules] + sorted(set(rules) - set(STAGES))


def why(snakemake_args: Sequence[str]) -> str:
    return report(dry_run(snakemake_args))
