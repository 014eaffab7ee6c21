"""nnU-Net in this process: its folders and the package's trainers (environment variables set
before nnU-Net is imported), torch's threads and device, nnU-Net's lookup of the dataset folder,
and the file hash the stages' records use."""

from __future__ import annotations

import hashlib
import importlib
import os
from contextlib import contextmanager
from pathlib import Path

from ..errors import HipsegError, InputError

TRAINERS_DIR = Path(__file__).parent.parent / "trainers"


def configure_environment(
    nnunet_root: str | Path, threads: int | None = None, n_proc_da: int | None = None
) -> dict[str, str]:
    """Point nnU-Net at ``nnunet_root/{nnUNet_raw,nnUNet_preprocessed,nnUNet_results}``.

    Also registers the package's trainers through ``nnUNet_extTrainer`` (after any folders the
    caller lists there) and bounds the CPU threads. ``nnUNet_compile`` is left to the caller:
    nnU-Net's default is torch.compile for training on a GPU (``nnUNetv2_train`` does the same),
    never on a CPU. Returns the variables set.
    """
    root = Path(nnunet_root).resolve()
    env = {
        "nnUNet_raw": str(root / "nnUNet_raw"),
        "nnUNet_preprocessed": str(root / "nnUNet_preprocessed"),
        "nnUNet_results": str(root / "nnUNet_results"),
        "nnUNet_extTrainer": os.pathsep.join(_ext_trainer_dirs()),
    }
    if n_proc_da is not None:
        env["nnUNet_n_proc_DA"] = str(int(n_proc_da))
    if threads is not None:
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            env[var] = str(int(threads))
    os.environ.update(env)
    if threads is not None:
        import torch

        torch.set_num_threads(int(threads))
    return env


def _ext_trainer_dirs() -> list[str]:
    dirs = [d for d in os.environ.get("nnUNet_extTrainer", "").split(os.pathsep) if d.strip()]
    return [*(d for d in dirs if Path(d) != TRAINERS_DIR), str(TRAINERS_DIR)]


@contextmanager
def direct_trainer_lookup(module):
    """While active, ``module``'s lookup of a trainer class by name (nnU-Net's
    ``recursive_find_trainer_class_by_name``, imported into ``nnunetv2.run.run_training`` and
    ``nnunetv2.inference.predict_from_raw_data``) imports hipseg's own trainers and nnU-Net's
    base ``nnUNetTrainer`` directly.

    nnU-Net's lookup imports every module under ``nnunetv2/training/nnUNetTrainer`` until one
    has the name, then searches the ``nnUNet_extTrainer`` folders, where hipseg's trainers are
    last: 2.4 s of every training, prediction and segmentation process on the demo's machine.
    The class is the same code either way (the same network, the same training). Any other
    name, and every name when the user lists folders of their own in ``nnUNet_extTrainer``
    (theirs come first, as in nnU-Net's search), goes through nnU-Net's search."""
    original = module.recursive_find_trainer_class_by_name

    def lookup(trainer_name: str):
        found = _direct_trainer(trainer_name)
        return found if found is not None else original(trainer_name)

    module.recursive_find_trainer_class_by_name = lookup
    try:
        yield
    finally:
        module.recursive_find_trainer_class_by_name = original


def _direct_trainer(trainer_name: str):
    """hipseg's trainer or nnU-Net's base trainer of that name, None for any other name or when
    ``nnUNet_extTrainer`` lists folders besides hipseg's."""
    if len(_ext_trainer_dirs()) > 1 or not trainer_name.isidentifier():
        return None
    if (TRAINERS_DIR / f"{trainer_name}.py").is_file():
        module = importlib.import_module(f"hipseg.trainers.{trainer_name}")
    elif trainer_name == "nnUNetTrainer":
        module = importlib.import_module("nnunetv2.training.nnUNetTrainer.nnUNetTrainer")
    else:
        return None
    return getattr(module, trainer_name, None)


# nnU-Net's modules that run their work in a ``spawn`` pool (fingerprint, the dataset integrity
# check, preprocessing), each referring to ``multiprocessing`` by that module-level name
POOLED_MODULES = (
    "nnunetv2.experiment_planning.verify_dataset_integrity",
    "nnunetv2.experiment_planning.dataset_fingerprint.fingerprint_extractor",
    "nnunetv2.preprocessing.preprocessors.default_preprocessor",
)


class _Done:
    """What ``Pool.starmap_async`` returns, for work already done."""

    def __init__(self, values: list):
        self._values = values

    def ready(self) -> bool:
        return True

    def get(self, timeout=None) -> list:
        return self._values


class _InProcessPool:
    """A pool of one worker that is this process: ``starmap`` and ``starmap_async`` run each
    call here, in order, at once (an error is raised where it happens)."""

    _pool: list = []  # nnU-Net checks that every worker of ``p._pool`` is alive: there is none

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> bool:
        return False

    def starmap(self, func, iterable) -> list:
        return [func(*args) for args in iterable]

    def starmap_async(self, func, iterable) -> _Done:
        return _Done(self.starmap(func, iterable))


class _OneProcessMultiprocessing:
    """``multiprocessing`` as nnU-Net's pooled modules use it, with one worker: this process."""

    def __init__(self, real):
        self._real = real

    def get_context(self, method=None):
        return self

    def Pool(self, processes=None, *args, **kwargs):  # noqa: N802 (multiprocessing's name)
        return _InProcessPool()

    def __getattr__(self, name):
        return getattr(self._real, name)


@contextmanager
def pools_in_process(num_processes: int):
    """With ``num_processes`` 1, nnU-Net's fingerprint, integrity check and preprocessing run
    their cases in this process instead of in a ``spawn`` pool of one worker: the same
    functions on the same cases in the same order (the files are identical), without a second
    Python process that imports torch and nnU-Net again (4-7 CPU-s per pool: ``hipseg plan``
    and ``hipseg preprocess`` of the tests' tiny run took 26 + 12 CPU-s with the pools, 13 + 7
    without). More processes keep nnU-Net's pool."""
    if int(num_processes) != 1:
        yield
        return
    patched = []
    try:
        for name in POOLED_MODULES:
            module = importlib.import_module(name)
            real = getattr(module, "multiprocessing", None)
            if real is not None:
                patched.append((module, real))
                module.multiprocessing = _OneProcessMultiprocessing(real)
        yield
    finally:
        for module, real in patched:
            module.multiprocessing = real


def _device(name: str):
    import torch

    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise HipsegError("device 'cuda' requested but torch sees no CUDA GPU on this node")
    return torch.device(name)


def _dataset_dir_name(nnunet_root: str | Path, dataset_id: int) -> str:
    """nnU-Net's own lookup of the dataset folder (after :func:`configure_environment`)."""
    from nnunetv2.utilities.dataset_name_id_conversion import convert_id_to_dataset_name

    try:
        return convert_id_to_dataset_name(int(dataset_id))
    except RuntimeError as exc:
        raw = Path(nnunet_root) / "nnUNet_raw"
        raise InputError(
            raw, f"no single nnU-Net dataset with id {int(dataset_id)} ({exc})"
        ) from exc


def _sha(path: Path) -> str | None:
    if not path.is_file():
        return None
    return hashlib.sha256(path.read_bytes()).hexdigest()
