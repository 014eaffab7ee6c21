import subprocess
import sys


def run(env, *args):
    return subprocess.run(
        [sys.executable, "-m", "hipseg", *args], env=env, capture_output=True, text=True
    )


def test_help_lists_every_stage(snakemake_env):
    out = run(snakemake_env, "--help").stdout
    for stage in (
        "synth",
        "validate-samples",
        "deid",
        "anonymise",
        "crop",
        "dataset",
        "splits",
        "plan",
        "train",
        "predict",
        "evaluate",
        "report",
    ):
        assert stage in out


def test_errors_name_the_file_and_exit_2(snakemake_env, tmp_path):
    bad = tmp_path / "nope.dcm"
    bad.write_text("not dicom")
    proc = run(
        snakemake_env,
        "deid",
        "--id",
        "a",
        "--dicom",
        str(bad),
        "--patient",
        "p",
        "--out",
        str(tmp_path / "o.dcm"),
        "--audit",
        str(tmp_path / "a.json"),
        "--demo-key",
    )
    assert proc.returncode == 2
    assert f"{bad}: not a DICOM file" in proc.stderr
    assert not (tmp_path / "o.dcm").exists() and not (tmp_path / "a.json").exists()


def test_validate_samples_command(snakemake_env, demo_data, tmp_path):
    out = tmp_path / "valid.tsv"
    proc = run(snakemake_env, "validate-samples", str(demo_data), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "OK" in proc.stdout and out.read_text().startswith("id\t")
