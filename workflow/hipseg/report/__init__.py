"""Self-contained HTML report: dataset, nnU-Net plan, Tables I/II, Figs. 3–5, run times, provenance.

The report regenerates the evaluation artefacts of Blažková, "Segmentation of hip joint anatomy
structures from radiographic images" (Tables I and II, Figs. 3, 4 and 5) from the outputs of
:mod:`hipseg.evaluate` and shows the paper's published numbers beside them for comparison. Every
figure is embedded as a base64 PNG and all styling is inline, so the single HTML file can be
mailed or archived without any other file.

Modules: :mod:`~hipseg.report.data` reads and checks the inputs, :mod:`~hipseg.report.paper` the
paper's numbers (``paper_reference.yaml``), :mod:`~hipseg.report.figures` draws Figs. 3–5,
:mod:`~hipseg.report.views` turns everything into rows for the template,
:mod:`~hipseg.report.provenance` records how the report was made and
:mod:`~hipseg.report.build` renders ``workflow/templates/report.html.j2``. All HTML is in the
templates.
"""

from __future__ import annotations

from .build import DEFAULT_TEMPLATE, ReportOptions, build_report
from .paper import REFERENCE as PAPER_REFERENCE

PAPER_TABLE1 = PAPER_REFERENCE.table1
PAPER_TABLE2 = PAPER_REFERENCE.table2
PAPER_TABLE2_MODEL = PAPER_REFERENCE.table2_model
PAPER_DATASET = PAPER_REFERENCE.dataset
PAPER_METHODS = PAPER_REFERENCE.methods

__all__ = [
    "DEFAULT_TEMPLATE",
    "PAPER_DATASET",
    "PAPER_METHODS",
    "PAPER_REFERENCE",
    "PAPER_TABLE1",
    "PAPER_TABLE2",
    "PAPER_TABLE2_MODEL",
    "ReportOptions",
    "build_report",
]
