"""Learning curves from nnU-Net's own training logs (``checkpoint_final.pth`` → ``logging``).

nnU-Net logs per epoch the mean training and validation loss, the *pseudo-Dice* (mean foreground
Dice of the validation batches, pooled over them, not per image) and its exponential moving
average, the learning rate and the epoch's start and end times; the same lists give its
``progress.png``. For ``fold all`` the validation batches come from the training images.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .. import labels
from ..errors import InputError

# nnU-Net's logger key → column of learning_curves.csv
LOG_KEYS = {
    "train_losses": "train_loss",
    "val_losses": "val_loss",
    "mean_fg_dice": "pseudo_dice",
    "ema_fg_dice": "pseudo_dice_ema",
    "lrs": "learning_rate",
}
COLUMNS = ["model", "epoch", *LOG_KEYS.values(), "epoch_seconds"]


def _load(path: Path) -> dict:
    """The ``logging`` dict of an nnU-Net checkpoint: read without torch from the pickle of
    torch's zip format (:func:`_logging_without_torch`), else by ``torch.load``."""
    try:
        logging = _logging_without_torch(path)
    except Exception:  # not torch's zip format, or holding what the light reader does not know
        logging = None
    if logging is not None:
        return logging
    import torch  # only here: the report needs torch for nothing else

    try:
        # nnU-Net's own checkpoints of this run (it loads them the same way); the logging lists
        # hold numpy scalars, which weights_only loading refuses.
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # torch raises many kinds for a damaged file
        raise InputError(path, f"cannot be read as a PyTorch checkpoint ({exc})") from exc
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("logging"), dict):
        raise InputError(path, "holds no nnU-Net training log ('logging')")
    return ckpt["logging"]


class _Stub:
    """Anything of torch in a checkpoint's pickle (tensors, storages, devices): not built."""

    def __init__(self, *args, **kwargs):
        pass

    def __call__(self, *args, **kwargs):
        return self

    def __setstate__(self, state):
        pass


# what a checkpoint's pickle may name besides torch: its containers and numpy's scalars
_PLAIN = {"builtins", "collections", "_codecs", "copyreg"}


def _logging_without_torch(path: Path) -> dict | None:
    """The ``logging`` dict of a checkpoint that ``torch.save`` wrote (a zip holding
    ``<name>/data.pkl`` and the tensors' bytes): its pickle is read with every torch object
    left unbuilt (the weights are never read), numpy's scalars built by numpy. Importing torch
    costs the report process 3 CPU-s of its 10 for this alone. None where the pickle has no
    ``logging`` dict; an error where the file is not torch's zip format."""
    import io
    import pickle
    import zipfile

    with zipfile.ZipFile(path) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith("/data.pkl")]
        data = archive.read(name)

    class Unpickler(pickle.Unpickler):
        def find_class(self, module, name):
            root = module.split(".")[0]
            if root == "torch":
                return _Stub
            if root == "numpy" or module in _PLAIN:
                return super().find_class(module, name)
            raise pickle.UnpicklingError(f"{module}.{name} in a checkpoint")

        def persistent_load(self, pid):
            return _Stub()

    ckpt = Unpickler(io.BytesIO(data)).load()
    if isinstance(ckpt, dict) and isinstance(ckpt.get("logging"), dict):
        return ckpt["logging"]
    return None


def _model_of(path: Path) -> str:
    model = path.parent.name
    try:
        labels.model_folds(model)
    except ValueError as exc:
        raise InputError(path, f"is not in a fold_<fold> folder of nnU-Net ({exc})") from exc
    return model


def read_curves(checkpoints: Sequence[str | Path]) -> pd.DataFrame:
    """One row per model and epoch, from each ``fold_X/checkpoint_final.pth``."""
    frames = []
    for ckpt in checkpoints:
        path = Path(ckpt)
        if not path.is_file():
            raise InputError(path, "training checkpoint does not exist")
        log = _load(path)
        missing = [k for k in LOG_KEYS if not isinstance(log.get(k), list)]
        if missing:
            raise InputError(path, f"training log lacks {', '.join(missing)}")
        n = min(len(log[k]) for k in LOG_KEYS)
        df = pd.DataFrame({col: np.asarray(log[k][:n], dtype=float) for k, col in LOG_KEYS.items()})
        start = np.asarray(log.get("epoch_start_timestamps", [])[:n], dtype=float)
        end = np.asarray(log.get("epoch_end_timestamps", [])[:n], dtype=float)
        df["epoch_seconds"] = end - start if len(start) == len(end) == n else np.nan
        df.insert(0, "epoch", np.arange(n))
        df.insert(0, "model", _model_of(path))
        frames.append(df)
    if not frames:
        return pd.DataFrame(columns=COLUMNS)
    order = {m: i for i, m in enumerate(labels.MODELS)}
    out = pd.concat(frames, ignore_index=True)
    out["_o"] = out["model"].map(order)
    return out.sort_values(["_o", "epoch"], kind="stable").drop(columns="_o")[COLUMNS]


def summary_rows(curves: pd.DataFrame) -> list[dict]:
    """Per model: epochs, the last losses and pseudo-Dice, and the best pseudo-Dice (EMA)."""
    rows = []
    for model, df in curves.groupby("model", sort=False):
        last = df.iloc[-1]
        ema = df["pseudo_dice_ema"]
        rows.append(
            {
                "model": labels.model_title(str(model)),
                "epochs": int(len(df)),
                "train_loss": float(last["train_loss"]),
                "val_loss": float(last["val_loss"]),
                "pseudo_dice": float(last["pseudo_dice"]),
                "best_ema": float(ema.max()) if ema.notna().any() else float("nan"),
                "best_epoch": int(df.loc[ema.idxmax(), "epoch"]) if ema.notna().any() else -1,
            }
        )
    return rows
