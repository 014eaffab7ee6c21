"""A trained model (one fold, ``fold_all`` or the ensemble of the CV folds), loaded once.

nnU-Net's own :class:`nnUNetPredictor` holds the network(s) and predicts from numpy arrays with
the dataset's preprocessing, sliding window, test-time mirroring and fold ensembling. A hip image
is given as nnU-Net's 2D reader gives a 2D NIfTI: shape (1, 1, rows, cols) with the spacing
``[999 × max spacing, row spacing, column spacing]``, so a hip predicts exactly as the same crop
written to a file and predicted by ``hipseg predict``.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ..errors import HipsegError, InputError
from ..nnunet import LOWRES, _device, configure_environment, load_folds

CHECKPOINT = "checkpoint_final.pth"


def nnunet_root(model_dir: Path) -> Path:
    """The folder holding nnUNet_results (for nnU-Net's environment), or the model folder."""
    parts = model_dir.resolve().parents
    return parts[2] if len(parts) > 2 and parts[1].name == "nnUNet_results" else model_dir


def hipseg_trained(model_dir: Path) -> bool:
    """Whether hipseg made the model's dataset (its dataset.json says so): then its crop
    convention is the workflow's ``crop`` section and its labels are hipseg's."""
    import json

    try:
        meta = json.loads((Path(model_dir) / "dataset.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return meta.get("converted_by") == "hipseg"


def fast_model_dir(model_dir: str | Path, name: str) -> tuple[Path, str]:
    """The model folder ``--fastest`` uses: the 2d_lowres configuration beside ``model_dir``
    (``<trainer>__<plans>__2d_lowres``, trained by the same workflow) when it holds the folds of
    model ``name``, else ``model_dir`` itself. Returns the folder and a sentence saying which."""
    model_dir = Path(model_dir)
    parts = model_dir.name.split("__")
    if len(parts) == 3 and parts[2] == LOWRES:
        return model_dir, f"the {LOWRES} configuration (the model folder given)"
    if len(parts) != 3:
        return model_dir, "the model folder given (not named <trainer>__<plans>__<configuration>)"
    lowres = model_dir.with_name("__".join([*parts[:2], LOWRES]))
    from ..models import available

    if name not in available(lowres):
        return model_dir, (f"the {parts[2]} configuration given: no trained {LOWRES} model beside "
                           f"it ({lowres.name}; nnunet.configurations: [2d, 2d_lowres] trains "
                           "one)")  # fmt: skip
    return lowres, f"the {LOWRES} configuration beside the model folder given"


class Model:
    """A model of ``model_dir`` (nnU-Net's ``<trainer>__<plans>__<configuration>`` folder)."""

    def __init__(self, model_dir: str | Path, name: str, options, threads: int | None = None,
                 label_names=None, cache_dir: str | Path | None = None):  # fmt: skip
        self.dir, self.name = Path(model_dir), name
        if not self.dir.is_dir():
            raise InputError(self.dir, "model folder does not exist")
        for f in ("plans.json", "dataset.json"):
            if not (self.dir / f).is_file():
                raise InputError(self.dir / f, "missing: not an nnU-Net model folder")
        from .. import models

        # the folds the folder holds (the ensemble: of its folds 0-4, at least two)
        present = models.folds_present(self.dir)
        self.folds = models.select(present, [name], self.dir, "segment.model").folds(name)
        self.hipseg_trained = hipseg_trained(self.dir)
        # a model trained elsewhere: its labels mapped onto hipseg's, its spacing convention
        self.values = None if self.hipseg_trained else models.check(self.dir, label_names)
        self.pixel_units = models.pixel_units(self.dir)
        start, cpu = time.perf_counter(), time.process_time()
        configure_environment(nnunet_root(self.dir), threads=threads)
        from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor

        self.engine = getattr(options, "engine", "torch")
        if self.engine not in ("torch", "onnx"):
            raise HipsegError(f"segment.engine: unknown engine {self.engine!r} (torch or onnx)")
        # ONNX Runtime runs here on the CPU: device auto means the CPU for it
        onnx_auto = self.engine == "onnx" and options.device == "auto"
        self.device = _device("cpu" if onnx_auto else options.device)
        self.predictor = nnUNetPredictor(
            tile_step_size=options.tile_step_size,
            use_gaussian=True,
            use_mirroring=options.mirroring,
            perform_everything_on_device=self.device.type == "cuda",
            device=self.device,
            verbose=False,
            allow_tqdm=False,
        )
        load_folds(self.predictor, self.dir, self.folds, CHECKPOINT)
        # test-time mirroring along the axes asked for that the model allows
        allowed = tuple(self.predictor.allowed_mirroring_axes or ())
        axes = tuple(a for a in getattr(options, "mirror_axes", allowed) if a in allowed)
        self.predictor.allowed_mirroring_axes = axes
        self.predictor.use_mirroring = bool(options.mirroring and axes)
        self.onnx = None
        if self.engine == "onnx":
            if self.device.type != "cpu":
                raise HipsegError(f"segment.engine onnx runs on the CPU only, not on {self.device}"
                                  " (use --device cpu, or engine torch on a GPU)")  # fmt: skip
            from .engine import use_onnx

            self.onnx = use_onnx(self.predictor, self.dir, self.folds, CHECKPOINT, threads,
                                 Path(cache_dir) if cache_dir else None)  # fmt: skip
        self.load_seconds = time.perf_counter() - start
        self.load_cpu_seconds = time.process_time() - cpu

    def predict(self, image: np.ndarray, spacing_xy: tuple[float, float]) -> np.ndarray:
        """The label map (uint8, the image's shape) of one hip image."""
        sx, sy = (1.0, 1.0) if self.pixel_units else (float(v) for v in spacing_xy)
        array = np.ascontiguousarray(image, dtype=np.float32)[None, None]
        props = {"spacing": [999.0 * max(sx, sy), sy, sx]}
        seg = self.predictor.predict_single_npy_array(array, props)
        from ..models import relabel

        return relabel(np.asarray(seg, dtype=np.uint8).reshape(image.shape), self.values)

    def predict_folds(self, image: np.ndarray, spacing_xy: tuple[float, float]) -> list[np.ndarray]:
        """The label map of each fold of an ensemble on its own (for the folds' agreement)."""
        params = self.predictor.list_of_parameters
        out = []
        try:
            for p in params:
                self.predictor.list_of_parameters = [p]
                out.append(self.predict(image, spacing_xy))
        finally:
            self.predictor.list_of_parameters = params
        return out

    def describe(self) -> dict:
        conf = self.predictor.configuration_manager
        arch = conf.network_arch_init_kwargs
        return {
            "name": self.name,
            "folder": str(self.dir),
            "folds": list(self.folds),
            "checkpoint": CHECKPOINT,
            "trainer": self.dir.name.split("__")[0],
            "configuration": self.dir.name.split("__")[-1],
            "patch_size": list(conf.patch_size),
            "features_per_stage": list(arch.get("features_per_stage", [])),
            "spacing": list(conf.spacing),
            "device": str(self.device),
            "mirroring": bool(self.predictor.use_mirroring),
            "mirror_axes": list(self.predictor.allowed_mirroring_axes or ()),
            "tile_step_size": float(self.predictor.tile_step_size),
            "engine": self.engine,
            "onnx": self.onnx,
            "trained_by": "hipseg" if self.hipseg_trained else "elsewhere (declared convention)",
            "labels_mapped": self.values or None,
            "pixel_units": self.pixel_units,
        }
