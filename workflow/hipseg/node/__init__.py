"""``hipseg listen``: a DICOM node that segments the radiographs a PACS sends it and sends the
results back.

:mod:`.listen`     the options (``listen:``), the node (receiving, triage, sending) and its run
:mod:`.worker`     the worker process that holds the loaded model and segments one radiograph
                   at a time within ``listen.timeout_s``
:mod:`.spool`      the on-disk queue (incoming, outbox, results, ledger, log)
:mod:`.transport`  sending results: C-STORE and DICOMweb STOW-RS; the transfer syntaxes

The node uses :mod:`hipseg.segment` (one radiograph, as ``hipseg segment`` segments it),
:mod:`hipseg.gate` (which films it answers for) and :mod:`hipseg.clinical` (the SR, presentation
state and Secondary Capture); none of them imports this package.
"""
