"""Code fingerprints of the workflow's stages: the code and the library versions behind each rule.

Snakemake reruns a job when one of its params changes. Every rule carries
``code=CODE["<stage>"]``, computed once per Snakemake process by :func:`stage_fingerprints`,
a short string such as::

    code crop:c25a0bc9 dicomio:132a7f89 errors:be591284 io:5d938d60 cli._crop:411dace3
         numpy==2.4.6 pydicom==3.0.2 SimpleITK==2.5.7   (one line)

It names, each with the first 8 hex digits of a SHA-256:

- the hipseg modules the stage runs: its entry modules and its handler function in
  ``hipseg/cli.py`` (with the functions of cli.py that it calls), followed through their import
  statements (also those inside functions, and relative imports) transitively inside the
  package. The modules are parsed with :mod:`ast`, never imported. A module is hashed as its
  syntax tree without docstrings, written back as source, so comments, docstrings and
  formatting never rerun anything. Importing a module of a subpackage counts the
  subpackage's ``__init__.py`` too; the top-level ``hipseg/__init__.py`` (docstring and
  version) counts only where it is imported by name (the report shows the version);
- for train and predict, the module of ``hipseg/trainers`` that defines the configured trainer
  class (nnU-Net's own trainers are covered by nnunetv2's version); for report, the files of
  ``workflow/templates`` (as bytes);
- the versions of the libraries that decide the stage's result (``importlib.metadata``).

Snakemake's reason for a rerun (``snakemake -n``, and ``hipseg why``) then shows the old and
the new string.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.metadata
import json
import os
from dataclasses import dataclass
from pathlib import Path

from .errors import InputError

PACKAGE = "hipseg"
PREFIX = "code "
HASH_DIGITS = 8

# nnU-Net and what it computes with: planning and preprocessing (resampling, image reading),
# the network architectures, data augmentation.
NNUNET = (
    "nnunetv2",
    "torch",
    "dynamic-network-architectures",
    "batchgenerators",
    "batchgeneratorsv2",
    "numpy",
    "scipy",
    "scikit-image",
    "SimpleITK",
)
# the synthetic radiographs: geometry and noise (numpy), blur (scipy), burned-in text (Pillow),
# the DICOM files (pydicom). matplotlib draws only the montage and the gallery: an upgrade of it
# must not regenerate the demo radiographs and so retrain every model.
SYNTH = ("numpy", "scipy", "pillow", "pydicom")
# hipseg segment: nnU-Net's predictor, the DICOM SEG, the overlays
SEGMENT = (*NNUNET, "highdicom", "pydicom", "pillow")


@dataclass(frozen=True)
class Stage:
    """What decides a stage's result: entry modules (inside hipseg), the handler in cli.py,
    libraries (distribution names), and whether the trainer class or the templates count."""

    modules: tuple[str, ...]
    cli: str
    libraries: tuple[str, ...] = ()
    trainer: bool = False
    templates: bool = False


STAGES: dict[str, Stage] = {
    "synth": Stage(("synth",), "_synth", SYNTH),
    # a check: it passes the sheet on as it is, whatever the libraries' versions
    "validate_samples": Stage(("samplesheet",), "_validate"),
    "deid": Stage(("deid",), "_deid", ("pydicom", "dicom-anonymizer", "numpy", "scipy")),
    "deid_summary": Stage(("deid",), "_deid_summary"),
    "crop": Stage(("crop",), "_crop", ("numpy", "pydicom", "SimpleITK")),
    "dataset": Stage(("dataset",), "_dataset", ("numpy", "SimpleITK")),
    "plan": Stage(("nnunet",), "_plan", NNUNET),
    "preprocess": Stage(("nnunet",), "_preprocess", NNUNET),
    # patient-grouped folds from Python's own random module
    "splits": Stage(("dataset",), "_splits"),
    "paper_plan": Stage(("paperplan",), "_paper_plan", tuple(dict.fromkeys(NNUNET + SYNTH))),
    "train": Stage(("nnunet",), "_train", NNUNET, trainer=True),
    "predict": Stage(("nnunet",), "_predict", NNUNET, trainer=True),
    "evaluate": Stage(
        ("evaluate",), "_evaluate", ("numpy", "pandas", "SimpleITK", "scipy", "medpy")
    ),
    # subgroups of the test joints and their failure modes (label maps, statistics)
    "subgroups": Stage(("subgroups",), "_subgroups", ("numpy", "pandas", "SimpleITK", "scipy")),
    # new radiographs through a trained model: label maps, DICOM SEG, measurements
    # (hipseg.segment imports its run lazily, out of the AST's sight: name it)
    "segment_test": Stage(("segment", "segment.run"), "_segment", SEGMENT, trainer=True),
    "segment_new": Stage(("segment", "segment.run"), "_segment", SEGMENT, trainer=True),
    # the measurements against the synthetic truth (and the overlays of the report)
    "validate_measurements": Stage(
        ("measure.validate",), "_validate_measurements", ("numpy", "scipy", "pillow", "SimpleITK")
    ),
    # the report's montage and gallery, drawn from the de-identified radiographs
    "figures": Stage(("figures",), "_figures", ("matplotlib", "numpy", "pydicom", "pillow")),
    "report": Stage(
        ("report",),
        "_report",
        ("matplotlib", "jinja2", "numpy", "pandas", "SimpleITK"),
        templates=True,
    ),
}


def source_hash(source: str, path: str | Path = "<source>") -> str:
    """Hash of Python source without docstrings, comments and formatting."""
    return _digest(ast.unparse(_parse(source, path)[0]))


def _parse(source: str, path: str | Path) -> tuple[ast.Module, list[ast.stmt]]:
    """The syntax tree without docstrings, and its import statements (at any depth)."""
    try:
        tree = ast.parse(source, filename=str(path))
    except SyntaxError as exc:
        raise InputError(path, f"syntax error in line {exc.lineno}: {exc.msg}") from exc
    imports: list[ast.stmt] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            imports.append(node)
        elif isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if (
                body
                and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)
            ):
                node.body = body[1:] or [ast.Pass()]
    return tree, imports


def _digest(text: str | bytes) -> str:
    data = text.encode() if isinstance(text, str) else text
    return hashlib.sha256(data).hexdigest()[:HASH_DIGITS]


class _Package:
    """The hipseg package on disk: module lookup, parsing (once) and import following."""

    def __init__(self, package_dir: Path):
        self.dir = Path(package_dir)
        self._parsed: dict[Path, tuple[ast.Module, list[ast.stmt]]] = {}
        self._paths: dict[str, Path | None] = {}
        self._hashes: dict[str, str] = {}
        self._imports: dict[str, set[str]] = {}

    def path(self, module: str) -> Path | None:
        """File of a dotted module inside the package (``hipseg.x.y``): x/y/__init__.py or
        x/y.py; None if there is none."""
        if module not in self._paths:
            parts = module.split(".")[1:]
            base = self.dir.joinpath(*parts)
            candidates = [base / "__init__.py"] + ([base.with_suffix(".py")] if parts else [])
            self._paths[module] = next((c for c in candidates if c.is_file()), None)
        return self._paths[module]

    def tree(self, path: Path) -> ast.Module:
        """The module's syntax tree without docstrings (parsed once)."""
        if path not in self._parsed:
            self._parsed[path] = _parse(path.read_text(encoding="utf-8"), path)
        return self._parsed[path][0]

    def module_hash(self, module: str) -> str:
        if module not in self._hashes:
            self._hashes[module] = _digest(ast.unparse(self.tree(self.path(module))))
        return self._hashes[module]

    def imports(self, module: str, nodes: list[ast.AST] | None = None) -> set[str]:
        """The package's modules that ``module`` (or the given nodes of it) imports."""
        if nodes is None and module in self._imports:
            return self._imports[module]
        path = self.path(module)
        if nodes is None:
            self.tree(path)
            statements = self._parsed[path][1]
        else:
            statements = [
                n
                for top in nodes
                for n in ast.walk(top)
                if isinstance(n, ast.Import | ast.ImportFrom)
            ]
        found: set[str] = set()
        for node in statements:
            if isinstance(node, ast.Import):
                for alias in node.names:
                    self.add(found, alias.name)
                continue
            target = _import_target(module, path.name == "__init__.py", node)
            if target is None:
                continue
            named = [f"{target}.{a.name}" for a in node.names if self.path(f"{target}.{a.name}")]
            for sub in named:
                self.add(found, sub)
            # `from pkg.mod import name` runs pkg/mod; `from . import x` with x a module does
            # not count the top-level package, `from . import __version__` does
            if node.module or len(named) < len(node.names):
                self.add(found, target)
        if nodes is None:
            self._imports[module] = found
        return found

    def add(self, found: set[str], module: str) -> None:
        """Add a module of the package to ``found``, with the subpackages it lies in."""
        if module != PACKAGE and not module.startswith(PACKAGE + "."):
            return
        parts = module.split(".")
        # a module of a subpackage runs the subpackage's __init__ (not the top-level one)
        for i in range(2, len(parts) + 1):
            name = ".".join(parts[:i])
            if self.path(name):
                found.add(name)
        if module == PACKAGE and self.path(PACKAGE):
            found.add(PACKAGE)

    def closure(self, modules: set[str]) -> set[str]:
        seen: set[str] = set()
        todo = [m for m in modules if self.path(m)]
        while todo:
            module = todo.pop()
            if module in seen:
                continue
            seen.add(module)
            todo.extend(self.imports(module) - seen)
        return seen


def _import_target(module: str, is_pkg: bool, node: ast.ImportFrom) -> str | None:
    """Absolute name of the module a ``from … import`` statement reads from."""
    if node.level == 0:
        return node.module
    parts = module.split(".") if is_pkg else module.split(".")[:-1]
    if node.level - 1 >= len(parts):
        return None
    base = parts[: len(parts) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _cli_part(pkg: _Package, handler: str) -> tuple[str, set[str]]:
    """Hash of a handler function of cli.py with the cli.py functions it calls, and the
    package modules they import (plus cli.py's own module-level imports)."""
    cli = f"{PACKAGE}.cli"
    tree = pkg.tree(pkg.path(cli))
    defs = {
        n.name: n
        for n in tree.body
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
    }
    if handler not in defs:
        raise InputError(pkg.path(cli), f"no function {handler!r} (the handler of a stage)")
    used, todo = set(), [handler]
    while todo:
        name = todo.pop()
        if name in used:
            continue
        used.add(name)
        names = {n.id for n in ast.walk(defs[name]) if isinstance(n, ast.Name)}
        todo.extend(sorted((names & defs.keys()) - used))
    nodes = [defs[name] for name in sorted(used)]
    source = "\n".join(ast.unparse(node) for node in nodes)
    top_imports = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
    return _digest(source), pkg.imports(cli, nodes + top_imports)


def trainer_module(pkg: _Package, trainer: str | None) -> str | None:
    """The module of hipseg/trainers that defines the trainer class (None: not one of ours)."""
    folder = pkg.dir / "trainers"
    if not trainer or not folder.is_dir():
        return None
    for path in sorted(folder.glob("*.py")):
        module = f"{PACKAGE}.trainers.{path.stem}"
        if any(isinstance(n, ast.ClassDef) and n.name == trainer for n in pkg.tree(path).body):
            return module
    return None


def library_version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "absent"


def _short(module: str) -> str:
    return "__init__" if module == PACKAGE else module.removeprefix(PACKAGE + ".")


def stage_fingerprints(
    package_dir: str | Path | None = None,
    trainer: str | None = None,
    templates_dir: str | Path | None = None,
    stages: dict[str, Stage] | None = None,
    cache_dir: str | Path | None = None,
) -> dict[str, str]:
    """The code fingerprint of every stage, as the param string described above.

    ``package_dir``: the hipseg package to read (default: this one); ``trainer``: the
    configured nnU-Net trainer class; ``templates_dir``: default ``<package_dir>/../templates``;
    ``stages``: default ``STAGES``; ``cache_dir``: where the code part is kept between
    processes (default :func:`default_cache_dir`; ``False``: no cache).

    Parsing the package takes about half a second, and every Snakemake process (the main one
    and each job's) computes the fingerprints. The code part is therefore cached, keyed by the
    bytes of every file of the package and of the templates, the trainer and the stage table:
    any edit gives a new key, so the cache can never answer for other code. The library
    versions are read afresh each time.
    """
    pkg = _Package(Path(package_dir) if package_dir else Path(__file__).resolve().parent)
    templates = Path(templates_dir) if templates_dir else pkg.dir.parent / "templates"
    stages = STAGES if stages is None else stages
    code = _cached_code_tokens(pkg, templates, trainer, stages, cache_dir)
    versions: dict[str, str] = {}
    out = {}
    for name, stage in stages.items():
        tokens = list(code[name])
        for dist in stage.libraries:
            if dist not in versions:
                versions[dist] = library_version(dist)
            tokens.append(f"{dist}=={versions[dist]}")
        out[name] = PREFIX + " ".join(tokens)
    return out


def default_cache_dir() -> Path:
    """``$HIPSEG_CACHE_DIR``, else ``$XDG_CACHE_HOME/hipseg/fingerprints`` (``~/.cache``)."""
    if os.environ.get("HIPSEG_CACHE_DIR"):
        return Path(os.environ["HIPSEG_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "hipseg" / "fingerprints"


CACHE_KEEP = 64  # cache entries kept (newest first); one per state of the code


def _cached_code_tokens(
    pkg: _Package,
    templates: Path,
    trainer: str | None,
    stages: dict[str, Stage],
    cache_dir: str | Path | None | bool,
) -> dict[str, list[str]]:
    if cache_dir is False:
        return _code_tokens(pkg, templates, trainer, stages)
    key = hashlib.sha256(repr((trainer, sorted(stages.items()))).encode())
    for root, pattern in ((pkg.dir, "*.py"), (templates, "*")):
        for path in sorted(root.rglob(pattern)) if root.is_dir() else []:
            if path.is_file() and "__pycache__" not in path.parts:
                key.update(f"\0{root == pkg.dir}:{path.relative_to(root).as_posix()}\0".encode())
                key.update(path.read_bytes())
    try:
        folder = Path(cache_dir) if cache_dir else default_cache_dir()
    except RuntimeError:  # no home directory to be found (a bare cluster environment)
        return _code_tokens(pkg, templates, trainer, stages)
    entry = folder / f"{key.hexdigest()[:32]}.json"
    try:
        cached = json.loads(entry.read_text(encoding="utf-8"))
        if isinstance(cached, dict) and set(cached) == set(stages):
            return cached
    except (OSError, ValueError):
        pass
    code = _code_tokens(pkg, templates, trainer, stages)
    try:  # a cache that cannot be written (read-only home on a cluster node) is no error
        folder.mkdir(parents=True, exist_ok=True)
        tmp = entry.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(code), encoding="utf-8")
        os.replace(tmp, entry)
        for old in sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime)[:-CACHE_KEEP]:
            old.unlink(missing_ok=True)
    except OSError:
        pass
    return code


def _code_tokens(
    pkg: _Package, templates: Path, trainer: str | None, stages: dict[str, Stage]
) -> dict[str, list[str]]:
    """Per stage: its modules, its cli.py handler and (report) templates, each with its hash."""
    template_tokens = sorted(
        f"templates/{p.relative_to(templates).as_posix()}:{_digest(p.read_bytes())}"
        for p in (templates.rglob("*") if templates.is_dir() else [])
        if p.is_file()
    )
    extra = trainer_module(pkg, trainer)
    out = {}
    for name, stage in stages.items():
        cli_hash, cli_imports = _cli_part(pkg, stage.cli)
        modules = [f"{PACKAGE}.{m}" for m in stage.modules]
        if stage.trainer and extra:
            modules.append(extra)
        entry = set(cli_imports)
        for module in modules:
            pkg.add(entry, module)
        tokens = [
            f"{_short(m)}:{pkg.module_hash(m)}" for m in sorted(pkg.closure(entry), key=_short)
        ]
        tokens.append(f"cli.{stage.cli}:{cli_hash}")
        if stage.templates:
            tokens += template_tokens
        out[name] = tokens
    return out


def parse(value: str) -> dict[str, tuple[str, str]]:
    """A fingerprint string as {name: (kind, hash or version)}; kind is "code" (a module,
    cli function or template) or "library"."""
    items = {}
    for token in value.removeprefix(PREFIX).split():
        name, sep, version = token.partition("==")
        if sep:
            items[name] = ("library", version)
        else:
            name, _, digest = token.rpartition(":")
            items[name] = ("code", digest)
    return items


def describe_change(old: str, new: str) -> list[str]:
    """What differs between two fingerprint strings, one line per module or library."""
    before, after = parse(old), parse(new)
    lines = []
    for name in sorted(before.keys() | after.keys()):
        was, now = before.get(name), after.get(name)
        if was == now:
            continue
        kind = (now or was)[0]
        if was is None:
            lines.append(f"{kind}: {name} added")
        elif now is None:
            lines.append(f"{kind}: {name} no longer used")
        else:
            lines.append(f"{kind}: {name} {was[1]} → {now[1]}")
    return lines
