"""Benchmark of ``hipseg segment``: a speed/accuracy ladder of the ways to run the network.

One run prints two tables side by side with the default path (torch, test-time mirroring, tile
step 0.5, 1 thread):

* **accuracy** on the demo: new synthetic radiographs (seed 11) that no model saw, segmented end
  to end by ``segment()`` with each setting, with two demo models trained here (the demo's plan
  and schedule: 16 → 256 features, 12 epochs × 25 iterations, fold ``all`` on the seed-7 demo):
  the demo's own plan (patch 176 × 112: a hip crop fits in one tile, so the tile step changes
  nothing), and the same with patch 112 × 80, which covers a demo hip crop (about 174 × 106 px)
  as the paper's 1536 × 1024 patch covers a paper hip crop (about 2319 × 1427 px): 3 × 2 tiles at
  step 0.5, 2 × 2 at any step ≥ 0.56. Per setting: CPU seconds per radiograph, Dice against the
  ground truth, its difference to the default path, the share of pixels labelled as the default
  path labels them, and the largest change of a measurement (mm, degrees);
* **time** at paper size (0.10–0.175 mm/px, about 2300 × 2850 px) with the paper's network
  (nnU-Net's default plan of paper-preset radiographs: 9 stages, 32 → 512 features, patch
  1536 × 1024), untrained weights (the time is the same): the CPU seconds of one network call
  on one tile per engine and thread count, the tiles per hip at each step (nnU-Net's own step
  rule on the hips' preprocessed shapes), and from them the CPU seconds per radiograph
  (2 hips × tiles × passes (4 with mirroring on both axes, 2 on one) × seconds per call, plus
  the rest of a run: intake, preprocessing, resampling, measuring, writing, measured in the
  end-to-end run). The fast path (``--fast``) is also run end to end on one radiograph, with the
  fewest threads; ``--paper-full`` runs the torch settings end to end as well (the default
  path alone takes 500-650 CPU-seconds).

CPU seconds are those of the process (all its threads); on a shared machine wall-clock time
includes waiting for a core (``load_average`` is recorded). Engines: ``torch`` (nnU-Net's
predictor), ``compile`` (``torch.compile`` of the network, nnU-Net's ``nnUNet_compile``),
``onnx`` (:mod:`hipseg.segment.engine`: ONNX Runtime fp32) and ``onnx-int8`` (ONNX Runtime's
static INT8 quantisation, QDQ, per-channel weights, calibrated on tiles of the seed-7 demo; at
paper size on random tiles, for the time only). Usage::

    PYTHONPATH=workflow python bench/segment.py --work /tmp/bench-segment [--paper 1]
        [--demo-model-dir DIR --tiles-model-dir DIR] [--out ladder.json]
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))

from hipseg import dataset, nnunet, samplesheet, synth  # noqa: E402
from hipseg.crop import CropRule, crop_case  # noqa: E402
from hipseg.segment import SegmentOptions, collect, segment  # noqa: E402
from hipseg.segment.model import Model  # noqa: E402
from hipseg.segment.run import FAST  # noqa: E402

DEMO_FEATURES = {"base_num_features": 16, "max_num_features": 256}


def planned_model(sheet: Path, work: Path, overrides: dict | None) -> Path:
    """nnU-Net's plan of the radiographs of ``sheet`` and a model folder with untrained
    weights (``fold_all``) for it."""
    manifests = []
    for row in samplesheet.read(sheet).itertuples():
        out = work / "crops" / row.id
        crop_case(row.id, row.dicom, row.labels, row.hips, out, CropRule(), row.patient,
                  "train", row.note)  # fmt: skip
        manifests.append(out / "manifest.json")
    ds = dataset.DatasetOptions(id=991, name="Bench", test_fraction=0.5, seed=0,
                                channel_name="xray")  # fmt: skip
    raw = dataset.build(manifests, work / "nnunet" / "nnUNet_raw", ds, work / "dataset")
    plans_options = nnunet.PlanOptions.from_config({"plans_overrides": overrides or {}})
    plans = nnunet.plan_and_preprocess(work / "nnunet", 991, plans_options, preprocess=False)
    # the 2d_lowres configuration of the same plan beside it (hipseg segment --fast finds it)
    untrained_model(plans, raw / "dataset.json", work / "model", "2d_lowres")
    return untrained_model(plans, raw / "dataset.json", work / "model")


def trained_demo_model(work: Path, epochs: int, iterations: int, patch: list | None = None,
                       seed: int = 7, configuration: str = "2d") -> Path:  # fmt: skip
    """A demo model trained here as the demo config trains it (16 → 256 features, the demo's
    schedule unless ``epochs``/``iterations`` say otherwise), fold ``all`` on the demo's
    radiographs (seed 7; the ladder's radiographs are new ones, seed 11); ``patch`` overrides
    the planned patch; ``configuration`` 2d_lowres: nnU-Net's plan of it (hipseg.nnunet.add_lowres),
    trained the same way. Reused when ``work`` already holds it."""
    from hipseg import deid

    ds_id, name = (993, "BenchDemoTiles") if patch else (992, "BenchDemo")
    folder = work / "nnunet" / "nnUNet_results" / f"Dataset{ds_id}_{name}"
    final = folder / f"nnUNetTrainerHipsegShort__nnUNetPlans__{configuration}/fold_all"
    final = final / "checkpoint_final.pth"
    if final.is_file():
        return final.parents[1]
    if (work / "data").exists():
        shutil.rmtree(work / "data")
    sheet = synth.generate(work / "data", preset="demo", seed=seed)
    manifests = []
    for row in samplesheet.read(sheet).itertuples():
        out = work / "crops" / row.id
        crop_case(row.id, row.dicom, row.labels, row.hips, out, CropRule(),
                  deid.pseudonym(deid.DEMO_KEY, row.patient), row.split, row.note)  # fmt: skip
        manifests.append(out / "manifest.json")
    ds = dataset.DatasetOptions(id=ds_id, name=name, test_fraction=0.333, seed=0,
                                channel_name="xray")  # fmt: skip
    dataset.build(manifests, work / "nnunet" / "nnUNet_raw", ds, work / "dataset")
    overrides = {**DEMO_FEATURES, **({"patch_size": list(patch)} if patch else {})}
    plans = nnunet.PlanOptions.from_config(
        {"plans_overrides": overrides, "configurations": sorted({"2d", configuration})})
    nnunet.plan_and_preprocess(work / "nnunet", ds_id, plans)
    train = nnunet.TrainOptions.from_config({
        "trainer": "nnUNetTrainerHipsegShort", "epochs": epochs,
        "iterations_per_epoch": iterations, "val_iterations_per_epoch": 1,
        "checkpoint_every": epochs, "device": "cpu", "validate": False, "seed": 0})  # fmt: skip
    return nnunet.train(work / "nnunet", ds_id, "all", train, configuration, 1).parents[1]


def untrained_model(plans_file: Path, dataset_json: Path, out: Path,
                    configuration: str = "2d") -> Path:  # fmt: skip
    import torch
    from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer
    from nnunetv2.utilities.label_handling.label_handling import determine_num_input_channels
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

    plans, ds = json.loads(plans_file.read_text()), json.loads(dataset_json.read_text())
    pm = PlansManager(plans)
    cm = pm.get_configuration(configuration)
    n_in = determine_num_input_channels(pm, cm, ds)
    n_out = pm.get_label_manager(ds).num_segmentation_heads
    build = nnUNetTrainer.build_network_architecture
    if "plans_manager" in inspect.signature(build).parameters:
        net = build(pm, cm, n_in, n_out, enable_deep_supervision=False)
    else:
        net = build(cm.network_arch_class_name, cm.network_arch_init_kwargs,
                    cm.network_arch_init_kwargs_req_import, n_in, n_out,
                    enable_deep_supervision=False)  # fmt: skip
    folder = out / f"nnUNetTrainer__nnUNetPlans__{configuration}"
    (folder / "fold_all").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(plans_file, folder / "plans.json")
    shutil.copyfile(dataset_json, folder / "dataset.json")
    torch.save({"network_weights": net.state_dict(), "trainer_name": "nnUNetTrainer",
                "init_args": {"configuration": configuration},
                "inference_allowed_mirroring_axes": (0, 1)},
               folder / "fold_all" / "checkpoint_final.pth")  # fmt: skip
    return folder



STEP_2X2 = 1.0  # any step ≥ 0.56 gives a demo or paper hip crop 2 × 2 tiles; 1.0 is the largest


@dataclass(frozen=True)
class Setting:
    name: str
    engine: str = "torch"  # torch, compile, onnx, onnx-int8
    mirroring: bool = True
    step: float = 0.5
    threads: int = 1
    axes: tuple | None = None  # mirroring axes (None: the model's, (0, 1) in 2D)

    @property
    def passes(self) -> int:
        return 2 ** len(self.axes or (0, 1)) if self.mirroring else 1


DEFAULT = Setting("default: torch, mirroring, step 0.5")
DEMO_LADDER = [
    DEFAULT,
    Setting("no mirroring", mirroring=False),
    Setting("mirroring left-right only (2 passes)", axes=(1,)),
    Setting("mirroring top-bottom only (2 passes)", axes=(0,)),
    Setting("step 1.0 (2 × 2 tiles)", step=STEP_2X2),
    Setting("no mirroring, step 1.0", mirroring=False, step=STEP_2X2),
    Setting("torch.compile, no mirroring, step 1.0", "compile", False, STEP_2X2),
    Setting("onnx fp32 (mirroring, step 0.5)", "onnx"),
    Setting("onnx fp32, mirroring left-right only", "onnx", axes=(1,)),
    Setting("onnx fp32, no mirroring", "onnx", mirroring=False),
    Setting("onnx fp32, no mirroring, step 1.0", "onnx", False, STEP_2X2),
    Setting("onnx int8, no mirroring, step 1.0", "onnx-int8", False, STEP_2X2),
    Setting("onnx int8, mirroring left-right only", "onnx-int8", axes=(1,)),
]


# the 2d_lowres model (nnunet.configurations: [2d, 2d_lowres]), compared with the 2d default path
LOWRES_LADDER = [
    Setting("2d_lowres: torch, mirroring, step 0.5"),
    Setting("2d_lowres: torch, no mirroring", mirroring=False),
    Setting("2d_lowres: onnx fp32, mirroring left-right only", "onnx", axes=(1,)),
    Setting("2d_lowres: onnx fp32, no mirroring", "onnx", mirroring=False),
]


FAST_SETTING = Setting("--fast: " + ", ".join(f"{k} {v}" for k, v in FAST.items()),
                       FAST["engine"], FAST["mirroring"], FAST["tile_step_size"],
                       axes=tuple(FAST["mirror_axes"]))  # fmt: skip


def _cpu_wall(fn, reps: int) -> tuple[float, float, float]:
    """(first call wall s, best wall s, best CPU s) of ``fn`` over 1 + reps calls."""
    t, c = time.perf_counter(), time.process_time()
    fn()
    first = time.perf_counter() - t
    walls, cpus = [], []
    for _ in range(reps):
        t, c = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)
    return first, min(walls), min(cpus)


def quantise(fp32: Path, out: Path, tiles: list[np.ndarray]) -> Path:
    """ONNX Runtime's static INT8 quantisation of ``fp32`` calibrated on ``tiles``."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter([{"x": t.astype(np.float32)} for t in tiles])

        def get_next(self):
            return next(self.it, None)

    out.parent.mkdir(parents=True, exist_ok=True)
    quantize_static(str(fp32), str(out), Reader(), quant_format=QuantFormat.QDQ,
                    per_channel=True, activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8)  # fmt: skip
    return out


def load(model_dir: Path, s: Setting, work: Path, calibration: list | None = None) -> Model:
    """The model of ``model_dir`` set up for ``s`` (compile and INT8 as the bench does them)."""
    from hipseg.segment import engine as engine_mod

    opts = SegmentOptions.from_config({
        "device": "cpu", "mirroring": s.mirroring, "tile_step_size": s.step,
        "mirror_axes": list(s.axes or (0, 1)),
        "engine": "onnx" if s.engine == "onnx" else "torch"})  # fmt: skip
    os.environ["nnUNet_compile"] = "1" if s.engine == "compile" else "0"
    try:
        model = Model(model_dir, "fold_all", opts, s.threads, cache_dir=work / "onnx-cache")
    finally:
        os.environ["nnUNet_compile"] = "0"
    if s.engine == "onnx-int8":
        fp32 = Model(model_dir, "fold_all", replace(opts, engine="onnx"), s.threads,
                     cache_dir=work / "onnx-cache").onnx["files"][0]  # fmt: skip
        int8 = quantise(Path(fp32), work / "int8" / (Path(fp32).stem + "-int8.onnx"),
                        calibration or [])  # fmt: skip
        model.onnx = engine_mod.use_onnx(model.predictor, model.dir, model.folds,
                                         "checkpoint_final.pth", s.threads, files=[int8])
        model.engine = "onnx-int8"
    return model


def calibration_tiles(model_dir: Path, dicom_dir: Path, n: int = 8) -> list[np.ndarray]:
    """Network inputs (preprocessed tiles) of hips of ``dicom_dir`` as nnU-Net feeds them."""
    from hipseg.segment import intake

    model = load(model_dir, replace(DEFAULT, mirroring=False), Path("/nonexistent"))
    tiles: list[np.ndarray] = []
    hook = model.predictor.network.register_forward_pre_hook(
        lambda m, a: tiles.append(a[0].detach().numpy().copy()))  # fmt: skip
    for path in sorted(dicom_dir.glob("*.dcm")):
        it = intake.read(path, CropRule(), None)
        for joint in it.joints.values():
            model.predict(joint, it.spacing_xy)
        if len(tiles) >= n:
            break
    hook.remove()
    return tiles[:n]


def _labels(folder: Path, name: str) -> np.ndarray:
    from hipseg.io import read_image_2d

    return read_image_2d(folder / name / "labels.nii.gz")[0]


def _measurements(folder: Path) -> pd.DataFrame:
    t = pd.read_csv(folder / "measurements.csv")
    return t.set_index(["radiograph", "side", "measurement"])


def accuracy(sheet: Path, out: Path, reference: Path | None) -> dict:
    """Dice against the ground truth (mean over the hips segmented, mean over labels), and
    against the reference run: pixels labelled alike, largest measurement change."""
    from hipseg.crop import split_joints
    from hipseg.evaluate import dice_scores
    from hipseg.io import read_image_2d

    rule = CropRule()
    rows = pd.read_csv(sheet, sep="\t", dtype=str, keep_default_na=False)
    run = {e["name"]: e for e in json.loads((out / "run.json").read_text())["radiographs"]}
    dice, equal, total = [], 0, 0
    for row in rows.itertuples():
        pred = _labels(out, row.id)
        gt, _ = read_image_2d(sheet.parent / row.labels)
        halves = split_joints(pred, gt, rule)
        for side, (p, g) in halves.items():
            if side not in run[row.id]["excluded"]:
                dice.append(np.nanmean(list(dice_scores(g, p).values())))
        if reference is not None:
            ref = _labels(reference, row.id)
            equal, total = equal + int((ref == pred).sum()), total + pred.size
    result = {"dice": float(np.mean(dice)), "hips": len(dice)}
    if reference is not None:
        a, b = _measurements(out), _measurements(reference)
        both = a.merge(b, left_index=True, right_index=True, suffixes=("", "_ref"))
        delta = (both["value"] - both["value_ref"]).abs()
        result["pixels_equal"] = equal / total
        units = sorted(set(both["unit"]))
        result["measure_max_abs"] = {u: float(delta[both["unit"] == u].max()) for u in units}
        result["measure_median_abs"] = {u: float(delta[both["unit"] == u].median())
                                        for u in units}  # fmt: skip
        result["measure_presence_changed"] = int((both["value"].isna()
                                                  != both["value_ref"].isna()).sum())
    return result


def demo_ladder(name: str, model_dir: Path, sheet: Path, work: Path, calibration: list,
                settings: list[Setting], reference: Path | None = None,
                base_dice: float | None = None) -> list[dict]:  # fmt: skip
    """The settings on one model; differences to ``reference`` (the outputs of another model's
    default path, Dice ``base_dice``), else to this model's first setting."""
    rows = []
    for i, s in enumerate(settings):
        out = work / f"{name}-{i}"
        shutil.rmtree(out, ignore_errors=True)
        try:
            model = load(model_dir, s, work, calibration)
            sources, _ = collect([sheet.parent / "dicom"])
            opts = SegmentOptions.from_config({"device": "cpu", "mirroring": s.mirroring,
                                               "tile_step_size": s.step})  # fmt: skip
            model.predict(np.zeros((64, 64), np.float32), (2.0, 2.0))  # warm-up (compile)
            result = segment(sources, out, model_dir, opts, CropRule(), threads=s.threads,
                             model=model, log=open(os.devnull, "w"))  # fmt: skip
        except Exception as exc:  # a setting that does not work here is reported, not fatal
            rows.append({"model": name, "setting": s.name, "error": f"{type(exc).__name__}: "
                         f"{str(exc)[:300]}"})  # fmt: skip
            print(json.dumps(rows[-1]), flush=True)
            continue
        row = {"model": name, "setting": s.name, **asdict(s),
               "cpu_s_per_radiograph": result["timings"]["per_radiograph_cpu_s"],
               "wall_s_per_radiograph": result["timings"]["per_radiograph_s"],
               "model_load_s": result["timings"]["model_load_s"],
               **accuracy(sheet, out, reference)}  # fmt: skip
        if reference is None:
            reference, base_dice = out, row["dice"]
        row["outputs"] = str(out)
        row["dice_change"] = row["dice"] - base_dice
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


# ---------------------------------------------------------------------------- paper size
def tiles_per_hip(shape: tuple[int, ...], patch: list[int], step: float) -> int:
    from nnunetv2.inference.sliding_window_prediction import compute_steps_for_sliding_window

    size = [max(s, p) for s, p in zip(shape, patch, strict=True)]
    return int(np.prod([len(v) for v in compute_steps_for_sliding_window(size, patch, step)]))


def paper_times(model_dir: Path, sheet: Path, work: Path, threads: list[int], reps: int,
                full: bool) -> dict:  # fmt: skip
    """Per-call times of every engine on one paper-size tile, tiles per hip, and the CPU seconds
    per radiograph of each setting (estimated, or end to end with ``full``)."""
    import torch

    from hipseg.segment.engine import session

    sources, _ = collect([sheet.parent / "dicom"])
    sources = sources[:1]
    # the fast path end to end: the rest of a run, and the hips' preprocessed shapes
    fast = replace(FAST_SETTING, threads=min(threads))
    model = load(model_dir, fast, work)
    shapes = []
    real = model.predictor.predict_sliding_window_return_logits

    def record(data):
        shapes.append(tuple(int(v) for v in data.shape[-len(patch):]))
        return real(data)

    patch = list(model.predictor.configuration_manager.patch_size)
    model.predictor.predict_sliding_window_return_logits = record
    opts = SegmentOptions.from_config({"device": "cpu", "fast": True})
    e2e = segment(sources, work / "paper-fast", model_dir, opts, CropRule(),
                  threads=fast.threads, model=model, log=open(os.devnull, "w"))  # fmt: skip
    print(json.dumps({"paper_fast_end_to_end": e2e["timings"], "hips": shapes}), flush=True)
    calls: dict[str, dict] = {}
    x = torch.randn(1, 1, *patch)
    arr = x.numpy()
    fp32 = Path(model.onnx["files"][0])
    tnet = load(model_dir, replace(DEFAULT, mirroring=False), work).predictor.network.eval()
    for t in sorted(set(threads)):
        torch.set_num_threads(t)
        with torch.inference_mode():
            calls[f"torch/{t}"] = _cpu_wall(lambda: tnet(x), reps)
        print(json.dumps({f"torch/{t}": calls[f"torch/{t}"]}), flush=True)
        sess = session(fp32, t)
        calls[f"onnx/{t}"] = _cpu_wall(lambda s=sess: s.run(None, {"x": arr}), reps)
        print(json.dumps({f"onnx/{t}": calls[f"onnx/{t}"]}), flush=True)
    torch.set_num_threads(min(threads))
    try:
        compiled = torch.compile(tnet)
        with torch.inference_mode():
            calls[f"compile/{min(threads)}"] = _cpu_wall(lambda: compiled(x), reps)
    except Exception as exc:
        calls[f"compile/{min(threads)}"] = f"{type(exc).__name__}: {str(exc)[:300]}"
    try:
        rng = np.random.default_rng(0)
        int8 = quantise(fp32, work / "int8-paper.onnx",
                        [rng.standard_normal((1, 1, *patch)).astype(np.float32)
                         for _ in range(2)])  # fmt: skip
        sess = session(int8, min(threads))
        calls[f"onnx-int8/{min(threads)}"] = _cpu_wall(
            lambda: sess.run(None, {"x": arr}), reps)  # fmt: skip
    except Exception as exc:
        calls[f"onnx-int8/{min(threads)}"] = f"{type(exc).__name__}: {str(exc)[:300]}"
    n_fast = sum(tiles_per_hip(s, patch, fast.step) for s in shapes) * fast.passes
    call_fast = calls[f"onnx/{fast.threads}"][2]
    rest_cpu = e2e["timings"]["per_radiograph_cpu_s"] - n_fast * call_fast
    rows = []
    for engine in ("torch", "compile", "onnx", "onnx-int8"):
        for t in sorted(set(threads)):
            call = calls.get(f"{engine}/{t}")
            if call is None:
                continue
            for mirroring, passes in (("both axes", 4), ("left-right", 2), ("off", 1)):
                for step in (0.5, STEP_2X2):
                    n = sum(tiles_per_hip(s, patch, step) for s in shapes)
                    row = {"engine": engine, "threads": t, "mirroring": mirroring,
                           "step": step, "tiles": n}  # fmt: skip
                    if isinstance(call, str):
                        row["error"] = call
                    else:
                        row.update(call_first_s=call[0], call_wall_s=call[1], call_cpu_s=call[2],
                                   cpu_s_per_radiograph=rest_cpu + n * passes * call[2],
                                   wall_s_per_radiograph_free_cores=rest_cpu + n * passes
                                   * call[1], estimated=True)  # fmt: skip
                    rows.append(row)
    full_rows = []
    if full:
        for s in (DEFAULT, replace(DEFAULT, mirroring=False), replace(DEFAULT, step=STEP_2X2),
                  replace(DEFAULT, mirroring=False, step=STEP_2X2)):  # fmt: skip
            m = load(model_dir, s, work)
            o = SegmentOptions.from_config({"device": "cpu", "mirroring": s.mirroring,
                                            "tile_step_size": s.step})  # fmt: skip
            r = segment(sources, work / "paper-full", model_dir, o, CropRule(),
                        threads=s.threads, model=m, log=open(os.devnull, "w"))  # fmt: skip
            full_rows.append({**asdict(s), "cpu_s_per_radiograph":
                              r["timings"]["per_radiograph_cpu_s"]})  # fmt: skip
    return {
        "radiograph": [e2e["radiographs"][0]["rows"], e2e["radiographs"][0]["cols"]],
        "spacing_mm": e2e["radiographs"][0]["spacing"]["spacing_mm"],
        "hip_shapes_preprocessed": shapes, "patch": patch,
        "features": model.describe()["features_per_stage"], "calls": calls,
        "fast_end_to_end": {"cpu_s_per_radiograph": e2e["timings"]["per_radiograph_cpu_s"],
                            "wall_s_per_radiograph": e2e["timings"]["per_radiograph_s"],
                            "parts_s": e2e["radiographs"][0]["seconds"],
                            "threads": fast.threads, "model_load_s":
                            e2e["timings"]["model_load_s"]},
        "rest_cpu_s": rest_cpu, "ladder": rows, "end_to_end": full_rows,
    }  # fmt: skip


def paper_lowres(model_dir: Path, sheet: Path, work: Path, threads: list[int]) -> list[dict]:
    """The 2d_lowres model of the paper's plan (beside ``model_dir``) end to end on one
    paper-size radiograph, per setting and thread count: CPU and wall seconds, the parts."""
    sources, _ = collect([sheet.parent / "dicom"])
    lowres = model_dir.with_name(model_dir.name.replace("__2d", "__2d_lowres"))
    rows = []
    for s in LOWRES_LADDER:
        for t in sorted(set(threads)):
            s_t = replace(s, threads=t)
            model = load(lowres, s_t, work)
            model.predict(np.zeros((64, 64), np.float32), (0.3, 0.3))  # warm-up
            opts = SegmentOptions.from_config({"device": "cpu", "mirroring": s.mirroring,
                                               "tile_step_size": s.step})  # fmt: skip
            r = segment(sources[:1], work / "paper-lowres", lowres, opts, CropRule(), threads=t,
                        model=model, log=open(os.devnull, "w"))  # fmt: skip
            conf = model.predictor.configuration_manager
            rows.append({**asdict(s_t),
                         "cpu_s_per_radiograph": r["timings"]["per_radiograph_cpu_s"],
                         "wall_s_per_radiograph": r["timings"]["per_radiograph_s"],
                         "parts_s": r["radiographs"][0]["seconds"],
                         "patch": list(conf.patch_size),
                         "spacing": list(conf.spacing)})  # fmt: skip
            print(json.dumps(rows[-1]), flush=True)
    return rows


def print_tables(demo_rows: list[dict], paper: dict | None) -> None:
    print("\n## Accuracy on the demo (differences to the default path of the same model)\n")
    print("| model | setting | CPU s / radiograph | Dice | ΔDice | pixels as default "
          "| max Δ mm | max Δ deg |")
    print("|---|---|---|---|---|---|---|---|")
    for r in demo_rows:
        if "error" in r:
            print(f"| {r['model']} | {r['setting']} | not run: {r['error']} | | | | | |")
            continue
        m = r.get("measure_max_abs", {})
        print(f"| {r['model']} | {r['setting']} | {r['cpu_s_per_radiograph']:.2f} | "
              f"{r['dice']:.4f} | {r['dice_change']:+.4f} | "
              f"{100 * r.get('pixels_equal', 1.0):.2f} % | {m.get('mm', 0.0):.3f} | "
              f"{m.get('deg', 0.0):.3f} |")  # fmt: skip
    if not paper:
        return
    if paper.get("ladder"):
        print(f"\n## Time at paper size ({paper['radiograph'][0]} × {paper['radiograph'][1]} px, "
              f"patch {paper['patch'][0]} × {paper['patch'][1]}, hips "
              f"{paper['hip_shapes_preprocessed']}; rest of a run "
              f"{paper['rest_cpu_s']:.1f} CPU s)\n")
        print("| engine | threads | mirroring | step | tiles | s per call (CPU / wall) "
              "| CPU s / radiograph |")
        print("|---|---|---|---|---|---|---|")
        for r in paper["ladder"]:
            if "error" in r:
                print(f"| {r['engine']} | {r['threads']} | {r['mirroring']} | {r['step']} | "
                      f"{r['tiles']} | not run: {r['error'][:120]} | |")
                continue
            print(f"| {r['engine']} | {r['threads']} | {r['mirroring']} | {r['step']} | "
                  f"{r['tiles']} | {r['call_cpu_s']:.1f} / {r['call_wall_s']:.1f} | "
                  f"{r['cpu_s_per_radiograph']:.0f} |")  # fmt: skip
        f = paper["fast_end_to_end"]
        print(f"\n{FAST_SETTING.name}, end to end at paper size: "
              f"{f['cpu_s_per_radiograph']:.1f} CPU s, "
              f"{f['wall_s_per_radiograph']:.1f} s wall per radiograph ({f['threads']} threads)")
        for r in paper["end_to_end"]:
            print(f"end to end: {r}")
    if paper.get("lowres"):
        low = paper["lowres"][0]
        print(f"\n## 2d_lowres end to end at paper size (patch {low['patch'][0]} × "
              f"{low['patch'][1]}, spacing {low['spacing'][0]:.3f} mm)\n")
        print("| setting | threads | CPU s / radiograph | wall s / radiograph | network s |")
        print("|---|---|---|---|---|")
        for r in paper["lowres"]:
            net = r["parts_s"].get("predict", float("nan"))
            print(f"| {r['name']} | {r['threads']} | {r['cpu_s_per_radiograph']:.1f} | "
                  f"{r['wall_s_per_radiograph']:.1f} | {net:.1f} |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work", required=True, help="scratch folder (trained models are kept)")
    p.add_argument("--demo-model-dir", help="a trained demo model folder (else trained here)")
    p.add_argument("--tiles-model-dir", help="the same with patch 112 × 80 (else trained here)")
    p.add_argument("--lowres-model-dir", help="a trained demo 2d_lowres model (else trained here)")
    p.add_argument("--no-lowres", dest="lowres", action="store_false",
                   help="skip the 2d_lowres configuration")
    p.add_argument("--quick", action="store_true", help="the default, --fast and the 2d_lowres "
                   "settings only (demo model; at paper size 2d_lowres end to end)")
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--iterations", type=int, default=25)
    p.add_argument("--demo", type=int, default=8, help="demo patients (new radiographs; 0: skip)")
    p.add_argument("--paper", type=int, default=1, help="paper-size radiographs (0: skip)")
    p.add_argument("--paper-full", action="store_true", help="paper settings end to end")
    p.add_argument("--threads", default="1,2", help="thread counts at paper size")
    p.add_argument("--reps", type=int, default=2, help="timed calls per engine (after one)")
    p.add_argument("--out", help="write the results as JSON here")
    a = p.parse_args()
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    for old in work.glob("ladder*"):
        shutil.rmtree(old, ignore_errors=True)
    t0 = time.perf_counter()
    demo_rows = []
    if a.demo:
        demo_model = Path(a.demo_model_dir) if a.demo_model_dir else trained_demo_model(
            work / "demo_model", a.epochs, a.iterations)  # fmt: skip
        tiles_model = None if a.quick else Path(a.tiles_model_dir) if a.tiles_model_dir else (
            trained_demo_model(work / "demo_tiles", a.epochs, a.iterations, [112, 80]))  # fmt: skip
        sheet = synth.generate(work / "ladder-data", preset="demo", seed=11, n_patients=a.demo)
        train_dicom = work / "ladder-calibration"
        synth.generate(train_dicom, preset="demo", seed=7, n_patients=3)
        groups = [("demo", demo_model), ("demo, patch 112 × 80", tiles_model)]
        for name, model_dir in groups[:1] if a.quick else groups:
            calib = calibration_tiles(model_dir, train_dicom / "dicom")
            settings = [DEFAULT, FAST_SETTING] if a.quick else [*DEMO_LADDER, FAST_SETTING]
            if "112" not in name:  # one tile per hip: the step changes nothing
                settings = [s for s in settings if s.step == 0.5 or s.engine != "torch"]
            demo_rows += demo_ladder(name, model_dir, sheet, work / "ladder", calib, settings)
        if a.lowres:
            lowres_model = Path(a.lowres_model_dir) if a.lowres_model_dir else trained_demo_model(
                work / "demo_lowres", a.epochs, a.iterations, configuration="2d_lowres")
            default = next(r for r in demo_rows if r["model"] == "demo" and "error" not in r)
            demo_rows += demo_ladder("demo 2d_lowres", lowres_model, sheet, work / "ladder",
                                     [], LOWRES_LADDER, Path(default["outputs"]),
                                     default["dice"])  # fmt: skip
    paper = None
    if a.paper:
        ids = [r["id"] for r in synth.describe("paper", 0) if r["hips"] == "both"][: a.paper]
        psheet = synth.generate(work / "ladder-paper", preset="paper", seed=0, only=ids)
        model = planned_model(psheet, work / "ladder-paper-plan", None)
        threads = [int(t) for t in a.threads.split(",")]
        paper = {"ladder": [], "end_to_end": []} if a.quick else paper_times(
            model, psheet, work / "ladder-paper-run", threads, a.reps, a.paper_full)  # fmt: skip
        if a.lowres:
            paper["lowres"] = paper_lowres(model, psheet, work / "ladder-paper-run", threads)
    out = {"demo": demo_rows, "paper": paper, "wall_s": time.perf_counter() - t0,
           "load_average": os.getloadavg()}  # fmt: skip
    print_tables(demo_rows, paper)
    if a.out:
        Path(a.out).write_text(json.dumps(out, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
