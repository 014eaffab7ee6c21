"""Benchmark of ``hipseg segment``: model loading and seconds per radiograph.

Two settings, each on new synthetic radiographs that no model was trained on:

* **demo size** (about 2 mm/px, 150 × 185 px): the demo network (nnU-Net's plan of the demo with
  the demo's 16 → 256 features), trained weights from ``--demo-model-dir`` if given (a demo
  run's ``results/nnunet/nnUNet_results/<dataset>/<trainer>__nnUNetPlans__2d``), otherwise
  untrained (the time is the same);
* **paper size** (0.10–0.175 mm/px, about 2300 × 2850 px): the paper's network, nnU-Net's
  default plan of paper-preset radiographs (9 stages, 32 → 512 features, patch 1536 × 1024),
  with untrained weights.

Model loading (``Model``: nnU-Net's predictor and the network weights; the first load in a
process also imports torch and nnU-Net) is timed apart from the per-radiograph time, which is
split into intake (read, crop, implant check), prediction, measurement and writing the outputs.
Wall-clock times come from ``run.json``; the CPU seconds of the process (model loading, and per
radiograph) are given too, since on a shared machine wall-clock time includes waiting for a core
(``load_average``). The device is the CPU unless ``--device`` says otherwise. Usage::

    PYTHONPATH=workflow python bench/segment.py --work /tmp/bench-segment [--paper 2]
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))

from hipseg import dataset, nnunet, samplesheet, synth  # noqa: E402
from hipseg.crop import CropRule, crop_case  # noqa: E402
from hipseg.segment import SegmentOptions, collect, segment  # noqa: E402

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
    return untrained_model(plans, raw / "dataset.json", work / "model")


def untrained_model(plans_file: Path, dataset_json: Path, out: Path) -> Path:
    import torch
    from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer
    from nnunetv2.utilities.label_handling.label_handling import determine_num_input_channels
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

    plans, ds = json.loads(plans_file.read_text()), json.loads(dataset_json.read_text())
    pm = PlansManager(plans)
    cm = pm.get_configuration("2d")
    n_in = determine_num_input_channels(pm, cm, ds)
    n_out = pm.get_label_manager(ds).num_segmentation_heads
    build = nnUNetTrainer.build_network_architecture
    if "plans_manager" in inspect.signature(build).parameters:
        net = build(pm, cm, n_in, n_out, enable_deep_supervision=False)
    else:
        net = build(cm.network_arch_class_name, cm.network_arch_init_kwargs,
                    cm.network_arch_init_kwargs_req_import, n_in, n_out,
                    enable_deep_supervision=False)  # fmt: skip
    folder = out / "nnUNetTrainer__nnUNetPlans__2d"
    (folder / "fold_all").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(plans_file, folder / "plans.json")
    shutil.copyfile(dataset_json, folder / "dataset.json")
    torch.save({"network_weights": net.state_dict(), "trainer_name": "nnUNetTrainer",
                "init_args": {"configuration": "2d"},
                "inference_allowed_mirroring_axes": (0, 1)},
               folder / "fold_all" / "checkpoint_final.pth")  # fmt: skip
    return folder


def run(name: str, dicom_dir: Path, model_dir: Path, out: Path, options: SegmentOptions,
        threads: int) -> dict:  # fmt: skip
    sources, _ = collect([dicom_dir])
    result = segment(sources, out, model_dir, options, CropRule(), threads=threads)
    per = [e["seconds"] for e in result["radiographs"]]
    parts = {k: float(np.mean([p[k] for p in per])) for k in per[0]}
    model = result["model"]
    summary = {
        "setting": name, "radiographs": len(per),
        "size_px": [result["radiographs"][0]["rows"], result["radiographs"][0]["cols"]],
        "spacing_mm": sorted({e["spacing"]["spacing_mm"][0] for e in result["radiographs"]}),
        "network": {"features": model["features_per_stage"], "patch": model["patch_size"]},
        "device": model["device"], "threads": threads, "mirroring": options.mirroring,
        "model_load_s": result["timings"]["model_load_s"],
        "per_radiograph_s": parts["total"], "per_radiograph_parts_s": parts,
        "model_load_cpu_s": result["timings"]["model_load_cpu_s"],
        "per_radiograph_cpu_s": result["timings"]["per_radiograph_cpu_s"],
        "load_average": os.getloadavg(),
    }  # fmt: skip
    print(json.dumps(summary), flush=True)
    return summary


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work", required=True, help="scratch folder (emptied)")
    p.add_argument("--demo-model-dir", help="a trained demo model folder (else untrained)")
    p.add_argument("--demo", type=int, default=5, help="demo patients (new radiographs)")
    p.add_argument("--paper", type=int, default=2, help="paper-size radiographs (0: skip)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--no-mirroring", action="store_true")
    p.add_argument("--out", help="write the results as JSON here")
    a = p.parse_args()
    work = Path(a.work)
    shutil.rmtree(work, ignore_errors=True)
    options = SegmentOptions.from_config({"device": a.device, "mirroring": not a.no_mirroring})
    results = []
    t0 = time.perf_counter()
    sheet = synth.generate(work / "demo", preset="demo", seed=11, n_patients=a.demo)
    model = Path(a.demo_model_dir) if a.demo_model_dir else planned_model(
        sheet, work / "demo_plan", DEMO_FEATURES)  # fmt: skip
    results.append(run("demo", sheet.parent / "dicom", model, work / "demo_out", options,
                       a.threads))  # fmt: skip
    if a.paper:
        ids = [r["id"] for r in synth.describe("paper", 0) if r["hips"] == "both"][: a.paper]
        sheet = synth.generate(work / "paper", preset="paper", seed=0, only=ids)
        model = planned_model(sheet, work / "paper_plan", None)
        results.append(run("paper", sheet.parent / "dicom", model, work / "paper_out", options,
                           a.threads))  # fmt: skip
    out = {"results": results, "wall_s": time.perf_counter() - t0,
           "trained_demo_weights": bool(a.demo_model_dir)}  # fmt: skip
    if a.out:
        Path(a.out).write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
