"""Self-contained HTML report: dataset, nnU-Net plan, Tables I–IV with bootstrap intervals, paired
tests, Figs. 3–7 (learning curves, every test case), run times, methods text, data, provenance.

The report regenerates the evaluation artefacts of Blažková, "Segmentation of hip joint anatomy
structures from radiographic images" (Tables I and II, Figs. 3, 4 and 5) from the outputs of
:mod:`hipseg.evaluate` and shows the paper's published numbers beside them for comparison. Every
figure is embedded as a base64 PNG and all styling is inline, so the single HTML file can be
mailed or archived without any other file.

Modules: :mod:`~hipseg.report.data` reads and checks the inputs, :mod:`~hipseg.report.paper` the
paper's numbers (``paper_reference.yaml``), :mod:`~hipseg.report.figures` draws the figures,
:mod:`~hipseg.report.views` and :mod:`~hipseg.report.metrics_views` turn everything into rows
for the template, :mod:`~hipseg.report.learning` reads nnU-Net's training logs,
:mod:`~hipseg.report.cases` makes the all-cases gallery, :mod:`~hipseg.report.methods` the
methods text citing :mod:`~hipseg.report.references`, :mod:`~hipseg.report.downloads` embeds
the data files, :mod:`~hipseg.report.provenance` records how the report was made and
:mod:`~hipseg.report.build` renders ``workflow/templates/report.html.j2`` (and the sections it
includes). All HTML is in the templates. :mod:`~hipseg.report.summary` describes a rendered
report in one line.
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
