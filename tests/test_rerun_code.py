"""Rerun on code change: code fingerprints (hipseg.fingerprint), `hipseg why`, and on the tiny
workflow after a complete run, the exact set of stages that an edit reruns."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest

from hipseg.fingerprint import (
    STAGES,
    Stage,
    describe_change,
    library_version,
    parse,
    source_hash,
    stage_fingerprints,
)
from tests.test_workflow import job_counts

TRAINER = "nnUNetTrainerHipsegShort"
HIPSEG_DIR = Path(__file__).parents[1] / "workflow" / "hipseg"

CODE = '''"""Module docstring."""
import math


def area(r):
    """Docstring."""
    return math.pi * r**2  # the area
'''
SAME_CODE = '''"""Another docstring, and a comment.
"""
# new comment
import math
def area( r ):
    return math.pi * r ** 2
'''


def test_comments_docstrings_and_formatting_keep_the_hash():
    assert source_hash(CODE) == source_hash(SAME_CODE)
    assert source_hash(CODE) != source_hash(CODE.replace("r**2", "r**3"))
    assert source_hash(CODE) != source_hash(CODE.replace("# the area", "\nx = 1"))


def _package(root: Path, files: dict[str, str]) -> Path:
    pkg = root / "hipseg"
    for name, text in files.items():
        path = pkg / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return pkg


FAKE = {
    "__init__.py": '__version__ = "1"\n',
    "errors.py": "class E(Exception): pass\n",
    "cli.py": (
        "from .errors import E\n\n"
        "def _a(x):\n    from . import a\n    return _helper(a)\n\n"
        "def _helper(m):\n    return m\n\n"
        "def _b(x):\n    from .b import run\n    return run()\n\n"
        "def _v(x):\n    from . import __version__\n    return __version__\n"
    ),
    "a.py": "def f():\n    from .sub.deep import g\n    return g()\n",
    "b.py": "def run():\n    return 1\n",
    "sub/__init__.py": "X = 1\n",
    "sub/deep.py": "from .. import errors\nfrom ..util import h\n\ndef g():\n    return h()\n",
    "util.py": "def h():\n    return 2\n",
    "unused.py": "Y = 3\n",
}
FAKE_STAGES = {
    "a": Stage(("a",), "_a", ("pytest",)),
    "b": Stage(("b",), "_b"),
    "v": Stage((), "_v"),
    "deep": Stage(("sub.deep",), "_b"),
}


def _modules(value: str) -> set[str]:
    return {k for k, (kind, _) in parse(value).items() if kind == "code"}


def test_imports_are_followed_inside_functions_relative_and_into_subpackages(tmp_path):
    pkg = _package(tmp_path, FAKE)
    codes = stage_fingerprints(pkg, stages=FAKE_STAGES)
    assert _modules(codes["a"]) == {"a", "sub", "sub.deep", "errors", "util", "cli._a"}
    assert _modules(codes["b"]) == {"b", "errors", "cli._b"}
    assert _modules(codes["v"]) == {"__init__", "errors", "cli._v"}
    assert {"sub", "sub.deep", "util", "b"} <= _modules(codes["deep"])
    assert parse(codes["a"])["pytest"] == ("library", pytest.__version__)

    # an edit of a module reruns the stages that import it, directly or not, and no other
    (pkg / "util.py").write_text("def h():\n    return 3\n")
    after = stage_fingerprints(pkg, stages=FAKE_STAGES)
    assert after["a"] != codes["a"] and after["deep"] != codes["deep"]
    assert after["b"] == codes["b"] and after["v"] == codes["v"]
    assert describe_change(codes["a"], after["a"]) == [
        f"code: util {parse(codes['a'])['util'][1]} → {parse(after['a'])['util'][1]}"
    ]
    # a helper of cli.py that a handler calls is part of that handler's stage
    cli = (pkg / "cli.py").read_text()
    (pkg / "cli.py").write_text(cli.replace("return m", "return m or None"))
    again = stage_fingerprints(pkg, stages=FAKE_STAGES)
    assert again["a"] != after["a"] and again["b"] == after["b"]
    # a module that becomes a package (and back) is followed the same way
    (pkg / "util.py").unlink()
    _package(
        tmp_path, {"util/__init__.py": "from .impl import h\n", "util/impl.py": "def h(): 4\n"}
    )
    split = stage_fingerprints(pkg, stages=FAKE_STAGES)
    assert {"util", "util.impl"} <= _modules(split["a"])


def test_the_cache_answers_only_for_the_same_code(tmp_path):
    pkg = _package(tmp_path, FAKE)
    cache = tmp_path / "cache"
    fresh = stage_fingerprints(pkg, stages=FAKE_STAGES, cache_dir=False)
    assert stage_fingerprints(pkg, stages=FAKE_STAGES, cache_dir=cache) == fresh
    (entry,) = cache.glob("*.json")
    # a second process reads the entry (a planted answer shows it is read, not recomputed)
    planted = {name: ["planted:00000000"] for name in FAKE_STAGES}
    entry.write_text(json.dumps(planted))
    answer = stage_fingerprints(pkg, stages=FAKE_STAGES, cache_dir=cache)
    assert answer["b"] == "code planted:00000000"
    # any edit of the package (here a module no stage imports) is a new key: computed afresh
    (pkg / "unused.py").write_text("Y = 4\n")
    assert stage_fingerprints(pkg, stages=FAKE_STAGES, cache_dir=cache) == fresh
    assert len(list(cache.glob("*.json"))) == 2
    # so is another trainer or stage table; a damaged entry is recomputed
    entry.write_text("{not json")
    (pkg / "unused.py").write_text("Y = 3\n")
    assert stage_fingerprints(pkg, stages=FAKE_STAGES, cache_dir=cache) == fresh
    # a cache that cannot be written is no error
    blocked = tmp_path / "file"
    blocked.write_text("")
    assert stage_fingerprints(pkg, stages=FAKE_STAGES, cache_dir=blocked / "sub") == fresh


def test_a_stage_without_its_cli_handler_is_an_error(tmp_path):
    from hipseg.errors import HipsegError

    pkg = _package(tmp_path, FAKE)
    with pytest.raises(HipsegError, match="cli.py: no function '_gone'"):
        stage_fingerprints(pkg, stages={"x": Stage(("a",), "_gone")})


def test_every_stage_of_the_package_has_a_fingerprint():
    codes = stage_fingerprints(trainer=TRAINER)
    assert set(codes) == set(STAGES)
    trainer_module = f"trainers.{TRAINER}"
    for stage, value in codes.items():
        # one entry per module (deid, synth, nnunet and masks are packages; segment uses most)
        assert len(value) < 3000, value
        uses_trainer = stage in ("train", "predict", "segment_test", "segment_new")
        assert (trainer_module in _modules(value)) == uses_trainer, stage
    assert "evaluate" in _modules(codes["report"]) and "crop" not in _modules(codes["evaluate"])
    assert any(m.startswith("templates/") for m in _modules(codes["report"]))
    libraries = {
        s: {k for k, (kind, _) in parse(v).items() if kind == "library"} for s, v in codes.items()
    }
    assert {s for s, libs in libraries.items() if "nnunetv2" in libs} == {
        "plan",
        "preprocess",
        "paper_plan",
        "train",
        "predict",
        "segment_test",
        "segment_new",
    }
    assert {s for s, libs in libraries.items() if "matplotlib" in libs} == {"report", "figures"}
    # nnU-Net's own trainer: covered by nnunetv2's version, not by our trainer module
    default = stage_fingerprints(trainer="nnUNetTrainer")
    assert trainer_module not in _modules(default["train"])


# the stages that import each split package (its __init__ imports every module of it)
PACKAGE_USERS = {
    "nnunet": {"plan", "preprocess", "paper_plan", "train", "predict", "segment_test",
               "segment_new"},
    "masks": {"validate_samples", "deid", "deid_summary", "crop", "paper_plan", "subgroups",
              "segment_test", "segment_new", "figures"},
}  # fmt: skip


@pytest.mark.parametrize("package", list(PACKAGE_USERS))
def test_an_edit_of_any_module_of_a_package_reruns_the_stages_that_use_it(tmp_path, package):
    """A stage that names a package (``Stage(("nnunet",), …)``) or imports it counts every module
    of it: an edit of any one reruns exactly the stages that use the package."""
    pkg = tmp_path / "hipseg"
    shutil.copytree(HIPSEG_DIR, pkg, ignore=shutil.ignore_patterns("__pycache__"))
    before = stage_fingerprints(pkg, trainer=TRAINER, cache_dir=False)
    modules = sorted(p.stem for p in (pkg / package).glob("*.py") if p.stem != "__init__")
    assert len(modules) > 1
    every = {package, *(f"{package}.{m}" for m in modules)}
    assert {s for s, v in before.items() if every & _modules(v)} == PACKAGE_USERS[package]
    for stage in PACKAGE_USERS[package]:
        assert every <= _modules(before[stage]), stage
    for module in modules:
        with edited(pkg / package / f"{module}.py", append_line):
            after = stage_fingerprints(pkg, trainer=TRAINER, cache_dir=False)
        changed = {s for s in before if after[s] != before[s]}
        assert changed == PACKAGE_USERS[package], module


def fake_distribution(root: Path, name: str, version: str) -> Path:
    """A folder that makes importlib.metadata report another version of a distribution when it
    comes first on PYTHONPATH."""
    info = root / f"{name}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    return root


def test_a_faked_distribution_on_pythonpath_changes_the_version(tmp_path):
    fake = fake_distribution(tmp_path / "fake", "nnunetv2", "99.0")
    code = "from hipseg.fingerprint import library_version; print(library_version('nnunetv2'))"
    env = {"PYTHONPATH": f"{fake}:{Path(__file__).parents[1] / 'workflow'}", "PATH": "/usr/bin"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "99.0", out.stderr
    assert library_version("nnunetv2") not in ("99.0", "absent")


def test_why_names_the_changed_module_library_and_option():
    """On the reason Snakemake writes for a params change (its own ParamsChange)."""
    from snakemake.persistence import ParamsChange

    from hipseg.why import explain

    old = "code errors:11111111 evaluate:22222222 numpy==2.4.6"
    new = "code errors:11111111 evaluate:33333333 numpy==3.0.0"
    change = ParamsChange(
        only_old={repr(old), repr("--epochs 1 --seed 0")},
        only_new={repr(new), repr("--epochs 2 --seed 0")},
    )
    reason = f"Params have changed since last execution: {change}; Missing output files: a"
    assert explain(reason, {}) == [
        "code: evaluate 22222222 → 33333333",
        "library: numpy 2.4.6 → 3.0.0",
        "params: --epochs 1 → --epochs 2",
        "output: missing",
    ]
    rerun = "Input files updated by another job: x.csv, y.csv"
    assert explain(rerun, {"x.csv": "evaluate", "y.csv": "predict"}) == [
        "input: rerun of evaluate, predict"
    ]


def test_why_reads_the_jobs_inside_a_group_job():
    """Snakemake prints the jobs of a group job (plan with preprocess) one level deeper."""
    from hipseg.why import jobs

    text = """[Fri Dec  4 02:42:16 2026]
rule splits:
    input: results/dataset/cases.tsv
    output: results/nnunet/splits.json
    reason: Missing output files: results/nnunet/splits.json

[Fri Dec  4 02:42:16 2026] Group job plan (jobs in lexicogr. order):

    rule plan:
        output: results/plans.json, results/fingerprint.json
        log: results/logs/plan.log
        reason: Missing output files: results/plans.json

    rule preprocess:
        output: results/pre/2d
        reason: Input files updated by another job: results/plans.json

Shell command: python -m hipseg plan
"""
    found = {j.rule: (j.output, j.reason.split(":")[0]) for j in jobs(text)}
    assert found == {
        "splits": (["results/nnunet/splits.json"], "Missing output files"),
        "plan": (["results/plans.json", "results/fingerprint.json"], "Missing output files"),
        "preprocess": (["results/pre/2d"], "Input files updated by another job"),
    }


# --- on the tiny workflow after a complete run ----------------------------------------------

# segment_test and validate_measurements: the demo's test radiographs through the fold_all model
DOWNSTREAM_OF_PLAN = {"plan", "preprocess", "splits", "train", "predict", "evaluate", "subgroups",
                      "report", "segment_test", "validate_measurements"}  # fmt: skip


@contextmanager
def edited(path: Path, change):
    """Apply change(text) -> text to a file of the copy, and restore it afterwards."""
    original = path.read_text()
    path.write_text(change(original))
    try:
        yield
    finally:
        path.write_text(original)


def append_line(text: str) -> str:
    return text + "\n_EDITED_FOR_A_TEST = 1\n"


def comment_and_docstring(text: str) -> str:
    assert text.startswith('"""')
    return '# a new comment\n"""Edited docstring. ' + text[3:].replace("\n\n", "\n\n\n", 1)


def stages_to_rerun(tiny_run, env=None) -> set[str]:
    proc = tiny_run.snakemake("--configfile", str(tiny_run.config), "-n", env=env)
    return set(job_counts(proc.stdout)) - {"all"}


def hipseg_why(tiny_run, env=None) -> dict[str, str]:
    """`hipseg why` in the tiny run's directory: {stage: its reasons, one per line}."""
    proc = subprocess.run(
        [sys.executable, "-m", "hipseg", "why", "--", "--configfile", str(tiny_run.config)],
        cwd=tiny_run.root,
        env=env or tiny_run.env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    if proc.stdout.strip() == "Nothing would rerun.":
        return {}
    stages: dict[str, str] = {}
    for line in proc.stdout.splitlines():
        if not line.startswith(" "):
            stage = line.split()[0]
        stages[stage] = stages.get(stage, "") + line + "\n"
    return stages


EDITS = {
    # (the subgroup analysis uses evaluate's metrics and statistics)
    "evaluate.py": ("evaluate/__init__.py", append_line, {"evaluate", "subgroups", "report"}),
    "crop.py": ("crop.py", append_line, {"crop", "dataset"} | DOWNSTREAM_OF_PLAN),
    "trainer": (
        f"trainers/{TRAINER}.py",
        append_line,
        {
            "train",
            "predict",
            "evaluate",
            "subgroups",
            "report",
            "segment_test",
            "validate_measurements",
        },  # fmt: skip
    ),
    "comment and docstring": ("evaluate/__init__.py", comment_and_docstring, set()),
}


@pytest.mark.slow
@pytest.mark.parametrize("edit", list(EDITS))
def test_a_code_edit_reruns_exactly_the_stages_it_affects(tiny_run, edit):
    module, change, expected = EDITS[edit]
    assert stages_to_rerun(tiny_run) == set()
    with edited(tiny_run.root / "workflow" / "hipseg" / module, change):
        assert stages_to_rerun(tiny_run) == expected
        if edit == "evaluate.py":
            why = hipseg_why(tiny_run)
            assert set(why) == {"evaluate", "subgroups", "report"}, why
            assert "code: evaluate " in why["evaluate"] and "→" in why["evaluate"], why
            assert "input: rerun of evaluate" in why["report"], why
    assert stages_to_rerun(tiny_run) == set()


@pytest.mark.slow
def test_a_new_nnunet_version_reruns_plan_onwards(tiny_run, tmp_path):
    fake = fake_distribution(tmp_path / "fake", "nnunetv2", "99.0")
    env = dict(tiny_run.env, PYTHONPATH=f"{fake}:{tiny_run.env['PYTHONPATH']}")
    assert stages_to_rerun(tiny_run, env) == DOWNSTREAM_OF_PLAN
    why = hipseg_why(tiny_run, env)
    assert f"library: nnunetv2 {library_version('nnunetv2')} → 99.0" in why["plan"], why
    assert "input: rerun of plan" in why["splits"], why
    assert hipseg_why(tiny_run) == {}


@pytest.mark.slow
def test_a_moved_project_folder_reruns_nothing(tiny_run, tmp_path):
    """The whole finished project (workflow, results, .snakemake) moved to another folder: the
    recorded inputs are paths relative to the project, so nothing reruns; a real change still
    reruns what it affects."""
    from tests.conftest import _tiny_run

    moved = tmp_path / "elsewhere" / "project"
    shutil.copytree(tiny_run.root, moved, symlinks=True)
    run = _tiny_run(moved)
    assert stages_to_rerun(run) == set()
    with edited(moved / "workflow" / "hipseg" / "evaluate" / "__init__.py", append_line):
        assert stages_to_rerun(run) == {"evaluate", "subgroups", "report"}
