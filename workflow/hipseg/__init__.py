"""hipseg: hip-joint segmentation of AP pelvis radiographs with 2D nnU-Net v2.

One module per workflow stage (synth, samplesheet, deid, crop, dataset, nnunet, evaluate, report);
the ``hipseg`` command (:mod:`hipseg.cli`) exposes each stage as a subcommand and the Snakemake
rules in ``workflow/rules`` call those subcommands.
"""

__version__ = "0.1.0"

# Label values of the paper (Blažková, Section II, Fig. 2).
LABELS: dict[int, str] = {
    1: "L1",  # femoral head + medullary cavity + greater trochanter
    2: "L2",  # inferior neck + diaphyseal cortex + lesser trochanter
    3: "L3",  # Köhler teardrop
    4: "L4",  # region between femoral head, teardrop and acetabulum
    5: "L5",  # pelvic bone
}
LABEL_DESCRIPTIONS: dict[str, str] = {
    "L1": "femoral head, medullary cavity and greater trochanter",
    "L2": "inferior neck, diaphyseal cortex and lesser trochanter",
    "L3": "Köhler teardrop",
    "L4": "region between femoral head, teardrop and acetabulum",
    "L5": "pelvic bone",
}
# Overlay colours of the paper's Fig. 2 (red, green, yellow, blue, purple).
LABEL_COLORS: dict[int, tuple[float, float, float]] = {
    1: (0.90, 0.10, 0.10),
    2: (0.10, 0.75, 0.20),
    3: (0.95, 0.85, 0.10),
    4: (0.15, 0.35, 0.95),
    5: (0.60, 0.20, 0.75),
}
