"""Deterministic synthetic AP pelvis radiographs (DICOM CR) with five-label hip masks.

The real dataset of the paper (Blažková et al., Section II) is private, so the workflow ships this
generator as its built-in demo dataset.  :func:`generate` writes::

    out_dir/dicom/<id>.dcm     CR Image Storage, 16-bit, MONOCHROME1 or MONOCHROME2, fake PHI
    out_dir/labels/<id>.png    uint8 label map (rows x cols of the DICOM pixel array), values 0-5
    out_dir/samples.tsv        id, patient, dicom, labels, hips, split, note

Geometry (:mod:`.geometry`, :mod:`.anatomy`)
    Everything is defined in millimetres and rasterised at the pixel spacing of each image, so a
    paper-size preset is only other numbers.  The field of view is a 43 x 35 cm cassette; the
    patient's RIGHT hip is on the IMAGE LEFT (standard AP display, ``PatientOrientation = L\\F``).
    Each hip is built in a canonical frame (origin = femoral head centre, ``u`` towards the midline,
    ``v`` towards the feet) from interpretable per-patient parameters (head radius, neck length,
    neck-shaft angle, shaft width, pelvis size, small left/right asymmetry) and per-radiograph
    positioning (femoral rotation, pelvic tilt, small rotation/shift of the patient in the field).

Labels (paper, Fig. 2; values from :mod:`hipseg.labels`), painted in this order
    L5 hemipelvis (ilium, acetabular roof, ischium, pubis; the sacrum is *not* labelled and is
    separated from the ilium by the sacro-iliac joint space); L4 acetabular fossa / medial joint
    space between head, teardrop and roof; L3 Köhler teardrop (:mod:`.pelvis`); L1 femoral head +
    neck interior + greater trochanter + medullary cavity; L2 inferior neck cortex (calcar) + both
    diaphyseal cortices + lesser trochanter (:mod:`.femur`).  Hips with an arthroplasty (metal
    stem, ball and cup) are excluded in ``samples.tsv`` (``hips`` column) and carry no labels (0)
    in the label map.

Demo enlargement
    At the demo's ~2 mm/px, a true-size teardrop (~7 x 18 mm) and fossa would be a handful of
    pixels.  The preset keys ``teardrop_scale`` and ``fossa_scale`` enlarge the teardrop (both
    axes) and the width of the fossa crescent; the demo uses 1.9 for both, the ``paper`` preset
    (true size, the paper's spacings) 1.0.

Image formation (:mod:`.physics`, :mod:`.radiograph`)
    Path lengths through each body along the ray are analytic (spheres, tubes, ellipsoids) or
    EDT domes (hemipelvis plate); bones have a dense cortical shell and a trabecular / medullary
    interior, the diaphysis is a tube (bright cortices, darker canal), the teardrop a dense rim,
    the fossa a thinner part of the pelvic wall.  Soft tissue is an elliptic trunk that splits
    into two thighs.  Then Beer-Lambert with a heel-effect exposure gradient, scatter (a broad
    blur of the photons that interact in the patient), Poisson-like quantum noise, Gaussian
    detector blur, log transform, mild unsharp masking (CR processing) and windowing to
    12/14/16-bit stored values; MONOCHROME1 images store the inverted values.
    Metal (implants, fixation, lead side markers) attenuates strongly; burned-in text is set to
    display white after processing.

Findings (``note`` column; :mod:`.findings`, :mod:`.annotations`)
    Osteoarthritis, acetabular protrusion, excluded hardware (arthroplasty, dynamic hip screw and
    plate, cannulated screws), lead side markers and burned-in text.  Counts are exact (see
    :func:`.cohort._plan`).

Everything is deterministic: the same ``seed`` gives byte-identical files (UIDs are derived
from the seed, no wall-clock values are used; :mod:`.dicomwriter`).

Modules, in the order the data flows: :mod:`.cohort` (presets, patients, radiographs, the sheet,
:func:`generate`) → :mod:`.anatomy` (parameters) → :mod:`.radiograph` (one image) →
:mod:`.pelvis`, :mod:`.femur`, :mod:`.findings` (bones and findings, via :mod:`.geometry`) →
:mod:`.physics` (exposure and processing) → :mod:`.annotations` (burned-in text) →
:mod:`.dicomwriter` (files); :mod:`.figures` draws a montage and a gallery of a generated set.
"""

from __future__ import annotations

# The public API (__all__), and the internals that tests and callers used when this was a module.
from .anatomy import Hip as Hip
from .anatomy import Patient as Patient
from .anatomy import Pose as Pose
from .anatomy import _patient as _patient
from .anatomy import _pose as _pose
from .cohort import PRESETS, SynthOptions, describe, generate
from .cohort import TSV_COLUMNS as TSV_COLUMNS
from .cohort import _plan as _plan
from .cohort import _radiographs as _radiographs
from .cohort import _subset_sum as _subset_sum
from .figures import GALLERY as GALLERY
from .figures import gallery, montage
from .radiograph import _render_hip as _render_hip
from .radiograph import render_radiograph

__all__ = [
    "PRESETS",
    "SynthOptions",
    "describe",
    "gallery",
    "generate",
    "montage",
    "render_radiograph",
]
