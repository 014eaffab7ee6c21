"""The documentation: the MkDocs site builds strictly, every link of the READMEs resolves, and
the configuration reference is the one the schema gives."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO

sys.path.insert(0, str(REPO / "docs"))
import gen_config_reference as ref  # noqa: E402

# Markdown links and images: [text](target) and ![alt](target); reference-style links are
# not used in this repository
LINK = re.compile(r"!?\[[^\]]*\]\((?P<target>[^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^(#{1,6})\s+(?P<text>.+?)\s*#*\s*$")


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading (as it renders README.md and config/README.md):
    the text without markup, lower case, punctuation removed, spaces as hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # links: their text
    text = text.replace("`", "").replace("*", "")
    text = text.strip().lower()
    text = "".join(
        c
        for c in text
        if c in " -_" or unicodedata.category(c)[0] in "LN"  # letters, numbers
    )
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """The GitHub anchors of a Markdown file's headings (duplicates get -1, -2, …)."""
    seen: dict[str, int] = {}
    out = set()
    in_code = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            in_code = not in_code
            continue
        m = None if in_code else HEADING.match(line)
        if m:
            slug = github_slug(m.group("text"))
            n = seen.get(slug, 0)
            seen[slug] = n + 1
            out.add(slug if n == 0 else f"{slug}-{n}")
    return out


def links(path: Path) -> list[str]:
    """Every link target of a Markdown file, outside code blocks and code spans."""
    out, in_code = [], False
    for line in path.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            in_code = not in_code
            continue
        if not in_code:
            out += [m.group("target") for m in LINK.finditer(re.sub(r"`[^`]*`", "", line))]
    return out


def broken_links(path: Path, root: Path = REPO) -> list[str]:
    problems = []
    for target in links(path):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:: not checked offline
            continue
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        if not dest.exists():
            problems.append(f"{path.relative_to(root)}: {target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            problems.append(f"{path.relative_to(root)}: {target}: no heading with that anchor")
    return problems


def test_github_slugs():
    assert github_slug("Run time of `hipseg segment`") == "run-time-of-hipseg-segment"
    assert github_slug("Speed/accuracy ladder and `--fast`") == "speedaccuracy-ladder-and---fast"
    assert github_slug("`new_radiographs`") == "new_radiographs"
    assert github_slug("What the paper's run submits, and what it costs (estimates)") == (
        "what-the-papers-run-submits-and-what-it-costs-estimates"
    )


@pytest.mark.parametrize("name", ["README.md", "config/README.md"])
def test_every_link_of_the_readmes_resolves(name):
    """Files and heading anchors, as GitHub (and the workflow catalog, for config/README.md)
    resolves them."""
    path = REPO / name
    assert links(path), f"{name} has no links?"
    assert broken_links(path) == []


def test_the_link_check_finds_a_broken_link(tmp_path):
    page = tmp_path / "page.md"
    (tmp_path / "other.md").write_text("# Other\n\n## A section\n")
    page.write_text(
        "# Page\n\n[ok](other.md#a-section) [ok](#page) [gone](missing.md) "
        "[bad anchor](other.md#nowhere) `[in code](missing.md)`\n\n```\n[fenced](missing.md)\n```\n"
    )
    assert broken_links(page, root=tmp_path) == [
        "page.md: missing.md: no such file",
        "page.md: other.md#nowhere: no heading with that anchor",
    ]


def test_readme_is_short_and_links_every_page():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 200
    nav = yaml.safe_load((REPO / "mkdocs.yml").read_text())["nav"]
    pages = [next(iter(item.values())) for item in nav]
    linked = {t.partition("#")[0] for t in links(REPO / "README.md")}
    for page in pages:
        expected = {"usage.md": "config/README.md", "index.md": "docs/index.md"}.get(
            page, f"docs/{page}"
        )
        assert expected in linked, f"README.md does not link {expected}"


# -- the configuration reference --------------------------------------------------------------
def test_every_schema_key_has_a_description():
    assert ref.undocumented(ref.load_yaml(ref.SCHEMA)) == []


def test_the_configuration_reference_is_generated_from_the_schema():
    committed = ref.PAGE.read_text(encoding="utf-8")
    assert committed == ref.render(), (
        "docs/configuration-reference.md differs from what the schema gives: run `make docs`"
    )
    # every key has its row, with its default
    schema = ref.load_yaml(ref.SCHEMA)
    for path, node in ref.keys(schema, schema):
        if "." not in path and "properties" in node:
            continue  # a section: its keys have the rows
        row = next(line for line in committed.splitlines() if line.startswith(f"| `{path}` |"))
        if "default" in node:
            assert ref.code(ref.value(node["default"])) in row, path


def test_the_reference_check_catches_a_changed_schema():
    schema = ref.load_yaml(ref.SCHEMA)
    schema["properties"]["train"]["properties"]["epochs"]["default"] = 7
    assert ref.render(schema=schema) != ref.PAGE.read_text(encoding="utf-8")
    schema["properties"]["train"]["properties"]["epochs"].pop("description")
    assert ref.undocumented(schema) == ["train.epochs"]
    with pytest.raises(ValueError, match="train.epochs"):
        ref.render(schema=schema)


# -- the site ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    if importlib.util.find_spec("mkdocs") is None:
        pytest.skip("mkdocs is not installed (it is in requirements.lock: `make env`)")
    out = tmp_path_factory.mktemp("site")
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=REPO,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def test_the_site_builds_strictly_with_every_page(site):
    nav = yaml.safe_load((REPO / "mkdocs.yml").read_text())["nav"]
    for item in nav:
        page = next(iter(item.values()))
        html = site / ("index.html" if page == "index.md" else f"{page[:-3]}/index.html")
        assert html.is_file(), page
    # the generated pages: the reference and config/README.md as the usage page
    reference = (site / "configuration-reference" / "index.html").read_text(encoding="utf-8")
    assert "train.epochs" in reference
    usage = (site / "usage" / "index.html").read_text(encoding="utf-8")
    assert "Using hipseg as a module" in usage
    # the scripts beside the pages are not published
    assert not list(site.rglob("*.py"))


def test_the_site_shows_no_unrendered_markdown(site):
    """Python-Markdown and GitHub differ (nested lists need 4 spaces, code fences in lists need
    superfences, a list after a paragraph needs a blank line): what either leaves as text."""
    problems = []
    for html in site.rglob("*.html"):
        text = html.read_text(encoding="utf-8")
        if "<h1" not in text:
            continue
        body = text[text.index("<h1") :]
        body = re.sub(r"<pre.*?</pre>", "", body, flags=re.S)
        body = re.sub(r"<code>.*?</code>", "C", body, flags=re.S)
        for pattern in (r"```", r"\|---", r"\n\s*[-*] ", r"\n\s*\d+\. ", r"\*\*", r"\]\("):
            for m in re.finditer(pattern, body):
                where = html.relative_to(site)
                problems.append(f"{where}: {body[max(0, m.start() - 60) : m.end() + 40]!r}")
    assert problems == []


def test_the_site_checks_catch_a_broken_link(tmp_path):
    """The same strict build fails on a link to a page that does not exist."""
    if importlib.util.find_spec("mkdocs") is None:
        pytest.skip("mkdocs is not installed (it is in requirements.lock: `make env`)")
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "index.md").write_text("# Home\n\n[gone](missing.md) [anchor](#nowhere)\n")
    config = yaml.safe_load((REPO / "mkdocs.yml").read_text())
    config.update(docs_dir=str(docs), nav=[{"Home": "index.md"}])
    config.pop("hooks")
    (tmp_path / "mkdocs.yml").write_text(yaml.safe_dump(config))
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "s")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode != 0
    assert "missing.md" in proc.stderr and "nowhere" in proc.stderr


# -- the pictures -----------------------------------------------------------------------------
def test_the_pictures_are_drawn_from_the_demo():
    """docs/report.png and docs/segmented.png are what docs/screenshots.py drew from a finished
    demo (it records their hashes in docs/screenshots.json), not edited by hand."""
    record_path = REPO / "docs" / "screenshots.json"
    if not record_path.is_file():
        pytest.skip(
            "docs/report.png and docs/segmented.png are not yet drawn from the demo: "
            "run `make demo`, then `make screenshots`, and commit docs/"
        )
    record = json.loads(record_path.read_text())
    assert set(record) == {"report.png", "segmented.png"}
    for name, entry in record.items():
        png = REPO / "docs" / name
        assert hashlib.sha256(png.read_bytes()).hexdigest() == entry["png_sha256"], (
            f"docs/{name} is not the picture docs/screenshots.py drew: run `make screenshots`"
        )


def test_the_documentation_scripts_take_help_and_write_nothing_for_it(tmp_path, snakemake_env):
    """``--help`` prints help (it was once taken as the output path: a file named --help)."""
    for script in ("gen_config_reference.py", "render_presentation_state.py", "screenshots.py"):
        argv = [sys.executable, str(REPO / "docs" / script), "--help"]
        proc = subprocess.run(argv, cwd=tmp_path, env=snakemake_env, capture_output=True,
                              text=True)  # fmt: skip
        assert proc.returncode == 0 and proc.stdout.startswith("usage:"), script
    assert list(tmp_path.iterdir()) == []
