"""One path for options: schema → rule (one JSON parameter) → the stage's options object."""

from __future__ import annotations

import dataclasses
import json
import shlex
import subprocess

import pytest
import yaml

from hipseg import cli, options
from hipseg.errors import HipsegError


def all_option_classes() -> list[type[options.StageOptions]]:
    """Every options class of the package's stages."""
    from hipseg import (
        crop,
        dataset,
        deid,
        evaluate,
        gate,
        nnunet,
        paperplan,
        report,
        source,
        subgroups,
        synth,
    )
    from hipseg.node import listen
    from hipseg.segment import run as segment_run  # (hipseg.segment imports it when used)

    del crop, dataset, deid, evaluate, gate, listen, nnunet, paperplan, report, segment_run, source
    del subgroups
    del synth  # (imported for their options classes)
    found, todo = [], list(options.StageOptions.__subclasses__())
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return sorted(found, key=lambda c: (c.SECTION, c.__name__))


CLASSES = all_option_classes()


def _keys(cls) -> set[str]:
    return {f.name for f in dataclasses.fields(cls) if f.init and f.repr}


def test_the_schema_every_stage_reads_is_the_yaml_document():
    """Stages read the schema with libyaml's loader where PyYAML has it: the same document as
    PyYAML's pure-Python safe loader gives (types, defaults, descriptions)."""
    text = options.SCHEMA_PATH.read_text(encoding="utf-8")
    assert options.schema() == yaml.load(text, Loader=yaml.SafeLoader)
    assert options.SAFE_LOADER is getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def test_every_section_has_one_options_class_that_matches_the_schema():
    sections = {c.SECTION for c in CLASSES}
    assert sections == {
        "demo", "deid", "crop", "dataset", "nnunet", "train", "predict", "evaluate", "report",
        "paper_plan", "segment", "source", "listen", "subgroups", "gate"
    }  # fmt: skip
    for cls in CLASSES:
        props = set(options.section_schema(cls.SECTION)["properties"])
        assert _keys(cls) == props - options.SCHEDULING_KEYS, cls.__name__
        # a dataclass default, where there is one, is the schema's default
        schema_defaults = options.defaults(cls.SECTION)
        for f in dataclasses.fields(cls):
            if f.name in schema_defaults and f.default is not dataclasses.MISSING:
                expected = schema_defaults[f.name]
                got = f.default
                if isinstance(got, tuple):
                    got = json.loads(json.dumps(got))
                assert got == expected, f"{cls.__name__}.{f.name}: {got!r} ≠ schema {expected!r}"


def test_from_config_fills_defaults_validates_and_names_the_option():
    from hipseg.nnunet import TrainOptions

    o = TrainOptions.from_config('{"epochs": 3}')
    assert o.epochs == 3 and o.iterations_per_epoch == 250 and o.trainer == "nnUNetTrainer"
    with pytest.raises(HipsegError, match=r"train\.epochs: 0 is less than the minimum of 1"):
        TrainOptions.from_config({"epochs": 0})
    with pytest.raises(HipsegError, match=r"train: Additional properties .*'epoch'"):
        TrainOptions.from_config({"epoch": 3})
    with pytest.raises(HipsegError, match="not valid JSON"):
        TrainOptions.from_config("{epochs: 3")
    assert TrainOptions.from_config(o.to_config()) == o


def test_command_line_flags_come_from_the_same_options(tmp_path):
    from hipseg import deid

    parser = cli.build_parser("anonymise")
    args = parser.parse_args(
        ["anonymise", "in", "out", "--no-retain-longitudinal", "--on-burned-in", "error"]
    )
    o = cli._options(deid.Options, args)
    assert o.retain_longitudinal is False and o.on_burned_in == "error"
    assert o.retain_patient_characteristics == deid.DEFAULT_PATIENT_CHARACTERISTICS
    # --options JSON first, a flag on top of it
    args = parser.parse_args(
        ["anonymise", "a", "b", "--options", '{"on_burned_in": "error"}', "--on-burned-in", "flag"]
    )
    assert cli._options(deid.Options, args).on_burned_in == "flag"
    help_text = parser._subparsers._group_actions[0].choices["anonymise"].format_help()
    assert "--retain-device-identity" in help_text and "--blank-regions" in help_text


def test_rules_pass_their_whole_section(repo, snakemake_env, tmp_path, demo_data):
    """In a dry run every stage's command carries its config section (scheduling keys left out)
    as the JSON it reads; a changed option reaches the stage's command."""
    cfg = tmp_path / "real.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "samples": str(demo_data),
                "demo": {"enabled": False},
                "paper_plan": {"enabled": False},
                "deid": {"on_burned_in": "error"},
                "train": {"epochs": 7},
            }
        )
    )
    cmd = ["snakemake", "--snakefile", str(repo / "Snakefile"), "--directory", str(tmp_path)]
    cmd += ["--configfile", str(cfg), "-n", "--forceall", "--printshellcmds", "--cores", "1"]
    proc = subprocess.run(cmd, env=snakemake_env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    seen = {}
    for line in proc.stdout.splitlines():
        if "python -m hipseg " not in line or "--options" not in line:
            continue
        argv = shlex.split(line.split(";")[-1].split(">")[0])
        stage = argv[argv.index("hipseg") + 1]
        seen[stage] = json.loads(argv[argv.index("--options") + 1])
    assert seen["deid"]["on_burned_in"] == "error"
    assert seen["train"]["epochs"] == 7 and "resources" not in seen["train"]
    assert "threads" not in seen["train"] and "threads" not in seen["predict"]
    expected = {"deid": "deid", "crop": "crop", "dataset": "dataset", "splits": "dataset",
                "plan": "nnunet", "train": "train", "predict": "predict",
                "evaluate": "evaluate", "subgroups": "subgroups", "report": "report"}  # fmt: skip
    for stage, section in expected.items():
        props = set(options.section_schema(section)["properties"]) - options.SCHEDULING_KEYS
        if stage == "plan":  # which configurations are trained does not change the plan
            props -= {"configurations"}
        assert set(seen[stage]) == props, stage
