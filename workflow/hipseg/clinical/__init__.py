"""Results where clinicians look: DICOM objects a PACS viewer shows, and the node that sends them.

:mod:`.sr`       TID 1500 Measurement Report (Comprehensive 3D SR) of the measurements
:mod:`.pr`       Grayscale Softcopy Presentation State (label outlines, measurement lines and
                 values) and a Secondary Capture of the overlay
:mod:`.quality`  the "needs review" flags (missing or fragmented labels, implausible values,
                 ensemble disagreement)
:mod:`.coding`   the codes (standard ones, and the private ``99HIPSEG`` scheme)
:mod:`.geometry` where each measurement lies on the stored image
:mod:`.listen`   ``hipseg listen``: a DICOM node (C-STORE in, results out to a PACS)

Clinical results keep the patient's identity: the SR, presentation state, SEG and Secondary
Capture copy the source's patient and study, so that they file into the patient's record.
"""
