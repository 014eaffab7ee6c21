"""Label masks made by annotation tools, read as hipseg label maps.

:func:`read_mask` returns a ``uint8`` array (rows, cols) of hipseg's label values
(:mod:`hipseg.labels`: background 0, labels 1…5) in the orientation of the radiograph's
*stored* pixels: row 0 is the first stored row, column 0 the first stored column, as in every
other label map of hipseg. Nothing is resampled or reoriented by physical geometry; every format
is placed by its pixel (voxel) indices.

The format is found from the content (the extension only for MetaImage):

Value-coded label maps (each pixel holds a label value)
    PNG, TIFF, BMP, GIF (Pillow): palette images (their palette *indices* are the values),
    greyscale 8/16-bit (and 1/2/4-bit PNG, whose raw sample values are used, not Pillow's
    display scaling to 0–255), and RGB/RGBA images whose three colour channels are equal
    (alpha is ignored). A real colour image, a multi-page TIFF or an animated PNG is refused;
    so is JPEG (lossy compression changes label values). NIfTI (.nii, .nii.gz), NRRD
    (.nrrd, .nhdr) and MetaImage (.mha, .mhd) through SimpleITK, whose array is [z, y, x]:
    rows are y and columns x (as :func:`hipseg.io.read_image_2d`); leading singleton axes are
    squeezed, true 3D data is refused. Values must be hipseg's values, or ``values`` maps the
    file's values to them (e.g. from an nnU-Net dataset.json); 0 is background unless mapped.

3D Slicer segmentations (.seg.nrrd, any NRRD with ``Segment{N}_ID`` fields)
    Segments are named (``Segment{N}_Name``), stored in layers (``Segment{N}_Layer``; the file
    is 3D, x × y × 1, with one layer, or 4D with a first ``list`` axis of layers when segments
    overlap) under a value (``Segment{N}_LabelValue``) within their ``Segment{N}_Extent``
    (relative to the stored array). NRRD's first axis is the fastest (x = column), so
    mask[row, col] = data[col, row]. Slicer crops the array to the segments' extent: it lies at
    ``Segmentation_ReferenceImageExtentOffset`` ("i j k") in the reference image's voxel grid,
    whose extent is in the ``Reference image geometry`` conversion parameter when Slicer wrote
    one (it is checked against ``shape``). This assumes the reference image's voxel grid is the
    radiograph's stored pixel grid (i = column, j = row), which is how Slicer loads a DICOM or
    PNG radiograph. A pixel in two segments of different hipseg labels is an error.

DICOM SEG (Segmentation Storage, found by the 'DICM' preamble, any extension)
    Read with highdicom: binary, fractional (a pixel belongs to a segment from half the
    maximum fractional value up) and label-map segmentations of one radiograph, in the pixel
    grid of its stored pixels. Absent segments and frames are background. The SEG must
    reference ``reference`` (the radiograph, by SOP Instance UID; messages never print UIDs).

Segment names map to hipseg labels: hipseg's own names ("L1") are always accepted; ``names``
maps the tool's names (compared after strip + casefold; it wins over hipseg's names) to
hipseg's names; this is the config key ``source.labels``. A DICOM SEG segment is matched by its
SegmentLabel, then by its SegmentDescription. Every problem is an :class:`InputError` naming
the file.

:mod:`.reader` finds the format and reads it: :mod:`.images` (Pillow, SimpleITK),
:mod:`.slicer` (3D Slicer segmentations), :mod:`.dicom_seg` (DICOM SEG); :mod:`.values` checks
and maps label values, :mod:`.segments` maps segment names and composes segments.
"""

from .reader import describe, read_mask

__all__ = ["describe", "read_mask"]
