"""Hip measurements for total hip arthroplasty planning, from full-image label maps.

:mod:`.landmarks` finds the landmarks of each hip in a label map (head circle, teardrop, shaft
axis, lesser trochanter, acetabular rim), :mod:`.quantities` turns the landmarks of both hips
into the measurements (definitions and references in :data:`.quantities.DEFINITIONS`),
:mod:`.fit` holds the geometry, :mod:`.record` the per-radiograph JSON/CSV and the spacing
statement, :mod:`.validate` the comparison with the synthetic generator's known geometry and
:mod:`.draw` the overlays of the fitted circles and lines.
"""

from __future__ import annotations

from .landmarks import Missing
from .quantities import DEFINITIONS, measure
from .record import hip_landmarks, measure_label_map

__all__ = ["DEFINITIONS", "Missing", "hip_landmarks", "measure", "measure_label_map"]
