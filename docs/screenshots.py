"""Draw the documentation's pictures of the demo from a finished ``make demo`` (never by hand).

- ``docs/report.png``: the first screen of ``results/report/report.html`` as a newcomer sees it,
  rendered by Debian's headless Chromium (``tests/browser.py``: DevTools protocol on a pipe, no
  network) in a 1400 × 900 viewport, as a 128-colour PNG.
- ``docs/segmented.png``: one of the demo's test radiographs as ``hipseg segment`` segmented it
  (``results/segment/test/``): the de-identified radiograph with the predicted labels, the fitted
  head circles, the teardrop line, rims, shaft axes and lesser trochanters, redrawn enlarged
  from that run's label map and measurements with the code that draws ``overlay.png``. The
  radiograph is the first by name that was segmented with both hips, no exclusion and no review
  flag (``--radiograph`` picks another).
- ``docs/screenshots.json``: what each picture was drawn from (files and their SHA-256), so that
  ``tests/test_docs.py`` can tell a drawn picture from an edited one.

Usage (``make screenshots``; after ``make demo``)::

    PYTHONPATH=workflow python docs/screenshots.py [--results results] [--out docs]

The results folder must be the demo's (``results/demo/samples.tsv`` exists); nothing in it is
written.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
REPO = DOCS.parent
sys.path.insert(0, str(REPO / "workflow"))
sys.path.insert(0, str(REPO))

VIEWPORT = (1400, 900)  # CSS pixels: the first screen of a laptop browser
SEGMENTED_WIDTH = 900  # the segmented radiograph is enlarged to about this width (px)


class ScreenshotError(Exception):
    pass


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def sources(paths: list[Path], results: Path) -> dict[str, str]:
    """{path (relative to the results' folder where it lies inside it): SHA-256}."""
    out = {}
    for p in paths:
        p = p.resolve()
        try:
            name = str(p.relative_to(results.parent))
        except ValueError:
            name = str(p)
        out[name] = sha256(p)
    return out


def demo_results(results: Path) -> Path:
    results = results.resolve()
    if not (results / "demo" / "samples.tsv").is_file():
        raise ScreenshotError(
            f"{results} is not the results folder of a demo run (no demo/samples.tsv): "
            "run `make demo` first"
        )
    return results


def report_png(results: Path, out: Path, viewport=VIEWPORT) -> dict:
    """The report's first screen, rendered in headless Chromium."""
    from PIL import Image
    from tests.browser import Browser, file_url, find_chromium

    html = results / "report" / "report.html"
    if not html.is_file():
        raise ScreenshotError(f"{html} not found: the demo has not finished")
    chromium = find_chromium()
    if chromium is None:
        raise ScreenshotError("chromium is not installed (`make chromium` installs it)")
    with Browser(chromium) as browser:
        browser.open(file_url(html), width=viewport[0], height=viewport[1])
        shot = browser.screenshot(full_page=False)
        problems = browser.problems()
    if problems:
        raise ScreenshotError(f"{html}: the browser reported problems: {problems}")
    top = Image.open(io.BytesIO(shot)).convert("RGB")
    top.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(out, optimize=True)
    return {"from": sources([html], results), "viewport": list(viewport)}


def pick_radiograph(run: dict, name: str | None) -> dict:
    done = [e for e in run["radiographs"] if e.get("status") == "ok"]
    if name is not None:
        chosen = [e for e in done if e["name"] == name]
        if not chosen:
            raise ScreenshotError(f"radiograph {name!r} was not segmented in this run")
        return chosen[0]
    clean = [e for e in done if not e["excluded"] and not e["needs_review"]]
    chosen = sorted(clean or done, key=lambda e: e["name"])
    if not chosen:
        raise ScreenshotError("the run segmented no radiograph")
    return chosen[0]


def segmented_png(results: Path, out: Path, name: str | None = None) -> dict:
    """A test radiograph as hipseg segment segmented it, enlarged."""
    import numpy as np
    from PIL import Image

    from hipseg.clinical.pr import review_banner
    from hipseg.dicomio import read_radiograph
    from hipseg.io import read_image_2d
    from hipseg.measure.draw import base_image, draw_record

    segmented = results / "segment" / "test"
    run_json = segmented / "run.json"
    if not run_json.is_file():
        raise ScreenshotError(f"{run_json} not found: the demo did not segment its test set")
    run = json.loads(run_json.read_text(encoding="utf-8"))
    entry = pick_radiograph(run, name)
    folder = segmented / entry["name"]
    record = json.loads((folder / "measurements.json").read_text(encoding="utf-8"))
    quality = {"needs_review": entry["needs_review"], "reasons": entry["review_reasons"]}
    overlay = folder / "overlay.png"
    source = Path(entry["input"])
    if not source.is_absolute():  # the workflow's paths are relative to its working directory
        source = results.parent / source
    if record.get("frame", {}).get("changed") or not source.is_file():
        # the label map is stored in the DICOM's orientation, the overlay in the intake's: when
        # they differ (or the radiograph is gone), enlarge the overlay hipseg segment drew
        img = Image.open(overlay).convert("RGB")
        scale = max(1, round(SEGMENTED_WIDTH / img.width))
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
        drawn_from = [overlay]
    else:
        pixels = read_radiograph(source).pixels
        labels, _ = read_image_2d(folder / "labels.nii.gz")
        scale = max(1, round(SEGMENTED_WIDTH / pixels.shape[1]))
        img = base_image(pixels, labels.astype(np.uint8))
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
        draw_record(img, record, tuple(record["spacing"]["spacing_mm"]), scale)
        img = review_banner(img, quality)
        drawn_from = [source, folder / "labels.nii.gz", folder / "measurements.json"]
    img.save(out, optimize=True)
    return {
        "radiograph": entry["name"],
        "model": run.get("model", {}).get("name") if isinstance(run.get("model"), dict) else None,
        "needs_review": entry["needs_review"],
        "scale": scale,
        "from": sources(drawn_from, results),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--results",
        type=Path,
        default=REPO / "results",
        help="the results folder of a finished demo (default: results/)",
    )
    parser.add_argument("--out", type=Path, default=DOCS, help="where the pictures go")
    parser.add_argument("--radiograph", help="the test radiograph to show (its name)")
    args = parser.parse_args(argv)
    try:
        results = demo_results(args.results)
        args.out.mkdir(parents=True, exist_ok=True)
        record = {
            "report.png": report_png(results, args.out / "report.png"),
            "segmented.png": segmented_png(results, args.out / "segmented.png", args.radiograph),
        }
    except ScreenshotError as exc:
        print(f"screenshots: error: {exc}", file=sys.stderr)
        return 2
    for name in record:
        record[name]["png_sha256"] = sha256(args.out / name)
    (args.out / "screenshots.json").write_text(json.dumps(record, indent=2) + "\n")
    for name in record:
        print(args.out / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
