"""Nothing identifying crosses the de-identification boundary: the workflow's data stages run on a
sample sheet whose patient values, and DICOMs whose Patient's Name and ID, are distinctive
tokens, while every process's command line is sampled; no token appears under results/, in
.snakemake/ (its metadata keeps every job's params and command), in Snakemake's output or log,
or on any command line."""

import json
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pydicom
import yaml

from hipseg import samplesheet
from tests.conftest import REPO

TOKEN = "QZXTOKEN"  # every identifying value below starts with it; no other text contains it
# dates and an age no output may hold (the deid job records an age band, "≥80", instead): the
# birth date, the original study date (the output's dates are shifted), the exact age
BIRTH, STUDY, AGE = "19130517", "20091203", "097Y"


def _sheet_with_tokens(demo_data: Path, root: Path) -> Path:
    """Four radiographs of three patients: sheet patient values and DICOM identities are
    tokens; ids are running numbers."""
    src = samplesheet.read(demo_data).head(4)
    (root / "dicom").mkdir(parents=True)
    (root / "labels").mkdir()
    lines = ["id\tpatient\tdicom\tlabels\thips\tsplit\tnote"]
    for i, row in enumerate(src.itertuples()):
        p = i % 3
        ds = pydicom.dcmread(row.dicom)
        ds.PatientName = f"{TOKEN}NAME{p}^{TOKEN}GIVEN{p}"
        ds.PatientID = f"{TOKEN}ID{p}"
        ds.OtherPatientIDs = f"{TOKEN}OTHER{p}"
        ds.PatientBirthDate = BIRTH
        ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = STUDY
        if i == 0:  # no Patient's Age: the band comes from the dates
            del ds.PatientAge
        else:
            ds.PatientAge = AGE
        ds.save_as(root / "dicom" / f"r{i}.dcm", enforce_file_format=True)
        shutil.copy(row.labels, root / "labels" / f"r{i}.png")
        lines.append(f"case{i:02d}\t{TOKEN}PATIENT{p}\tdicom/r{i}.dcm\tlabels/r{i}.png\t"
                     f"{row.hips}\t\t{row.note}")  # fmt: skip
    sheet = root / "samples.tsv"
    sheet.write_text("\n".join(lines) + "\n")
    return sheet


class CommandLines:
    """Samples the command line of every process every few milliseconds."""

    def __init__(self, every_s: float = 0.003):
        self.every_s, self.seen, self.samples = every_s, set(), 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            for proc in Path("/proc").iterdir():
                if proc.name.isdigit():
                    try:
                        self.seen.add((proc / "cmdline").read_bytes().replace(b"\0", b" "))
                    except OSError:
                        pass  # the process ended
            self.samples += 1
            time.sleep(self.every_s)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def _files_with_token(root: Path, token: str = TOKEN) -> list[str]:
    token = token.lower().encode()
    return [
        str(p.relative_to(root))
        for p in sorted(root.rglob("*"))
        if p.is_file() and token in p.read_bytes().lower()
    ]


def test_no_identifier_crosses_the_boundary(demo_data, tmp_path, snakemake_env):
    work = tmp_path / "work"
    work.mkdir()
    sheet = _sheet_with_tokens(demo_data, tmp_path / "input")
    config = {
        "samples": str(sheet),
        "demo": {"enabled": False},
        "deid": {"use_demo_key": True},
        "dataset": {"test_fraction": 0.34},
        "paper_plan": {"enabled": False},
    }
    (work / "config.yaml").write_text(yaml.safe_dump(config))
    targets = ["results/dataset/summary.json", "results/deid/summary.json"]
    cmd = ["snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(work)]
    cmd += ["--cores", "2", "--configfile", str(work / "config.yaml"), "--printshellcmds"]
    with CommandLines() as lines:
        proc = subprocess.run([*cmd, *targets], env=snakemake_env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-6000:]
    assert all((work / t).is_file() for t in targets)
    # the run was watched: hipseg's deid jobs were seen on their command lines
    assert lines.samples > 100 and any(b"hipseg deid" in c for c in lines.seen)
    token = TOKEN.lower()
    assert not [c for c in lines.seen if token.encode() in c.lower()]
    assert token not in (proc.stdout + proc.stderr).lower()
    assert list((work / ".snakemake" / "metadata").iterdir())  # metadata was written
    assert list((work / ".snakemake" / "log").glob("*.snakemake.log"))  # and the log
    assert _files_with_token(work) == []  # results/ and .snakemake/
    # no birth date, original date or exact age: only the band (in the audits); the exact age
    # stays only where the profile keeps it, in the de-identified images
    for value in (BIRTH, STUDY, AGE):
        assert value.lower() not in (proc.stdout + proc.stderr).lower()
        assert not [c for c in lines.seen if value.lower().encode() in c.lower()]
    assert _files_with_token(work, BIRTH) == [] and _files_with_token(work, STUDY) == []
    kept = [f"results/deid/case{i:02d}.dcm" for i in range(1, 4)]  # case00 had no age
    assert _files_with_token(work, AGE) == kept
    for i in range(4):
        audit = json.loads((work / "results" / "deid" / f"case{i:02d}.audit.json").read_text())
        assert audit["characteristics"]["age_band"] == "≥80", audit["characteristics"]
    # the identities reached the deid stage and became pseudonyms
    deid_out = pydicom.dcmread(work / "results" / "deid" / "case00.dcm")
    assert deid_out.PatientIdentityRemoved == "YES" and deid_out.PatientID.startswith("P")


def test_token_check_finds_a_token_in_a_binary_file(tmp_path):
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "x.bin").write_bytes(b"\0\1" + TOKEN.lower().encode() + b"\2")
    assert _files_with_token(tmp_path) == ["results/x.bin"]
