"""Where each measurement lies on the source image: the points, circle and lines it comes from.

A measurement record (:func:`hipseg.measure.measure_label_map`) holds its landmarks in image
millimetres of the intake's frame (standard AP display; ``record["frame"]`` says whether the
intake flipped or transposed the stored image). DICOM graphics (SR SCOORD, presentation-state
graphic objects) are in pixels of the image *as stored*, (column, row) with (0, 0) the top-left
corner of the top-left pixel, so a pixel's centre is at +0.5. :class:`ImageFrame` converts.

:func:`measurement_graphics` gives, for every measurement with a value, the graphics it is
inferred from: the fitted head circle for the diameter, the lines an angle is measured between,
the perpendicular of a distance, and the teardrop line the distances refer to.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..measure.quantities import SIDES


@dataclass(frozen=True)
class ImageFrame:
    """Intake millimetres → stored-image pixel coordinates (column, row)."""

    spacing_xy: tuple[float, float]  # (x, y) spacing of the intake's frame (mm)
    shape: tuple[int, int]  # rows, cols in the intake's frame
    transpose: bool = False
    flip_ud: bool = False
    flip_lr: bool = False

    @classmethod
    def of(cls, record: dict, shape: tuple[int, int]) -> ImageFrame:
        """The frame of a record (its spacing and ``frame`` flags) on an image of ``shape``
        (rows, cols of the intake's frame)."""
        sx, sy = record["spacing"]["spacing_mm"]
        f = record.get("frame", {})
        return cls(
            (float(sx), float(sy)),
            (int(shape[0]), int(shape[1])),
            bool(f.get("transpose")),
            bool(f.get("flip_ud")),
            bool(f.get("flip_lr")),
        )

    def pixels(self, points_mm) -> np.ndarray:
        """(N, 2) points in intake mm → (N, 2) (column, row) of the stored image."""
        p = np.atleast_2d(np.asarray(points_mm, float))
        u = p[:, 0] / self.spacing_xy[0] + 0.5  # column, pixel centres at +0.5
        v = p[:, 1] / self.spacing_xy[1] + 0.5
        rows, cols = self.shape
        if self.flip_lr:
            u = cols - u
        if self.flip_ud:
            v = rows - v
        if self.transpose:
            u, v = v, u
        return np.stack([u, v], axis=1)

    def stored_shape(self) -> tuple[int, int]:
        return (self.shape[1], self.shape[0]) if self.transpose else self.shape

    def clip(self, px: np.ndarray) -> np.ndarray:
        """Pixel coordinates kept inside the image (presentation states refuse negatives)."""
        rows, cols = self.stored_shape()
        return np.stack([np.clip(px[:, 0], 0, cols), np.clip(px[:, 1], 0, rows)], axis=1)


@dataclass(frozen=True)
class Graphic:
    kind: str  # POINT, MULTIPOINT, POLYLINE, CIRCLE (DICOM graphic types)
    points_mm: tuple  # ((x, y), ...) intake mm
    what: str  # a short description


def _pt(v) -> tuple[float, float] | None:
    return None if v is None else (float(v[0]), float(v[1]))


def _teardrop_line(record: dict) -> Graphic | None:
    line = record.get("teardrop_line", {})
    if "right" not in line:
        return None
    return Graphic("POLYLINE", (_pt(line["right"]), _pt(line["left"])), "teardrop line")


def _hip_graphics(name: str, hip: dict, record: dict, side: str) -> list[Graphic]:
    c, r = _pt(hip.get("head_centre")), hip.get("head_radius")
    td, tip = _pt(hip.get("teardrop_inferior")), _pt(hip.get("lesser_trochanter_tip"))
    rim, axis = _pt(hip.get("acetabular_rim")), hip.get("shaft_axis")
    tdl = _teardrop_line(record)
    out: list[Graphic] = []
    if name == "head_diameter" and c is not None:
        out.append(Graphic("CIRCLE", (c, (c[0] + float(r), c[1])), "fitted femoral head circle"))
    elif name in ("hip_centre_horizontal", "hip_centre_vertical") and c and td:
        out += [Graphic("POLYLINE", (td, c), "teardrop to head centre")]
    elif name == "lesser_trochanter_to_teardrop_line" and tip is not None:
        out.append(Graphic("POINT", (tip,), "lesser trochanter tip"))
    elif name == "lateral_centre_edge_angle" and c and rim:
        up = _up(record)
        length = float(np.hypot(rim[0] - c[0], rim[1] - c[1]))
        top = (c[0] + up[0] * length, c[1] + up[1] * length)
        out.append(Graphic("POLYLINE", (rim, c, top), "rim, head centre, perpendicular"))
    elif name == "sharp_angle" and td and rim:
        out.append(Graphic("POLYLINE", (rim, td), "teardrop to acetabular rim"))
    elif name == "femoral_offset" and c and axis:
        p, d = np.asarray(axis["point"], float), np.asarray(axis["direction"], float)
        d = d / np.hypot(*d)
        foot = p + ((np.asarray(c) - p) @ d) * d
        out.append(Graphic("POLYLINE", (c, _pt(foot)), "head centre to shaft axis"))
        out.append(Graphic("POLYLINE", (_pt(foot - 20 * d), _pt(foot + 60 * d)), "shaft axis"))
    if out and name not in ("head_diameter", "femoral_offset") and tdl is not None:
        out.append(tdl)
    return out


def _up(record: dict) -> tuple[float, float]:
    """The perpendicular to the teardrop line towards the head (image axes without it)."""
    line = record.get("teardrop_line", {})
    if "right" not in line:
        return (0.0, -1.0)
    e1 = np.asarray(line["left"], float) - np.asarray(line["right"], float)
    e1 /= np.hypot(*e1)
    e2 = np.array([-e1[1], e1[0]])
    e2 = e2 if e2[1] > 0 else -e2
    return (float(-e2[0]), float(-e2[1]))


def _radiograph_graphics(name: str, record: dict) -> list[Graphic]:
    lm = record["landmarks"]
    tdl = _teardrop_line(record)
    key = {
        "leg_length_difference_lesser_trochanter": "lesser_trochanter_tip",
        "leg_length_difference_head_centre": "head_centre",
    }.get(name)
    out = []
    if key is not None:
        pts = [_pt(lm[s].get(key)) for s in SIDES]
        if all(pts):
            out.append(Graphic("MULTIPOINT", tuple(pts), f"{key.replace('_', ' ')}s"))
    if tdl is not None:
        out.append(tdl)
    return out


def measurement_graphics(record: dict) -> list[dict]:
    """Every measurement with a value: scope ("right", "left" or "both"), name, value, unit,
    and the graphics it is inferred from (possibly none)."""
    from ..measure.quantities import BY_NAME

    out = []
    scopes = [(s, record["hips"][s]) for s in SIDES] + [("both", record["radiograph"])]
    for side, values in scopes:
        for name, v in values.items():
            if v["value"] is None:
                continue
            if side == "both":
                graphics = _radiograph_graphics(name, record)
            else:
                graphics = _hip_graphics(name, record["landmarks"][side], record, side)
            out.append(
                {
                    "side": side,
                    "name": name,
                    "value": v["value"],
                    "unit": BY_NAME[name].unit,
                    "graphics": graphics,
                }
            )
    return out


# a polyline's GraphicData (2 float32 per point) must stay below 64 KiB, the largest value an
# explicit-VR FL element can hold (PS3.5 7.1.2); pydicom would otherwise write it as UN
MAX_POLYLINE_POINTS = 8000


def label_contours(
    labels: np.ndarray,
    frame: ImageFrame,
    step: int = 2,
    min_fraction: float = 0.02,
    most: int = 8,
) -> dict[int, list]:
    """Outlines of every label (intake-frame label map) as closed polylines in stored-image
    pixels: {label value: [(N, 2) array, ...]} (every ``step``-th outline point, at most
    :data:`MAX_POLYLINE_POINTS`).
    Outlines that enclose less than ``min_fraction`` of the label's area (specks) are left out,
    and at most the ``most`` largest are kept."""
    from scipy import ndimage
    from skimage import measure

    from ..labels import LABELS

    out: dict[int, list] = {}
    for lab in LABELS:
        mask = labels == lab.value
        total = float(mask.sum())
        least = max(2.0, min_fraction * total)
        # specks first, by connected component: a noisy map has hundreds of thousands of them,
        # and tracing each outline is what would take the time
        comp, n = ndimage.label(mask)
        sizes = np.bincount(comp.ravel(), minlength=n + 1)[1:]
        keep = np.argsort(sizes)[::-1][:most]
        keep = keep[sizes[keep] >= least] + 1
        out[lab.value] = []
        if not len(keep):
            continue
        mask = np.isin(comp, keep)
        rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
        r0, c0 = int(rows[0]), int(cols[0])
        box = mask[r0 : int(rows[-1]) + 1, c0 : int(cols[-1]) + 1]
        # holes too small to be kept are filled, so that their outlines are never traced
        holes, n_holes = ndimage.label(ndimage.binary_fill_holes(box) & ~box)
        if n_holes:
            small = np.bincount(holes.ravel(), minlength=n_holes + 1) < least
            small[0] = False
            box = box | small[holes]
        found = []
        for c in measure.find_contours(np.pad(box, 1).astype(np.float32), 0.5):
            c = c + (r0, c0)
            area = 0.5 * abs(
                float(np.dot(c[:, 0], np.roll(c[:, 1], 1)) - np.dot(c[:, 1], np.roll(c[:, 0], 1)))
            )
            if len(c) >= 6 and area >= least:
                found.append((area, c))
        polys = []
        for _, c in sorted(found, key=lambda t: -t[0])[:most]:
            c = c[::step] if len(c) > 3 * step else c
            if len(c) > MAX_POLYLINE_POINTS - 1:
                c = c[np.linspace(0, len(c) - 1, MAX_POLYLINE_POINTS - 1).astype(int)]
            rc = c - 1.0  # undo the pad: (row, col) of pixel centres
            mm = np.stack([rc[:, 1] * frame.spacing_xy[0], rc[:, 0] * frame.spacing_xy[1]], 1)
            px = frame.clip(frame.pixels(mm))
            polys.append(np.vstack([px, px[:1]]))
        out[lab.value] = polys
    return out
