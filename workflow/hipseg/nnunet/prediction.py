"""Predict with nnU-Net's own predictor: one fold or an ensemble of folds, or every model of a
configuration in one process (:func:`predict_models`), the ``predict:`` options, models that
hipseg did not train (NIfTI in, their labels renumbered to hipseg's)."""

from __future__ import annotations

import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from ..errors import InputError
from ..labels import ALL_FOLD
from ..options import StageOptions
from .environment import _device, configure_environment, direct_trainer_lookup
from .training import FINAL


@dataclass(frozen=True)
class PredictOptions(StageOptions):
    """The ``predict:`` section."""

    SECTION: ClassVar[str] = "predict"
    device: str = "auto"
    mirroring: bool = True
    tile_step_size: float = 0.5


def predict(
    model_folder: str | Path,
    folds: list[str],
    input_dir: str | Path,
    output_dir: str | Path,
    nnunet_root: str | Path,
    options: PredictOptions | None = None,
    threads: int | None = None,
    checkpoint: str = FINAL,
    values: dict[int, int] | None = None,
) -> Path:
    """Predict every ``*_0000.nii.gz`` in ``input_dir`` with one fold or an ensemble of folds.

    Several folds are ensembled the nnU-Net way (softmax averaged over the folds' networks).
    The output folder is written under a temporary name and renamed when complete. A model
    that hipseg did not train (:mod:`hipseg.models`) reads the NIfTI images whatever file type
    it was trained on; ``values`` renumbers its output labels to hipseg's.
    """
    o = options or PredictOptions.from_config({})
    _check_inputs(model_folder, folds, input_dir, checkpoint)
    configure_environment(nnunet_root, threads=threads)
    from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor

    model_folder, input_dir = Path(model_folder), Path(input_dir)
    output_dir = Path(output_dir)
    tmp = output_dir.with_name(output_dir.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    dev = _device(o.device)
    predictor = nnUNetPredictor(
        tile_step_size=o.tile_step_size,
        use_gaussian=True,
        use_mirroring=o.mirroring,
        perform_everything_on_device=dev.type == "cuda",
        device=dev,
        allow_tqdm=False,
    )
    load_folds(predictor, model_folder, folds, checkpoint)
    _read_nifti(predictor)
    if dev.type == "cuda":
        predictor.predict_from_files(
            str(input_dir),
            str(tmp),
            save_probabilities=False,
            overwrite=True,
            num_processes_preprocessing=2,
            num_processes_segmentation_export=2,
        )
    else:
        predictor.predict_from_files_sequential(
            str(input_dir), str(tmp), save_probabilities=False, overwrite=True
        )
    if values and any(k != v for k, v in values.items()):
        _relabel_folder(tmp, values)
    shutil.rmtree(output_dir, ignore_errors=True)
    os.replace(tmp, output_dir)
    return output_dir


def _check_inputs(model_folder, folds, input_dir, checkpoint: str) -> None:
    """The folds' checkpoints and the images, checked before torch and nnU-Net are imported."""
    for f in folds:
        ckpt = Path(model_folder) / f"fold_{f}" / checkpoint
        if not ckpt.is_file():
            raise InputError(ckpt, "missing: the model has not been trained")
    if not any(Path(input_dir).glob("*_0000.nii.gz")):
        raise InputError(input_dir, "contains no images named <case>_0000.nii.gz")


def load_folds(predictor, model_folder: str | Path, folds, checkpoint: str) -> None:
    """nnU-Net's ``initialize_from_trained_model_folder`` for ``folds`` as hipseg names them
    (``"0"`` … ``"4"``, ``"all"``), its trainer class found by :func:`direct_trainer_lookup`."""
    from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor

    with direct_trainer_lookup(sys.modules[nnUNetPredictor.__module__]):
        predictor.initialize_from_trained_model_folder(
            str(model_folder),
            use_folds=tuple(f if f == ALL_FOLD else int(f) for f in folds),
            checkpoint_name=checkpoint,
        )


def predict_models(
    model_folder: str | Path,
    models: dict[str, list[str]],
    input_dir: str | Path,
    output_root: str | Path,
    nnunet_root: str | Path,
    options: PredictOptions | None = None,
    threads: int | None = None,
    values: dict[int, int] | None = None,
    say=print,
) -> dict[str, float]:
    """Every model of ``models`` (name → its folds: ``fold_0`` → ``[0]``, ``ensemble`` → ``[0, 1,
    2, 3, 4]``) predicts ``input_dir`` into ``output_root/<name>``, one after the other, in this
    process: each exactly as :func:`predict` alone, but nnU-Net and torch are imported once
    (about 7 CPU-s of a prediction process's 10 on the demo) and a cluster queues one job
    instead of one per model. Returns the seconds each model took (printed with ``say``)."""
    if not models:
        raise InputError(model_folder, "no model to predict with (--models NAME=FOLDS ...)")
    for folds in models.values():  # every model's checkpoints before the first prediction
        _check_inputs(model_folder, folds, input_dir, FINAL)
    seconds = {}
    for name, folds in models.items():
        start = time.perf_counter()
        predict(model_folder, folds, input_dir, Path(output_root) / name, nnunet_root, options,
                threads=threads, values=values)  # fmt: skip
        seconds[name] = time.perf_counter() - start
        say(f"hipseg predict: {name} (folds {', '.join(folds)}) in {seconds[name]:.1f} s")
    return seconds


def _read_nifti(predictor) -> None:
    """Let a model trained on other files (``.png``, ``.nrrd``, …) predict hipseg's 2D NIfTI
    images: NIfTI in and out, and a model of natural images (no spacing) sees every image at
    1 × 1 per pixel as it did in training. A no-op for the models hipseg trains."""
    from nnunetv2.imageio.simpleitk_reader_writer import SimpleITKIO
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

    from ..models import NATURAL_READERS

    if predictor.dataset_json.get("file_ending") != ".nii.gz":
        predictor.dataset_json = dict(predictor.dataset_json, file_ending=".nii.gz")
    reader = str(predictor.plans_manager.plans.get("image_reader_writer", ""))
    if reader in ("SimpleITKIO", "NibabelIO", "NibabelIOWithReorient"):
        return

    class PixelUnitsIO(SimpleITKIO):
        def read_images(self, image_fnames):
            images, props = super().read_images(image_fnames)
            props["spacing"] = [999.0, 1.0, 1.0]
            return images, props

    io = PixelUnitsIO if reader in NATURAL_READERS else SimpleITKIO

    class NiftiPlans(PlansManager):
        @property
        def image_reader_writer_class(self):
            return io

    predictor.plans_manager = NiftiPlans(predictor.plans_manager.plans)


def _relabel_folder(folder: Path, values: dict[int, int]) -> None:
    import SimpleITK as sitk

    from ..models import relabel

    for f in sorted(folder.glob("*.nii.gz")):
        img = sitk.ReadImage(str(f))
        out = sitk.GetImageFromArray(relabel(sitk.GetArrayFromImage(img), values))
        out.CopyInformation(img)
        sitk.WriteImage(out, str(f), useCompression=True)
