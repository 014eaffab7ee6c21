"""Results where clinicians look: DICOM objects a PACS viewer shows (the node that sends them to a
PACS is :mod:`hipseg.node`, which imports this package, never the reverse).

:mod:`.sr`           TID 1500 Measurement Report (Comprehensive 3D SR) of the measurements
:mod:`.pr`           Grayscale Softcopy Presentation State (label outlines, measurement lines
                     and values) and a Secondary Capture of the overlay
:mod:`.quality`      the "needs review" flags (missing or fragmented labels, implausible values,
                     ensemble disagreement)
:mod:`.coding`       the codes (standard ones, and the private ``99HIPSEG`` scheme)
:mod:`.geometry`     where each measurement lies on the stored image
:mod:`.notassessed`  what a film the gate refused gets with ``gate.not_assessable: report``

Clinical results keep the patient's identity: the SR, presentation state, SEG and Secondary
Capture copy the source's patient and study, so that they file into the patient's record.
"""
