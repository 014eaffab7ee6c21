"""hipseg: hip-joint segmentation of AP pelvis radiographs with 2D nnU-Net v2.

One module (or subpackage) per workflow stage; :mod:`hipseg.labels` defines the labels, models
and case ids that every stage derives from; :mod:`hipseg.cli` is the ``hipseg`` command whose
subcommands the Snakemake rules in ``workflow/rules`` call.
"""

__version__ = "0.1.0"
