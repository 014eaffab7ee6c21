"""The network call of nnU-Net's predictor through ONNX Runtime (``segment.engine: onnx``).

nnU-Net's predictor keeps everything else: preprocessing, the sliding window and its tile
steps, the gaussian weighting, test-time mirroring, the fold ensemble, the resampling of the
probabilities to the image and the argmax. Only ``predictor.network``, the module it calls once
per tile (and per mirrored tile), is replaced by :class:`OnnxNetwork`, which runs one ONNX
Runtime session per fold. A tile always has the configuration's patch shape (nnU-Net pads an
image smaller than the patch), so each fold is exported once with that fixed input shape.

The export is cached: ``fold_X/hipseg_onnx/<checkpoint>-<key>.onnx`` beside the checkpoint, or in
the run's output folder when the model folder cannot be written. The key is a hash of the
checkpoint's bytes, the patch shape and the torch and onnx versions, so a retrained model or a
new exporter makes a new file and an old one is never used by mistake.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from importlib import metadata
from pathlib import Path

from ..errors import HipsegError

ENGINES = ("torch", "onnx")
OPSET = 18


def _require():
    try:
        import onnxruntime  # noqa: F401
    except ImportError as exc:
        raise HipsegError(
            "segment.engine onnx needs onnxruntime and onnx (pinned in requirements.lock; "
            f"`make env` installs them): {exc}"
        ) from exc


def _version(pkg: str) -> str:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return "none"


def export_key(checkpoint: Path, patch: tuple[int, ...], channels: int) -> str:
    """What an exported file depends on: the checkpoint's bytes, the input shape, the exporter."""
    h = hashlib.sha256()
    with open(checkpoint, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    h.update(repr((tuple(patch), channels, OPSET)).encode())
    for pkg in ("torch", "onnx", "onnxscript"):
        h.update(f"{pkg}={_version(pkg)}".encode())
    return h.hexdigest()[:16]


def export(network, params: dict, shape: tuple[int, ...], path: Path) -> Path:
    """Write ``network`` with the weights ``params`` as an ONNX file (input ``x`` of ``shape``),
    atomically (a temporary file renamed into place)."""
    import torch

    network.load_state_dict(params)
    network = network.to("cpu").eval()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".export-", suffix=".onnx", dir=path.parent)
    os.close(fd)
    try:
        with torch.inference_mode():
            example = torch.zeros(shape, dtype=torch.float32)
            program = torch.onnx.export(network, (example,), input_names=["x"],
                                        output_names=["logits"], opset_version=OPSET,
                                        dynamo=True, external_data=False,
                                        verbose=False)  # fmt: skip
            program.save(tmp, external_data=False)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except Exception as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise
        raise HipsegError(f"{path}: the network could not be exported to ONNX "
                          f"({type(exc).__name__}: {exc})") from exc  # fmt: skip
    return path


def cached_export(network, params: dict, shape: tuple[int, ...], checkpoint: Path,
                  fallback_dir: Path | None) -> tuple[Path, bool]:  # fmt: skip
    """The ONNX file of one fold: the cached one if there is one, else a new export (beside the
    checkpoint, or under ``fallback_dir`` when the model folder is read-only). Returns the path
    and whether it was exported now."""
    key = export_key(checkpoint, shape[2:], shape[1])
    name = f"{checkpoint.stem}-{key}.onnx"
    places = [checkpoint.parent / "hipseg_onnx"]
    if fallback_dir is not None:
        places.append(Path(fallback_dir) / "onnx" / checkpoint.parent.name)
    for place in places:
        if (place / name).is_file():
            return place / name, False
    for place in places:
        try:
            return export(network, params, shape, place / name), True
        except OSError:
            continue
    raise HipsegError(f"{checkpoint}: no writable folder for its ONNX export "
                      f"(tried {', '.join(str(p) for p in places)})")  # fmt: skip


def session(path: Path, threads: int | None):
    """An ONNX Runtime CPU session of ``path`` with ``threads`` intra-op threads."""
    _require()
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        opts.intra_op_num_threads = int(threads)
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        raise HipsegError(f"{path}: ONNX Runtime cannot load it ({exc})") from exc


def _module_base():
    import torch

    return torch.nn.Module


class OnnxNetwork(_module_base()):
    """Stands in for the network in nnU-Net's predictor: ``load_state_dict`` with one of the
    predictor's fold parameter sets selects that fold's session, ``forward`` runs it."""

    def __init__(self, sessions: list, parameters: list):
        super().__init__()
        self.sessions = sessions
        self._fold = {id(p): i for i, p in enumerate(parameters)}
        self.current = 0

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        if id(state_dict) not in self._fold:
            raise HipsegError("the ONNX engine has no exported network for these weights")
        self.current = self._fold[id(state_dict)]

    def forward(self, x):
        import numpy as np
        import torch

        sess = self.sessions[self.current]
        array = np.ascontiguousarray(x.detach().to("cpu", torch.float32).numpy())
        (out,) = sess.run(None, {sess.get_inputs()[0].name: array})
        return torch.from_numpy(out)


def use_onnx(predictor, model_dir: Path, folds, checkpoint_name: str, threads: int | None,
             fallback_dir: Path | None = None, files: list | None = None) -> dict:  # fmt: skip
    """Replace ``predictor.network`` by ONNX Runtime sessions of every fold (exported once and
    cached, see the module's docstring). ``files`` gives ready ONNX files instead (one per
    fold, e.g. a quantised export). Returns what was used (files, whether exported now)."""
    _require()
    import torch
    from nnunetv2.utilities.label_handling.label_handling import determine_num_input_channels

    conf = predictor.configuration_manager
    channels = determine_num_input_channels(predictor.plans_manager, conf, predictor.dataset_json)
    shape = (1, channels, *conf.patch_size)
    network = predictor.network
    if isinstance(network, torch._dynamo.eval_frame.OptimizedModule):
        network = network._orig_mod
    used, exported = [], []
    for i, (fold, params) in enumerate(zip(folds, predictor.list_of_parameters, strict=True)):
        ckpt = Path(model_dir) / f"fold_{fold}" / checkpoint_name
        if files is not None:
            path, new = Path(files[i]), False
        else:
            path, new = cached_export(network, params, shape, ckpt, fallback_dir)
        used.append(path)
        exported.append(new)
    sessions = [session(p, threads) for p in used]
    predictor.network = OnnxNetwork(sessions, predictor.list_of_parameters)
    return {"files": [str(p) for p in used], "exported_now": exported,
            "onnxruntime": _version("onnxruntime"), "input_shape": list(shape)}  # fmt: skip
