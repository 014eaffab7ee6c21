"""2D templating of total hip arthroplasty on the calibrated label map (docs/templating.md)."""
