"""The report as a person sees it: rendered by a real headless Chromium (Debian's `chromium`,
which `make test` installs when missing), driven over the DevTools protocol (tests/browser.py).

Checks: a full-page screenshot that is not blank, every <img> decoded with a natural size,
no console errors, exceptions or failed loads, and every in-page anchor resolves. The report is
built from fabricated inputs (no training). ``HIPSEG_BROWSER_REPORT=path`` checks that report
instead (e.g. the demo's); ``HIPSEG_SCREENSHOT=docs/report.png`` also writes the first screen
(the README's picture).
"""

from __future__ import annotations

import io
import os
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests import tool_missing
from tests.browser import find_chromium, inspect_page

CHROMIUM = find_chromium()


@pytest.fixture(scope="module")
def chromium():
    if CHROMIUM is None:
        tool_missing("chromium is not installed (make test installs Debian's chromium as root)")
    return CHROMIUM


@pytest.fixture(scope="module")
def report_html(tmp_path_factory) -> Path:
    given = os.environ.get("HIPSEG_BROWSER_REPORT")
    if given:
        return Path(given)
    from hipseg.report import build_report
    from tests.test_report import make_inputs
    from tests.test_subgroups import add_subgroups

    kw = make_inputs(tmp_path_factory.mktemp("browser"), n_cases=6, seed=11)
    build_report(**kw, subgroups=add_subgroups(kw))  # with section 11b, its figures and links
    return kw["out_html"]


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.imgs = 0
        self.anchors = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.imgs += tag == "img"
        self.anchors += tag == "a" and (a.get("href") or "").startswith("#")


def _not_blank(png: bytes) -> tuple[int, int, float, int]:
    img = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    grey = img.mean(axis=2)
    colours = len(np.unique(img.reshape(-1, 3)[::7], axis=0))
    return img.shape[1], img.shape[0], float(grey.std()), colours


def test_report_renders_in_chromium(chromium, report_html, tmp_path):
    page = inspect_page(chromium, report_html)
    tags = _Tags()
    tags.feed(report_html.read_text(encoding="utf-8"))

    assert page["problems"] == [], "\n".join(page["problems"])
    images = page["images"]
    assert len(images) == tags.imgs >= 5
    broken = [i["alt"] for i in images if not (i["complete"] and i["width"] > 0 < i["height"])]
    assert not broken, f"images not decoded: {broken}"
    anchors = page["anchors"]
    assert len(anchors) == tags.anchors >= 15
    dangling = sorted({a["href"] for a in anchors if not a["found"]})
    assert not dangling, f"in-page links without a target: {dangling}"

    width, height, spread, colours = _not_blank(page["full"])
    assert width >= 1000 and height > 5000, (width, height)  # the whole long page
    assert spread > 10 and colours > 100, (spread, colours)
    (tmp_path / "full.png").write_bytes(page["full"])

    target = os.environ.get("HIPSEG_SCREENSHOT")
    if target:
        top = Image.open(io.BytesIO(page["top"])).convert("RGB")
        top.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(target, optimize=True)


def test_the_checks_catch_a_broken_page(chromium, tmp_path):
    """The same checks flag a broken image, a dangling anchor, a console error and a failed
    load (so the test above can fail)."""
    page = tmp_path / "broken.html"
    page.write_text(
        '<!DOCTYPE html><html><body><h1 id="top">x</h1>'
        '<img alt="broken" src="data:image/png;base64,AAAA">'
        '<img alt="missing" src="missing.png">'
        '<a href="#top">ok</a><a href="#nowhere">dangling</a>'
        '<script>console.error("boom")</script></body></html>'
    )
    result = inspect_page(chromium, page)
    assert any("boom" in p for p in result["problems"])
    assert any("missing.png" in p for p in result["problems"])
    sizes = {i["alt"]: i["width"] for i in result["images"]}
    assert sizes == {"broken": 0, "missing": 0}
    assert [a["found"] for a in result["anchors"]] == [True, False]
