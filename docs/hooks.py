"""MkDocs hooks (mkdocs.yml ``hooks:``): the two generated pages, and links that work both on
GitHub and in the site.

- ``configuration-reference.md`` is rendered afresh from the schema and the config files in
  every build (``docs/gen_config_reference.py``), so the site can never show a stale one (the
  committed copy, for readers on GitHub, is checked by ``tests/test_docs.py``).
- ``usage.md`` is ``config/README.md``, the usage page the Snakemake workflow catalog shows:
  it lives outside ``docs/`` and is added to the site as it is.
- Pages link to ``../config/README.md`` (a file on GitHub); in the site that is ``usage.md``.
  ``config/README.md`` links to ``../docs/<page>.md`` and ``../README.md``; in the site those are
  ``<page>.md`` and ``index.md``.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from mkdocs.structure.files import File

DOCS = Path(__file__).resolve().parent
REPO = DOCS.parent
sys.path.insert(0, str(DOCS))

import gen_config_reference  # noqa: E402

USAGE = "usage.md"
REFERENCE = "configuration-reference.md"
USAGE_SOURCE = REPO / "config" / "README.md"
# ](target): a Markdown link or image target
LINK = re.compile(r"\]\((?P<target>[^)\s]+)\)")


def on_files(files, config):
    for name, content in (
        (REFERENCE, gen_config_reference.render()),
        (USAGE, USAGE_SOURCE.read_text(encoding="utf-8")),
    ):
        old = files.get_file_from_path(name)
        if old is not None:
            files.remove(old)
        files.append(File.generated(config, name, content=content))
    return files


def site_target(target: str, page: str) -> str:
    """A link target of ``page`` (path in docs/) as the site needs it."""
    path, _, anchor = target.partition("#")
    if page == USAGE:
        if path.startswith("../docs/"):
            path = path.removeprefix("../docs/")
        elif path == "../README.md":
            path = "index.md"
    elif path == "../config/README.md":
        path = USAGE
    return path + ("#" + anchor if anchor else "")


def on_page_markdown(markdown, page, config, files):
    src = page.file.src_uri
    return LINK.sub(lambda m: f"]({site_target(m.group('target'), src)})", markdown)
