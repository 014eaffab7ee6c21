"""Real-world DICOM intake: every transfer syntax and CR/DX variant a hospital exports.

* :mod:`.decode` — transfer syntaxes, decoders, and checks of the pixel data's structure
  (present, whole, of the header's size; compressed streams not cut short) before decoding;
* :mod:`.spacing` — pixel spacing by precedence, with its source recorded;
* :mod:`.pixels` — Modality LUT, VOI LUT, polarity (MONOCHROME1, Presentation LUT Shape
  INVERSE), PixelPaddingValue; multi-frame and colour refused unless accepted;
* :mod:`.geometry` — ViewPosition, ImageLaterality and PatientOrientation against the crop's
  left/right assumption (an automatic flip where the header is unambiguous, or an error);
* :mod:`.radiograph` — :func:`read_radiograph` puts them together for the crop stage and
  :func:`inspect` is what the sample-sheet validation checks before anything runs.

Every problem is an :class:`~hipseg.errors.InputError` naming the file.
"""

from .decode import SYNTAXES, decoder_plugins, read_dataset, syntax_name
from .radiograph import IntakeOptions, Radiograph, dicom_size, inspect, read_radiograph
from .spacing import SOURCES, Spacing, pixel_spacing

__all__ = [
    "SOURCES",
    "SYNTAXES",
    "IntakeOptions",
    "Radiograph",
    "Spacing",
    "decoder_plugins",
    "dicom_size",
    "inspect",
    "pixel_spacing",
    "read_dataset",
    "read_radiograph",
    "syntax_name",
]
