"""nnU-Net in this process: its folders and the package's trainers (environment variables set
before nnU-Net is imported), torch's threads and device, nnU-Net's lookup of the dataset folder,
and the file hash the stages' records use."""

from __future__ import annotations

import hashlib
import os
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
