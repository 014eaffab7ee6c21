"""Real nnU-Net on a tiny dataset: planning with overrides, training, resume, prediction."""

import json
import os
import shutil
from pathlib import Path

import pytest
import torch

from hipseg import nnunet
from hipseg.errors import InputError

pytestmark = pytest.mark.slow

TINY = dict(
    trainer="nnUNetTrainerHipsegShort",
    epochs=2,
    iterations_per_epoch=2,
    val_iterations_per_epoch=1,
    checkpoint_every=1,
    device="cpu",
    n_proc_da=0,
    validate=False,
    seed=0,
)


def tiny(**changes) -> nnunet.TrainOptions:
    return nnunet.TrainOptions.from_config({**TINY, **changes})


@pytest.fixture(scope="module")
def planned(demo_data, tmp_path_factory):
    """The demo data through crop + dataset + plan + splits: planned once per test session
    (``built_once``), a fresh copy for each module that uses it (its tests write splits,
    trainings and another configuration's data into it)."""
    from hipseg import dataset
    from tests.conftest import built_once, crop_all

    def build(root):
        manifests = crop_all(demo_data, root / "joints")
        ds = dataset.DatasetOptions.from_config({"id": 42, "name": "Tiny", "test_fraction": 0.2})
        dataset.build(manifests, root / "nnunet" / "nnUNet_raw", ds, root / "ds")
        options = nnunet.PlanOptions.from_config(
            {"plans_overrides": {"base_num_features": 8, "max_num_features": 64}}
        )
        nnunet.plan_and_preprocess(root / "nnunet", 42, options, manifest=root / "pre.json")

    root = built_once(tmp_path_factory, "planned", build)
    plans = root / "nnunet" / "nnUNet_preprocessed" / "Dataset042_Tiny" / "nnUNetPlans.json"
    return root, plans, root / "pre.json"


def test_plan_is_2d_with_true_spacing_and_overrides(planned):
    root, plans_file, manifest = planned
    plans = json.loads(plans_file.read_text())
    conf = plans["configurations"]["2d"]
    planner = json.loads(plans_file.with_suffix(".planner.json").read_text())
    assert (
        planner["configurations"]["2d"]["architecture"]["arch_kwargs"]["features_per_stage"][0]
        == 32
    )
    feats = conf["architecture"]["arch_kwargs"]["features_per_stage"]
    assert feats[0] == 8 and max(feats) <= 64
    assert len(conf["patch_size"]) == 2 and len(conf["spacing"]) == 2
    # median spacing of the demo (about 2 mm), not a transposed 3D spacing
    assert 1.3 <= conf["spacing"][0] <= 2.4
    # image height > width for one joint (tall crops), as in the paper (2320 x 1414)
    assert conf["median_image_size_in_voxels"][0] > conf["median_image_size_in_voxels"][1]
    assert conf["normalization_schemes"] == ["ZScoreNormalization"]
    assert json.loads(manifest.read_text())["cases"]


def test_one_process_is_this_process_with_the_files_of_nnunets_pool(planned, tmp_path):
    """``processes: 1`` fingerprints, checks and preprocesses in the job's own process (no
    spawned worker that imports torch again); the files equal those of nnU-Net's own pool
    (two spawned workers here), byte for byte. More processes keep nnU-Net's pool."""
    import importlib
    import multiprocessing

    from nnunetv2.experiment_planning.plan_and_preprocess_api import extract_fingerprint_dataset

    from hipseg.nnunet.environment import POOLED_MODULES, pools_in_process

    modules = [importlib.import_module(name) for name in POOLED_MODULES]
    with pools_in_process(1):
        for module in modules:
            pool = module.multiprocessing.get_context("spawn").Pool(1)
            assert pool.starmap(os.getpid, [()]) == [os.getpid()]
            assert pool.starmap_async(os.getpid, [()]).get() == [os.getpid()]
    with pools_in_process(2):
        assert all(module.multiprocessing is multiprocessing for module in modules)
    assert all(module.multiprocessing is multiprocessing for module in modules)

    root, plans_file, _ = planned
    ours = plans_file.parent
    pooled = tmp_path / "nnunet"
    (pooled / "nnUNet_raw").mkdir(parents=True)
    raw = "nnUNet_raw/Dataset042_Tiny"
    (pooled / raw).symlink_to(root / "nnunet" / raw)
    theirs = pooled / "nnUNet_preprocessed" / ours.name
    theirs.mkdir(parents=True)
    for name in (plans_file.name, "dataset.json"):  # the planner's (the pool is not in it)
        shutil.copy2(ours / name, theirs / name)
    nnunet.configure_environment(pooled, n_proc_da=2)
    extract_fingerprint_dataset(42, num_processes=2, check_dataset_integrity=True, clean=True)
    data = nnunet.preprocess_configuration(pooled, 42, "2d", num_processes=2)
    same = ["dataset_fingerprint.json"]
    same += [str(p.relative_to(theirs)) for p in sorted(data.iterdir())]
    assert len(same) > 3
    for name in same:
        assert (theirs / name).read_bytes() == (ours / name).read_bytes(), name


def test_training_requires_splits(planned):
    root, _, _ = planned
    with pytest.raises(InputError, match="splits_final.json"):
        nnunet.train(root / "nnunet", 42, "0", tiny(), threads=1)


def test_train_resume_and_predict(planned, tmp_path):
    from hipseg import dataset

    root, plans_file, _ = planned
    dataset.write_splits(root / "ds" / "cases.tsv", plans_file.parent / "splits_final.json", 0)
    final = nnunet.train(root / "nnunet", 42, "0", tiny(), threads=1)
    fold_dir = final.parent
    ckpt = torch.load(final, map_location="cpu", weights_only=False)
    assert ckpt["current_epoch"] == 2 and ckpt["trainer_name"] == "nnUNetTrainerHipsegShort"

    # a run killed after epoch 1 of 3 left checkpoint_latest; the rerun continues from it
    record = json.loads((fold_dir / nnunet.SETTINGS_FILE).read_text())
    assert record["finished"] is True
    record["settings"]["num_epochs"] = 3
    record["finished"] = False
    (fold_dir / nnunet.SETTINGS_FILE).write_text(json.dumps(record))
    shutil.copyfile(final, fold_dir / "checkpoint_latest.pth")
    final.unlink()
    nnunet.train(root / "nnunet", 42, "0", tiny(epochs=3), threads=1)
    log = sorted(fold_dir.glob("training_log_*.txt"), key=os.path.getmtime)[-1].read_text()
    assert "hipseg: resuming from" in log
    assert "Epoch 2" in log and "Epoch 0\n" not in log.split("hipseg: resuming from")[-1]
    assert torch.load(final, map_location="cpu", weights_only=False)["current_epoch"] == 3

    # changed settings: stale checkpoints are dropped and training starts over
    (fold_dir / "checkpoint_latest.pth").write_bytes(b"stale")
    nnunet.train(root / "nnunet", 42, "0", tiny(epochs=1), threads=1)
    assert torch.load(final, map_location="cpu", weights_only=False)["current_epoch"] == 1
    assert not (fold_dir / "checkpoint_latest.pth").exists()

    raw = root / "nnunet" / "nnUNet_raw" / "Dataset042_Tiny"
    out = tmp_path / "pred"
    nnunet.predict(
        fold_dir.parent,
        ["0"],
        raw / "imagesTs",
        out,
        root / "nnunet",
        nnunet.PredictOptions.from_config({"device": "cpu", "mirroring": False}),
        threads=1,
    )
    cases = sorted(p.name.replace("_0000.nii.gz", "") for p in (raw / "imagesTs").iterdir())
    assert sorted(p.name.replace(".nii.gz", "") for p in out.glob("*.nii.gz")) == cases
    assert not out.with_name("pred.partial").exists()
    # several models in one process: each model's predictions are those it gives alone
    said = []
    seconds = nnunet.predict_models(
        fold_dir.parent, {"fold_0": ["0"], "again": ["0"]}, raw / "imagesTs", tmp_path / "many",
        root / "nnunet", nnunet.PredictOptions.from_config({"device": "cpu", "mirroring": False}),
        threads=1, say=said.append,
    )  # fmt: skip
    assert list(seconds) == ["fold_0", "again"] and len(said) == 2
    for name in seconds:
        got = sorted((tmp_path / "many" / name).glob("*.nii.gz"))
        assert [p.name for p in got] == sorted(p.name for p in out.glob("*.nii.gz"))
        for p in got:
            assert sitk_array(p).tolist() == sitk_array(out / p.name).tolist()
    with pytest.raises(InputError, match="fold_3"):
        nnunet.predict(fold_dir.parent, ["3"], raw / "imagesTs", tmp_path / "x", root / "nnunet")


def sitk_array(path):
    import SimpleITK as sitk

    return sitk.GetArrayFromImage(sitk.ReadImage(str(path)))


def _source_file(cls) -> str:
    """The file a class's methods were compiled from (nnU-Net's search drops the module of an
    external trainer from sys.modules afterwards, so inspect.getfile cannot tell)."""
    import inspect

    return next(f.__code__.co_filename for f in vars(cls).values() if inspect.isfunction(f))


def test_trainers_found_directly_are_those_nnunets_search_finds(tmp_path, monkeypatch):
    """hipseg's trainer and nnU-Net's base trainer: the class nnU-Net's search finds (the same
    source file, the same base classes), without the search; any other name, or a user's own
    nnUNet_extTrainer folder, goes through nnU-Net's search; the lookup is restored after."""
    nnunet.configure_environment(tmp_path)
    from nnunetv2.utilities.find_objects import recursive_find_trainer_class_by_name as search

    asked = []

    class Module:  # stands for nnunetv2.run.run_training / inference.predict_from_raw_data
        @staticmethod
        def recursive_find_trainer_class_by_name(name):
            asked.append(name)
            return search(name)

    original = Module.recursive_find_trainer_class_by_name
    with nnunet.direct_trainer_lookup(Module):
        for name in ("nnUNetTrainerHipsegShort", "nnUNetTrainer"):
            direct, searched = Module.recursive_find_trainer_class_by_name(name), search(name)
            assert direct.__name__ == searched.__name__ == name
            assert _source_file(direct) == _source_file(searched)
            assert [c.__name__ for c in direct.__mro__] == [c.__name__ for c in searched.__mro__]
        assert asked == []
        assert Module.recursive_find_trainer_class_by_name("nnUNetTrainer_5epochs").__name__ == (
            "nnUNetTrainer_5epochs")  # fmt: skip
        assert asked == ["nnUNetTrainer_5epochs"]
        mine = tmp_path / "my_trainers"
        mine.mkdir()
        both = os.pathsep.join([str(mine), str(nnunet.TRAINERS_DIR)])
        monkeypatch.setenv("nnUNet_extTrainer", both)
        Module.recursive_find_trainer_class_by_name("nnUNetTrainerHipsegShort")
        assert asked[-1] == "nnUNetTrainerHipsegShort"  # the user's folder first, as nnU-Net does
    assert Module.recursive_find_trainer_class_by_name is original


def test_a_kill_while_saving_leaves_the_last_checkpoint_intact(tmp_path):
    target = tmp_path / "checkpoint_latest.pth"
    target.write_bytes(b"epoch 4, complete")

    class Trainer:
        def save_checkpoint(self, filename):
            with open(filename, "wb") as f:
                f.write(b"epoch 5, half")
                raise KeyboardInterrupt  # killed in the middle of torch.save

    trainer = Trainer()
    nnunet._atomic_checkpoints(trainer)
    with pytest.raises(KeyboardInterrupt):
        trainer.save_checkpoint(str(target))
    assert target.read_bytes() == b"epoch 4, complete"

    class Finishing(Trainer):
        def save_checkpoint(self, filename):
            Path(filename).write_bytes(b"epoch 5, complete")

    trainer = Finishing()
    nnunet._atomic_checkpoints(trainer)
    trainer.save_checkpoint(str(target))
    assert target.read_bytes() == b"epoch 5, complete"
