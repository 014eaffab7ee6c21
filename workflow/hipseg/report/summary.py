"""A one-line account of what a rendered report contains (``hipseg report-summary``; ``make
demo`` prints it): size, sections, tables, figures, gallery cases, references, embedded files,
and whether anything points outside the file."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

from ..errors import InputError


class _Counter(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.sections: list[str] = []
        self.tables = 0
        self.images = 0
        self.cards = 0
        self.references = 0
        self.downloads: list[str] = []
        self.external: list[str] = []
        self._in_refs = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        classes = (a.get("class") or "").split()
        if tag == "section" and a.get("id"):
            self.sections.append(a["id"])
        elif tag == "table" and "data" in classes:
            self.tables += 1
        elif tag == "img":
            self.images += 1
        elif tag == "div" and "card" in classes:
            self.cards += 1
        elif tag == "ol" and "refs" in classes:
            self._in_refs = True
        elif tag == "li" and self._in_refs:
            self.references += 1
        if tag == "a" and "download" in a:
            self.downloads.append(a["download"])
        for key in ("src", "href"):
            v = a.get(key)
            if v and not v.startswith(("data:", "#")):
                self.external.append(v)
        if tag in ("link", "script") and (a.get("src") or a.get("href")):
            self.external.append(a.get("src") or a.get("href"))

    def handle_endtag(self, tag):
        if tag == "ol":
            self._in_refs = False


def summarise(path: str | Path) -> str:
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "report does not exist")
    c = _Counter()
    c.feed(path.read_text(encoding="utf-8"))
    size = path.stat().st_size / 1e6
    files = sorted(set(c.downloads))
    contained = "self-contained" if not c.external else f"{len(c.external)} external link(s)"
    return (
        f"{path}: {size:.1f} MB, {contained}; {len(c.sections)} sections, {c.tables} tables, "
        f"{c.images} images ({c.cards} test cases in the gallery), "
        f"{c.references} references, {len(files)} embedded files ({', '.join(files)})"
    )
