"""What a PACS viewer shows: a Grayscale Softcopy Presentation State, and a Secondary Capture.

**GSPS** (highdicom ``pr``; PS3.3 A.33.1): graphic annotations on the source radiograph, which
any PACS viewer draws over the image when the presentation state is chosen. Layers:

``LABELS``        the outlines of the five labels (closed polylines, one layer per label in
                  its overlay colour: ``L1`` … ``L5``)
``MEASUREMENTS``  the graphics every measurement is inferred from (:mod:`.geometry`: head
                  circles, the teardrop line, the lines of the angles and distances) and its
                  value as text ("R head diameter 50.6 mm")
``TEMPLATING``    with a plan (:mod:`hipseg.templating`): the cup's outline and centre of
                  rotation, the stem's outline and neck, the head at the stem's head centre, and
                  one line of text per hip (components, predicted leg-length and offset change)
``REVIEW``        "NEEDS REVIEW" and the first reasons (:mod:`.quality`), when flagged

All graphics are in PIXEL units of the image as stored. The window of the source (its first
WindowCenter/Width, or its pixel range) is the presentation state's VOI.

**Secondary Capture** (highdicom ``sc``): the overlay PNG of ``hipseg segment`` (labels, fitted
landmarks), with the review statement burned in, as an RGB image: a fallback for viewers that
ignore presentation states (``listen.send`` chooses what goes to the PACS).

Both take the radiograph's header as it is (:mod:`hipseg.dicomref`): absent Type 2 patient and
study attributes are empty in them, and their series carries the radiograph's BodyPartExamined
with the Laterality DICOM asks for (absent for PELVIS, empty for a paired or unknown part).

:func:`render_gsps` draws a presentation state's graphics onto its image with PIL (the README's
screenshot; the tests use it to check that the graphics land on the anatomy).
"""

from __future__ import annotations

import warnings

import numpy as np
import pydicom
from PIL import Image, ImageDraw

from .. import __version__
from ..dicomref import derived_orientation, reference, set_series_body_part
from ..labels import LABELS
from .geometry import ImageFrame, label_contours, measurement_graphics
from .sr import MANUFACTURER, ascii_text, uid

PR_SERIES_NUMBER = 903
SC_SERIES_NUMBER = 904
SHORT = {
    "head_diameter": "head diameter",
    "hip_centre_horizontal": "centre horiz.",
    "hip_centre_vertical": "centre vert.",
    "lesser_trochanter_to_teardrop_line": "LT-TD",
    "lateral_centre_edge_angle": "LCE",
    "sharp_angle": "Sharp",
    "femoral_offset": "offset",
    "leg_length_difference_lesser_trochanter": "LLD (LT)",
    "leg_length_difference_head_centre": "LLD (head)",
    "teardrop_line_angle": "teardrop tilt",
}
MEASUREMENT_COLOUR = (255, 235, 60)
TEMPLATING_COLOUR = (255, 80, 200)
REVIEW_COLOUR = (255, 40, 40)


def _lab(hd, rgb):
    return hd.color.CIELabColor.from_rgb(*(int(c) for c in rgb))


def _legend(texts, frame, rows, cols, size, hd) -> list:
    """The values as text objects: each hip's in a column at the image edge on its side (top
    down, below the review lines), the both-hip ones at the bottom; anchored at the
    measurement's first point."""
    out, counts = [], {}
    for m, text in texts:
        first = m["graphics"][0].points_mm[0] if m["graphics"] else None
        anchor = (
            None if first is None else tuple(float(v) for v in frame.clip(frame.pixels(first))[0])
        )
        n = counts[m["side"]] = counts.get(m["side"], 0) + 1
        width = min(0.6 * size * len(text), cols)
        if m["side"] == "both":
            left, top = (cols - width) / 2, rows - (4 - n) * size
        else:
            on_left = anchor is None and m["side"] == "right" or (anchor and anchor[0] < cols / 2)
            left, top = (0.0 if on_left else cols - width), (3 + n) * size
        top = float(np.clip(top, 0, rows - size))
        box = (
            float(max(left, 0)),
            top,
            float(min(left + width, cols)),
            float(min(top + size, rows)),
        )
        out.append(
            hd.pr.TextObject(
                text, "PIXEL", bounding_box=box, anchor_point=anchor, anchor_point_visible=False
            )
            if anchor
            else hd.pr.TextObject(text, "PIXEL", bounding_box=box)
        )
    return out


WINDOW = ("WindowCenter", "WindowWidth", "WindowCenterWidthExplanation", "VOILUTFunction")


def _without_window(source: pydicom.Dataset) -> pydicom.Dataset:
    """The header without its window (an empty or unusable one: without a VOI given, highdicom
    copies the referenced image's window into the presentation state, and fails on it)."""
    ds = pydicom.Dataset()
    for elem in source:
        if elem.keyword not in WINDOW:
            ds.add(elem)
    return ds


def _voi(hd, source):
    """The source's first window (None where it has none, or an empty or unusable one)."""

    def first(keyword):
        v = source.get(keyword)
        v = v[0] if isinstance(v, pydicom.multival.MultiValue) and len(v) else v
        try:
            return float(v)
        except (TypeError, ValueError):
            return None

    wc, ww = first("WindowCenter"), first("WindowWidth")
    if wc is None or ww is None or not ww > 0:
        return None
    return [hd.pr.SoftcopyVOILUTTransformation(window_center=wc, window_width=ww)]


def _templating_layer(hd, source, templating: dict, frame, rows: int, cols: int, size: float):
    """The ``TEMPLATING`` layer and its annotation (None when no hip has outlines or text)."""
    layer = hd.pr.GraphicLayer(
        "TEMPLATING", 15, "planned components (2D templating)", _lab(hd, TEMPLATING_COLOUR)
    )
    objects, texts = [], []
    n = len(templating["hips"])
    for side, plan in templating["hips"].items():
        o = plan.get("outline")
        line = ascii_text(plan.get("summary", side))[:160]
        top = float(np.clip(rows - (5 + n - len(texts)) * size, 0, rows - size))
        texts.append(hd.pr.TextObject(line, "PIXEL", bounding_box=(
            float(cols * 0.1), top, float(cols * 0.9), float(min(top + size, rows)))))  # fmt: skip
        if not o:
            continue
        for poly in (o["cup"], o["stem"], o["neck"]):
            px = frame.clip(frame.pixels(poly)).astype(np.float32)
            objects.append(hd.pr.GraphicObject("POLYLINE", px, "PIXEL"))
        c, r = o["head"]["centre"], o["head"]["radius"]
        px = frame.clip(frame.pixels([c, [c[0] + r, c[1]]])).astype(np.float32)
        objects.append(hd.pr.GraphicObject("CIRCLE", px, "PIXEL"))
        px = frame.clip(frame.pixels([o["centre_of_rotation"]])).astype(np.float32)
        objects.append(hd.pr.GraphicObject("POINT", px, "PIXEL"))
    if templating.get("status") == "refused":
        line = ascii_text("NOT TEMPLATED: " + templating["reason"])[:160]
        box = (float(cols * 0.1), float(rows - 7 * size), float(cols * 0.9), float(rows - 6 * size))
        texts = [hd.pr.TextObject(line, "PIXEL", bounding_box=box)]
    annotation = hd.pr.GraphicAnnotation(
        [source], layer, graphic_objects=objects or None, text_objects=texts or None
    )
    return layer, annotation


def _label_layers(hd, source, labels: np.ndarray, frame) -> tuple[list, list]:
    """A layer per label (``L1`` …, its colour) and the annotation of its outlines."""
    layers, annotations = [], []
    contours = label_contours(labels, frame)
    for order, lab in enumerate(LABELS, start=1):
        layer = hd.pr.GraphicLayer(
            lab.name,
            order,
            ascii_text(f"{lab.name}: {lab.description}")[:64],
            _lab(hd, [c * 255 for c in lab.color]),
        )
        objects = [
            hd.pr.GraphicObject("POLYLINE", poly.astype(np.float32), "PIXEL")
            for poly in contours[lab.value]
        ]
        layers.append(layer)
        if objects:
            annotations.append(hd.pr.GraphicAnnotation([source], layer, graphic_objects=objects))
    return layers, annotations


def _measurement_objects(hd, record: dict, frame) -> tuple[list, list]:
    """The graphics of every measurement (each drawn once) and its (measurement, text)."""
    graphics, texts, drawn = [], [], set()
    for m in measurement_graphics(record):
        for g in m["graphics"]:
            key = (g.kind, g.points_mm)
            px = frame.clip(frame.pixels(g.points_mm)).astype(np.float32)
            if key in drawn:
                continue
            drawn.add(key)
            kind = "POLYLINE" if g.kind == "MULTIPOINT" else g.kind
            if g.kind in ("MULTIPOINT", "POINT"):
                for p in px:
                    graphics.append(hd.pr.GraphicObject("POINT", p[None], "PIXEL"))
            else:
                graphics.append(hd.pr.GraphicObject(kind, px, "PIXEL"))
        side = {"right": "R ", "left": "L "}.get(m["side"], "")
        unit = " deg" if m["unit"] == "deg" else " mm"
        texts.append((m, f"{side}{SHORT[m['name']]} {m['value']:.1f}{unit}"))
    return graphics, texts


def _prepared(source: pydicom.Dataset, patient_right_on: str):
    """(the radiograph, its header made whole as :mod:`hipseg.dicomref` says, the VOI of the
    state or None); an unusable window is left out (highdicom would copy it)."""
    import highdicom as hd

    original, source = source, reference(source, patient_right_on).dataset
    voi = _voi(hd, source)
    if voi is None and any(k in source for k in WINDOW):
        source = _without_window(source)
    return original, source, voi


def _banner(hd, source, name: str, order: int, lines: list[str]):
    """A layer of text lines across the top of the image (NEEDS REVIEW, NOT ASSESSED) and its
    annotation."""
    rows, cols = int(source.Rows), int(source.Columns)
    size = max(6.0, min(rows, cols) / 30)
    layer = hd.pr.GraphicLayer(name, order, f"{name.lower()}: why", _lab(hd, REVIEW_COLOUR))
    objs = [
        hd.pr.TextObject(ascii_text(t)[:1024], "PIXEL",
                         bounding_box=(0.0, i * size, float(cols), min((i + 1) * size, rows)))
        for i, t in enumerate(lines)
    ]  # fmt: skip
    return layer, hd.pr.GraphicAnnotation([source], layer, text_objects=objs)


def _state(hd, original, source, voi, model: str, layers, annotations, description: str):
    """The presentation state of ``source`` with these layers and annotations."""
    src_uid = str(source.SOPInstanceUID)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*unlikely to represent the intended person")
        gsps = hd.pr.GrayscaleSoftcopyPresentationState(
            referenced_images=[source],
            series_instance_uid=uid(src_uid, model, "pr series"),
            series_number=PR_SERIES_NUMBER,
            sop_instance_uid=uid(src_uid, model, "pr"),
            instance_number=1,
            manufacturer=MANUFACTURER,
            manufacturer_model_name=f"hipseg nnU-Net v2 {model}",
            software_versions=__version__,
            device_serial_number="none",
            content_label="HIPSEG",
            content_description=description,
            graphic_annotations=annotations,
            graphic_layers=layers,
            voi_lut_transformations=voi,
        )
    set_series_body_part(gsps, original)
    return gsps


def build_gsps(
    source: pydicom.Dataset,
    record: dict,
    quality: dict,
    labels: np.ndarray,
    model: str,
    patient_right_on: str = "image_left",
    templating: dict | None = None,
):
    """The presentation state of one result (``labels``: the intake-frame label map;
    ``patient_right_on``: what the intake assumed where the source has no PatientOrientation;
    with ``templating``, the ``TEMPLATING`` layer)."""
    import highdicom as hd

    original, source, voi = _prepared(source, patient_right_on)
    frame = ImageFrame.of(record, labels.shape)
    rows, cols = int(source.Rows), int(source.Columns)
    size = max(6.0, min(rows, cols) / 30)
    layers, annotations = _label_layers(hd, source, labels, frame)
    meas = hd.pr.GraphicLayer(
        "MEASUREMENTS", 10, "hip measurements: lines and values", _lab(hd, MEASUREMENT_COLOUR)
    )
    graphics, texts = _measurement_objects(hd, record, frame)
    texts = _legend(texts, frame, rows, cols, size, hd)
    layers.append(meas)
    if graphics or texts:
        annotations.append(
            hd.pr.GraphicAnnotation(
                [source], meas, graphic_objects=graphics or None, text_objects=texts or None
            )
        )
    if templating is not None:
        layer, annotation = _templating_layer(hd, source, templating, frame, rows, cols, size)
        layers.append(layer)
        annotations.append(annotation)
    if quality["needs_review"]:
        layer, annotation = _banner(hd, source, "REVIEW", 20,
                                    ["NEEDS REVIEW", *quality["reasons"][:3]])  # fmt: skip
        layers.append(layer)
        annotations.append(annotation)
    description = "hipseg labels and measurements" + (
        " - NEEDS REVIEW" if quality["needs_review"] else ""
    )
    return _state(hd, original, source, voi, model, layers, annotations, description)


def build_not_assessed_pr(source: pydicom.Dataset, reasons: list[str], model: str,
                          patient_right_on: str = "image_left"):  # fmt: skip
    """A presentation state that writes NOT ASSESSED and the reasons (at most four) across the
    top of a radiograph the gate refused (:mod:`hipseg.gate`): no labels, no measurements."""
    import highdicom as hd

    original, source, voi = _prepared(source, patient_right_on)
    layer, annotation = _banner(hd, source, "NOT ASSESSED", 1, ["NOT ASSESSED", *reasons[:4]])
    return _state(hd, original, source, voi, model, [layer], [annotation],
                  "hipseg: NOT ASSESSED")  # fmt: skip


def review_banner(img: Image.Image, quality: dict) -> Image.Image:
    """The overlay with "NEEDS REVIEW" and the reasons written at its top (when flagged)."""
    if not quality["needs_review"]:
        return img
    draw = ImageDraw.Draw(img)
    lines = ["NEEDS REVIEW", *quality["reasons"][:3]]
    h = 11
    draw.rectangle((0, 0, img.width, h * len(lines) + 2), fill=(0, 0, 0))
    for i, line in enumerate(lines):
        draw.text((2, 1 + i * h), line, fill=REVIEW_COLOUR)
    return img


def build_sc(source: pydicom.Dataset, overlay: Image.Image, model: str, spacing_xy,
             patient_right_on: str = "image_left"):  # fmt: skip
    """A Secondary Capture of the overlay (RGB; the intake's orientation: standard AP display,
    the patient's right on the image side ``patient_right_on`` names, feet down)."""
    import highdicom as hd

    ref = reference(source, patient_right_on)
    original, source = source, ref.dataset
    src_uid = str(source.SOPInstanceUID)
    rgb = np.asarray(overlay.convert("RGB"), dtype=np.uint8)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*unlikely to represent the intended person")
        sc = hd.sc.SCImage.from_ref_dataset(
            ref_dataset=source,
            pixel_array=rgb,
            photometric_interpretation="RGB",
            bits_allocated=8,
            coordinate_system="PATIENT",
            series_instance_uid=uid(src_uid, model, "sc series"),
            series_number=SC_SERIES_NUMBER,
            sop_instance_uid=uid(src_uid, model, "sc"),
            instance_number=1,
            manufacturer=MANUFACTURER,
            patient_orientation=derived_orientation(patient_right_on),
            pixel_spacing=(float(spacing_xy[1]), float(spacing_xy[0])),
            series_description=f"hipseg {model} overlay",
        )
    sc.BurnedInAnnotation = "YES"
    set_series_body_part(sc, original)
    if ref.notes:
        sc.ImageComments = "hipseg: " + "; ".join(ref.notes)
    ref = pydicom.Dataset()
    ref.ReferencedSOPClassUID = source.SOPClassUID
    ref.ReferencedSOPInstanceUID = src_uid
    sc.SourceImageSequence = [ref]  # the radiograph the overlay shows
    sc.DerivationDescription = "hipseg overlay: labels and measurements on the radiograph"
    return sc


def render_gsps(image: np.ndarray, gsps: pydicom.Dataset, scale: int = 3) -> Image.Image:
    """Draw a presentation state's graphic annotations (PIXEL units) onto ``image`` (the stored
    pixel array, windowed by the state's VOI), enlarged ``scale`` times, with PIL."""
    img = np.asarray(image, float)
    voi = gsps.get("SoftcopyVOILUTSequence")
    if voi:
        c, w = float(voi[0].WindowCenter), float(voi[0].WindowWidth)
        lo, hi = c - w / 2, c + w / 2
    else:
        lo, hi = float(img.min()), float(img.max())
    grey = np.clip((img - lo) / max(hi - lo, 1e-6), 0, 1) * 255
    out = Image.fromarray(grey.astype(np.uint8)).convert("RGB")
    out = out.resize((out.width * scale, out.height * scale), Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(out)
    colours = {}
    for layer in gsps.GraphicLayerSequence:
        lab = layer.get("GraphicLayerRecommendedDisplayCIELabValue")
        colours[layer.GraphicLayer] = (
            tuple(int(v) for v in _cielab_to_rgb(lab)) if lab else (255, 255, 255)
        )

    def xy(p):
        return (float(p[0]) * scale, float(p[1]) * scale)

    for ann in gsps.GraphicAnnotationSequence:
        colour = colours.get(ann.GraphicLayer, (255, 255, 255))
        for g in ann.get("GraphicObjectSequence", []):
            pts = np.asarray(g.GraphicData, float).reshape(-1, 2)
            if g.GraphicType == "POLYLINE":
                draw.line([xy(p) for p in pts], fill=colour, width=max(1, scale // 2))
            elif g.GraphicType == "CIRCLE":
                (cx, cy), (ex, ey) = xy(pts[0]), xy(pts[1])
                r = float(np.hypot(ex - cx, ey - cy))
                draw.ellipse(
                    (cx - r, cy - r, cx + r, cy + r), outline=colour, width=max(1, scale // 2)
                )
            elif g.GraphicType == "POINT":
                x, y = xy(pts[0])
                draw.ellipse((x - scale, y - scale, x + scale, y + scale), fill=colour)
        for t in ann.get("TextObjectSequence", []):
            box = t.get("BoundingBoxTopLeftHandCorner")
            if box is not None:
                draw.text(xy(box), str(t.UnformattedTextValue), fill=colour)
    return out


def _cielab_to_rgb(value) -> tuple[int, int, int]:
    import highdicom as hd

    return hd.color.CIELabColor.from_dicom_value(value).to_rgb()
