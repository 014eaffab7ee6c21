"""Where the model fails and for whom: the subgroup and failure analysis of the best model's test
predictions (``hipseg subgroups``, after ``hipseg evaluate``).

**Subgroups** come from data the run already has (:mod:`.attributes`): columns of the sample
sheet that the config names (``subgroups.columns``, e.g. ``note``, ``finding``, ``site``), the
joint's side, its pixel spacing band, and the characteristics the de-identification recorded in
its audit (``subgroups.characteristics``: sex, age band, device; see
:mod:`hipseg.deid.characteristics`). A sheet value is a list of items separated by ``;``; an
item that begins with ``right hip`` or ``left hip`` belongs to that joint only (the demo's
``note`` column: "right hip acetabular protrusion; lead marker L"), any other item to both
joints of the radiograph, so one joint can be in several subgroups of a column. So that no
row points at fewer than ``subgroups.min_patients`` patients (:mod:`.attributes`): a band
(age, spacing) that small joins its smaller neighbour; any other value that small is pooled
into "other (pooled)" (for a side or a characteristic, with the smallest further values until
"other" is large enough: the rest of a group is the union of the others, its mean follows from
the overall one); a sheet column's value (a yes/no split of the joints) is shown only when it
and its rest both have enough patients, else it is withheld.

**The analysis** (:mod:`.analysis`): per subgroup, metric (Dice, HD95, ASSD, NSD) and label
(L1–L5 and the per-image mean), the mean with its patient-bootstrap BCa interval
(:func:`hipseg.evaluate.statistics.patient_bootstrap`), the difference to the rest of the test
joints with a cluster bootstrap over patients (interval and p-value,
:func:`~hipseg.evaluate.statistics.patient_difference`), and Holm's adjustment across every
subgroup of one metric and label. The worst cases of each subgroup go to the report.

**Failure modes** (:mod:`.failures`): each test joint's failures named from its label maps
(label missing, label where the reference has none, label in pieces, boundary off by more than
``boundary_mm``, teardrop merged into the pelvis, head outside the acetabulum), counted per
subgroup.

:mod:`.stage` reads the inputs and writes ``subgroups.csv``, ``failures.csv``,
``failure_counts.csv`` and ``subgroups.json`` into the evaluation folder.
"""

from __future__ import annotations

from .options import CHARACTERISTICS, SubgroupOptions
from .stage import analyse

__all__ = ["CHARACTERISTICS", "SubgroupOptions", "analyse"]
