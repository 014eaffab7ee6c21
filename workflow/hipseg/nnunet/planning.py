"""Plan and preprocess with nnU-Net's own planner and preprocessor: the ``nnunet:`` options, the
2d configuration and 2d_lowres (planned by the same planner at a coarser spacing), the
workflow's overrides of the plan."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from ..errors import HipsegError, InputError
from ..io import write_json
from ..options import StageOptions
from .environment import _dataset_dir_name, _sha, configure_environment, pools_in_process


@dataclass(frozen=True)
class PlanOptions(StageOptions):
    """The ``nnunet:`` section: nnU-Net's planner and the workflow's changes to its plan."""

    SECTION: ClassVar[str] = "nnunet"
    # the configurations trained, predicted and evaluated; the first is the report's main one
    configurations: tuple = ("2d",)
    planner: str = "ExperimentPlanner"
    gpu_memory_target_gb: float | None = None
    plans_overrides: dict | None = field(default_factory=dict)
    # 2d_lowres: the 2d spacing times this factor (planned by nnU-Net's planner at that spacing)
    lowres_spacing_factor: float = 2.0

    def planning(self) -> dict:
        """What the plans file depends on (``configurations`` only chooses what is preprocessed
        and trained: every configuration is always planned, as nnU-Net plans 3d_lowres)."""
        values = self.to_config()
        values.pop("configurations", None)
        return values


FULL, LOWRES = "2d", "2d_lowres"
CONFIGURATIONS = (FULL, LOWRES)
# the plans overrides that also apply to 2d_lowres (patch and batch size are per configuration)
LOWRES_OVERRIDES = ("base_num_features", "max_num_features")


def plan_and_preprocess(
    nnunet_root: str | Path,
    dataset_id: int,
    options: PlanOptions | None = None,
    num_processes: int = 1,
    manifest: str | Path | None = None,
    preprocess: bool = True,
) -> Path:
    """:func:`plan`, then :func:`preprocess` of each of ``options.configurations`` (the first
    one's record written to ``manifest``). Returns the plans file."""
    options = options or PlanOptions.from_config({})
    plans_file = plan(nnunet_root, dataset_id, options, num_processes)
    if preprocess:
        for i, configuration in enumerate(options.configurations):
            preprocess_configuration(
                nnunet_root, dataset_id, configuration, num_processes,
                manifest if i == 0 else None,
            )  # fmt: skip
    return plans_file


def plan(
    nnunet_root: str | Path,
    dataset_id: int,
    options: PlanOptions | None = None,
    num_processes: int = 1,
) -> Path:
    """Fingerprint and plan with nnU-Net's own planner: its 2d configuration, and 2d_lowres
    (:func:`add_lowres`) planned by the same planner at a coarser spacing.

    ``plans_overrides`` (e.g. ``{"batch_size": 4, "base_num_features": 16}``) are applied to the
    planned 2d configuration (the network width also to 2d_lowres); the planner's untouched
    output is kept next to it as ``<plans>.planner.json`` so that a report can show both.
    Returns the plans file.
    """
    # nnU-Net's planner sets torch's thread count to nnUNet_n_proc_DA, which must be >= 1 (a
    # training in the same process may have set it to 0)
    options = options or PlanOptions.from_config({})
    unknown = [c for c in options.configurations if c not in CONFIGURATIONS]
    if unknown or not options.configurations:
        raise HipsegError(f"nnunet.configurations: {unknown or '[]'} (choose from "
                          f"{', '.join(CONFIGURATIONS)})")  # fmt: skip
    configure_environment(nnunet_root, n_proc_da=max(int(num_processes), 1))
    name = _dataset_dir_name(nnunet_root, dataset_id)
    planner_class = _planner_class(options.planner)
    from nnunetv2.experiment_planning.plan_and_preprocess_api import extract_fingerprint_dataset

    with pools_in_process(num_processes):
        extract_fingerprint_dataset(
            int(dataset_id), num_processes=num_processes, check_dataset_integrity=True, clean=True
        )
    kwargs = {}
    if options.gpu_memory_target_gb is not None:
        kwargs["gpu_memory_target_in_gb"] = float(options.gpu_memory_target_gb)
    planner = planner_class(int(dataset_id), **kwargs)
    plans_file = Path(os.environ["nnUNet_preprocessed"]) / name / f"{planner.plans_identifier}.json"
    # nnU-Net keeps the configurations of an earlier plans file that it does not plan itself
    plans_file.unlink(missing_ok=True)
    planner.plan_experiment()
    plans = json.loads(plans_file.read_text())
    add_lowres(plans, planner, options)
    write_json(plans_file.with_suffix(".planner.json"), plans)
    if options.plans_overrides:
        apply_plans_overrides(plans, FULL, options.plans_overrides)
        lowres = {k: v for k, v in options.plans_overrides.items() if k in LOWRES_OVERRIDES}
        if lowres and LOWRES in plans["configurations"]:
            apply_plans_overrides(plans, LOWRES, lowres)
    write_json(plans_file, plans)
    return plans_file


def _planner_class(planner: str):
    import nnunetv2
    from nnunetv2.utilities.find_class_by_name import recursive_find_python_class

    planner_class = recursive_find_python_class(
        os.path.join(nnunetv2.__path__[0], "experiment_planning"),
        planner,
        current_module="nnunetv2.experiment_planning",
    )
    if planner_class is None:
        raise HipsegError(f"nnU-Net experiment planner '{planner}' not found")
    return planner_class


def add_lowres(plans: dict, planner, options: PlanOptions) -> None:
    """Add the 2d_lowres configuration to ``plans`` (in place), the way nnU-Net plans 3d_lowres:
    ``planner``'s :meth:`get_plans_for_configuration` at the 2d spacing times
    ``lowres_spacing_factor``, for the 2d median image shape divided by it. The result inherits
    from 2d (normalisation, resampling, preprocessor) and has its own data identifier, spacing,
    median shape, patch size, batch size and full architecture (nnU-Net's inheritance is a
    shallow update, so the architecture is written whole)."""
    import numpy as np

    factor = float(options.lowres_spacing_factor)
    if factor <= 1:
        raise HipsegError(f"nnunet.lowres_spacing_factor must be > 1, got {factor}")
    full = plans["configurations"][FULL]
    spacing = np.asarray(full["spacing"], dtype=float) * factor
    shape = np.asarray(full["median_image_size_in_voxels"], dtype=float) / factor
    shape = np.maximum(np.round(shape), 1)
    n_voxels = float(np.prod(shape, dtype=np.float64) * planner.dataset_json["numTraining"])
    planned = planner.get_plans_for_configuration(
        spacing, tuple(int(v) for v in shape), planner.generate_data_identifier(LOWRES),
        n_voxels, {},
    )  # fmt: skip
    keys = ("data_identifier", "batch_size", "patch_size", "median_image_size_in_voxels",
            "spacing", "architecture")  # fmt: skip
    lowres = {"inherits_from": FULL, **{k: planned[k] for k in keys}}
    plans["configurations"][LOWRES] = json.loads(json.dumps(lowres, default=_json_default))
    plans["hipseg_lowres"] = {"spacing_factor": factor}


def _json_default(value):
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON: {type(value).__name__}")


def preprocess_configuration(
    nnunet_root: str | Path,
    dataset_id: int,
    configuration: str,
    num_processes: int = 1,
    manifest: str | Path | None = None,
) -> Path:
    """nnU-Net's preprocessing of one planned configuration; ``manifest``: a JSON record of the
    preprocessed cases. Returns the data folder."""
    configure_environment(nnunet_root, n_proc_da=max(int(num_processes), 1))
    name = _dataset_dir_name(nnunet_root, dataset_id)
    from nnunetv2.experiment_planning.plan_and_preprocess_api import preprocess_dataset

    plans_file = Path(os.environ["nnUNet_preprocessed"]) / name / "nnUNetPlans.json"
    if not plans_file.is_file():
        raise InputError(plans_file, "missing: plan the dataset first (rule 'plan')")
    plans = json.loads(plans_file.read_text())
    if configuration not in plans["configurations"]:
        raise InputError(plans_file, f"has no configuration {configuration!r}")
    with pools_in_process(num_processes):
        preprocess_dataset(
            int(dataset_id),
            "nnUNetPlans",
            configurations=(configuration,),
            num_processes=(num_processes,),
            show_progress_bar=False,
        )
    conf = plans["configurations"][configuration]
    data_dir = plans_file.parent / conf["data_identifier"]
    if manifest:
        write_json(
            manifest,
            {
                "dataset": name,
                "configuration": configuration,
                "plans_sha256": _sha(plans_file),
                "cases": sorted(p.name.split(".")[0] for p in data_dir.glob("*.pkl")),
            },
        )
    return data_dir


def apply_plans_overrides(plans: dict, configuration: str, overrides: dict) -> None:
    """Change a planned configuration in place: batch size, patch size and network width.

    Supported keys: ``batch_size``, ``patch_size`` (list), ``base_num_features`` (features of the
    first stage; later stages double up to ``max_num_features``), ``max_num_features``.
    """
    unknown = set(overrides) - {"batch_size", "patch_size", "base_num_features", "max_num_features"}
    if unknown:
        raise HipsegError(f"unknown nnU-Net plans override(s): {sorted(unknown)}")
    conf = plans["configurations"][configuration]
    if "batch_size" in overrides:
        conf["batch_size"] = int(overrides["batch_size"])
    if "patch_size" in overrides:
        patch = [int(v) for v in overrides["patch_size"]]
        if len(patch) != len(conf["patch_size"]):
            raise HipsegError(f"patch_size override {patch} has the wrong dimensionality")
        conf["patch_size"] = patch
    kwargs = conf["architecture"]["arch_kwargs"]
    if "base_num_features" in overrides or "max_num_features" in overrides:
        base = int(overrides.get("base_num_features", kwargs["features_per_stage"][0]))
        top = int(overrides.get("max_num_features", max(kwargs["features_per_stage"])))
        n = int(kwargs["n_stages"])
        kwargs["features_per_stage"] = [min(base * 2**i, top) for i in range(n)]
    plans.setdefault("hipseg_overrides", {})[configuration] = dict(overrides)
