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
        "preprocess",
        "train",
        "predict",
        "evaluate",
        "subgroups",
        "report",
        "listen",
    ):
        assert stage in out


def test_errors_name_the_file_and_exit_2(snakemake_env, tmp_path):
    bad = tmp_path / "nope.dcm"
    bad.write_text("not dicom")
    sheet = tmp_path / "samples.tsv"
    sheet.write_text("id\tpatient\tdicom\tlabels\na\tp\tnope.dcm\tnope.png\n")
    proc = run(
        snakemake_env,
        "deid",
        "--sheet",
        str(sheet),
        "--id",
        "a",
        "--out",
        str(tmp_path / "o.dcm"),
        "--audit",
        str(tmp_path / "a.json"),
        "--use-demo-key",
    )
    assert proc.returncode == 2
    assert f"{bad}: not a DICOM file" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "o.dcm").exists() and not (tmp_path / "a.json").exists()


def test_validate_samples_command(snakemake_env, demo_data, tmp_path):
    out = tmp_path / "valid.tsv"
    proc = run(snakemake_env, "validate-samples", str(demo_data), "--out", str(out), "--demo-key")
    assert proc.returncode == 0, proc.stderr
    assert "OK" in proc.stdout and out.read_text().startswith("id\t")
    # the validated copy carries keyed pseudonyms, never the sheet's patient values
    import pandas as pd

    from hipseg import deid, samplesheet

    sheet, written = samplesheet.read(demo_data), pd.read_csv(out, sep="\t", dtype=str)
    assert list(written["patient"]) == [deid.pseudonym(deid.DEMO_KEY, p) for p in sheet["patient"]]
    assert not set(sheet["patient"]) & set(out.read_text().split())
