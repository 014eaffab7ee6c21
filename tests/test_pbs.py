"""MetaCentrum (OpenPBS) glue: qsub lines from Snakemake job properties, job status from
recorded ``qstat -x -f -F json`` outputs (tests/data/pbs), and the profile's scripts run as
Snakemake runs them (fake qsub/qstat on PATH)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hipseg import pbs

DATA = Path(__file__).parent / "data" / "pbs"
PROFILE = Path(__file__).resolve().parents[1] / "profiles" / "metacentrum"
JOB = "14225011.pbs-m1.metacentrum.cz"

# job properties as Snakemake 9 writes them into a job script (line 2), paper resources
TRAIN = {
    "type": "single",
    "rule": "train",
    "local": False,
    "input": ["results/nnunet/nnUNet_preprocessed/Dataset501_HipJoint/nnUNetPlans.json"],
    "output": ["results/nnunet/.../fold_0/checkpoint_final.pth"],
    "wildcards": {"fold": "0"},
    "params": {},
    "log": ["results/logs/train/fold_0.log"],
    "threads": 8,
    "resources": {
        "tmpdir": "<TBD>",
        "mem_mb": 48000,
        "mem": "48 GB",
        "mem_mib": 45777,
        "disk_mb": 1000,
        "disk": "1000 MB",
        "disk_mib": 954,
        "gpu": 1,
        "gpu_mem_mb": 10000,
        "runtime": 1440,
        "scratch_mb": 10000,
    },
    "jobid": 31,
}
CROP = {
    "type": "single",
    "rule": "crop",
    "local": False,
    "input": [],
    "output": ["results/joints/case07"],
    "wildcards": {"id": "case07"},
    "params": {},
    "log": [],
    "threads": 1,
    "resources": {
        "tmpdir": "<TBD>",
        "mem_mb": 4000,
        "mem_mib": 3815,
        "disk_mb": 1000,
        "disk_mib": 954,
        "runtime": 60,
        "scratch_mb": 2000,
    },
    "jobid": 12,
}


def jobscript(tmp_path: Path, props: dict) -> Path:
    path = tmp_path / f"snakejob.{props['rule']}.{props['jobid']}.sh"
    path.write_text(
        "#!/bin/sh\n"
        f"# properties = {json.dumps(props)}\n"
        "cd /storage/brno2/home/jnovak/hipseg && /venv/bin/python -m snakemake --target-jobs x"
        " && exit 0 || exit 1\n"
    )
    return path


# --------------------------------------------------------------------------- qsub lines


# the paper config's training job: 8 cores, 1 GPU with 10 GB, 48 GB RAM, 10 GB scratch (MB → MiB)
TRAIN_SELECT = "select=1:ncpus=8:ngpus=1:mem=45777mb:scratch_local=9537mb:gpu_mem=9537mb"


def test_qsub_line_of_a_gpu_training_job(tmp_path):
    args = pbs.qsub_args(TRAIN, "/logs/t.log")
    assert args == [
        "qsub",
        "-N",
        "hipseg.train.0",
        "-l",
        TRAIN_SELECT,
        "-l",
        "walltime=24:00:00",
        "-j",
        "oe",
        "-o",
        "/logs/t.log",
    ]


def test_qsub_line_of_a_cpu_job_requests_no_gpu():
    args = pbs.qsub_args(CROP, "/logs/c.log")
    assert args[:7] == [
        "qsub",
        "-N",
        "hipseg.crop.case07",
        "-l",
        "select=1:ncpus=1:mem=3815mb:scratch_local=1908mb",
        "-l",
        "walltime=01:00:00",
    ]
    assert "ngpus" not in " ".join(args) and "gpu_mem" not in " ".join(args)
    # gpu: 0 and a GPU-memory value without a GPU request no GPU either
    cpu = json.loads(json.dumps(CROP))
    cpu["resources"].update(gpu=0, gpu_mem_mb=10000)
    assert "gpu" not in pbs.select_statement(cpu)


def test_queue_walltime_and_bad_resources():
    props = json.loads(json.dumps(TRAIN))
    props["resources"]["pbs_queue"] = "gpu_long"
    props["resources"]["runtime"] = 4320.5
    args = pbs.qsub_args(props, "l")
    assert args[3:5] == ["-q", "gpu_long"]
    assert "walltime=72:00:30" in args
    assert pbs.walltime(1) == "00:01:00" and pbs.walltime(61) == "01:01:00"
    for bad in (0, -5, "soon"):
        with pytest.raises(pbs.PBSError, match="runtime"):
            pbs.walltime(bad)
    props["resources"].pop("runtime")
    with pytest.raises(pbs.PBSError, match="no runtime"):
        pbs.qsub_args(props, "l")
    props = json.loads(json.dumps(CROP))
    props["resources"]["gpu"] = "two"
    with pytest.raises(pbs.PBSError, match="gpu must be an integer"):
        pbs.select_statement(props)


def test_wrapper_uses_scratch_as_tmpdir_and_cleans_it():
    text = pbs.wrapper_script("#!/bin/sh\n# properties = {}\necho job\n", "module add foo\n")
    assert text.startswith("#!/bin/bash\n")
    assert 'export TMPDIR="$SCRATCHDIR"' in text and "clean_scratch" in text
    assert text.index("module add foo") < text.index("echo job")
    assert text.count("#!") == 1
    job = "cd /w && /storage/venv/bin/python3.11 -m snakemake --target-jobs x\n"
    assert 'export PATH=/storage/venv/bin:"$PATH"' in pbs.wrapper_script(job)


def test_read_job_properties_rejects_other_scripts(tmp_path):
    assert pbs.read_job_properties(jobscript(tmp_path, TRAIN))["threads"] == 8
    other = tmp_path / "x.sh"
    other.write_text("#!/bin/sh\necho\n")
    with pytest.raises(pbs.PBSError, match="properties"):
        pbs.read_job_properties(other)


# --------------------------------------------------------------------------- qstat → status


def qstat_from(answers: dict[str, tuple[int, str, str]], calls: list | None = None):
    """A fake subprocess.run for qstat: answers per queried id (rc, stdout, stderr)."""

    def run(args, **kwargs):
        assert args[:5] == ["qstat", "-x", "-f", "-F", "json"], args
        if calls is not None:
            calls.append(args[5])
        rc, out, err = answers[args[5]]
        return subprocess.CompletedProcess(args, rc, out, err)

    return run


def recorded(name: str) -> str:
    return (DATA / f"{name}.json").read_text()


@pytest.mark.parametrize(
    "name, expected",
    [
        ("queued", "running"),
        ("held", "running"),
        ("running", "running"),
        ("exiting", "running"),
        ("finished_ok", "success"),
        ("finished_error", "failed"),
        ("walltime", "failed"),
        ("memory", "failed"),
        ("qdel", "failed"),
        ("deleted_while_queued", "failed"),
        ("absent", "failed"),
    ],
)
def test_status_from_recorded_qstat_output(name, expected):
    messages = []
    run = qstat_from({JOB: (0, recorded(name), "")})
    assert pbs.job_status(JOB, run=run, log=messages.append) == expected
    if name in ("walltime", "memory", "qdel"):
        meaning = {"walltime": "walltime", "memory": "mem", "qdel": "signal 15"}[name]
        assert meaning in messages[-1]


def test_recorded_outputs_are_what_the_tests_claim():
    for path in DATA.glob("*.json"):
        data = json.loads(path.read_text())
        assert {"timestamp", "pbs_version", "pbs_server", "Jobs"} <= set(data)
    assert json.loads(recorded("walltime"))["Jobs"][JOB]["Exit_status"] == -29
    assert json.loads(recorded("memory"))["Jobs"][JOB]["Exit_status"] == -27
    assert json.loads(recorded("qdel"))["Jobs"][JOB]["Exit_status"] == 271


def test_moved_job_is_asked_at_its_new_server():
    calls = []
    remote = f"{JOB}@cerit-pbs.cerit-sc.cz"
    run = qstat_from(
        {JOB: (0, recorded("moved"), ""), remote: (0, recorded("moved_remote_running"), "")},
        calls,
    )
    assert pbs.job_status(JOB, run=run, log=lambda m: None) == "running"
    assert calls == [JOB, remote]
    # the new server's answer lists the job under another key spelling: matched by number
    finished = json.loads(recorded("finished_ok"))
    finished["Jobs"] = {"14225011.cerit-pbs.cerit-sc.cz": finished["Jobs"][JOB]}
    run = qstat_from({JOB: (0, recorded("moved"), ""), remote: (0, json.dumps(finished), "")})
    assert pbs.job_status(JOB, run=run, log=lambda m: None) == "success"


def test_unknown_job_fails_and_qstat_trouble_reports_running():
    for rc, err in [(35, f"qstat: Unknown Job Id {JOB}\n"), (153, ""), (1, "Unknown Job Id x")]:
        unknown = qstat_from({JOB: (rc, "", err)})
        assert pbs.job_status(JOB, run=unknown, log=lambda m: None) == "failed"
    for rc, out, err in [
        (1, "", "Connection refused\nqstat: cannot connect to server pbs-m1.metacentrum.cz"),
        (2, "", "qstat: Server pbs-m1.metacentrum.cz: Communication failure"),
        (0, "not json {", ""),
        (0, "[]", ""),
    ]:
        run = qstat_from({JOB: (rc, out, err)})
        assert pbs.job_status(JOB, run=run, log=lambda m: None) == "running", (rc, err)

    def raising(args, **kwargs):
        raise subprocess.TimeoutExpired(args, 60)

    assert pbs.job_status(JOB, run=raising, log=lambda m: None) == "running"

    def missing(args, **kwargs):
        raise FileNotFoundError("qstat")

    assert pbs.job_status(JOB, run=missing, log=lambda m: None) == "running"


# --------------------------------------------------------------------------- the profile scripts


def fake_bin(tmp_path: Path, **scripts: str) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name, body in scripts.items():
        path = bin_dir / name
        path.write_text("#!/bin/sh\n" + body)
        path.chmod(0o755)
    env = dict(os.environ)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    env.pop("PYTHONPATH", None)  # the scripts find hipseg themselves
    return env


def test_submit_script_runs_qsub_with_the_jobs_resources(tmp_path):
    script = jobscript(tmp_path, TRAIN)
    argv_file = tmp_path / "qsub.argv"
    env = fake_bin(
        tmp_path,
        qsub=f'printf "%s\\n" "$@" > {argv_file}\necho 14225011.pbs-m1.metacentrum.cz\n',
    )
    env["HIPSEG_PBS_LOGDIR"] = str(tmp_path / "logs")
    proc = subprocess.run(
        [str(PROFILE / "pbs-submit.py"), str(script)],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "14225011.pbs-m1.metacentrum.cz"
    argv = argv_file.read_text().splitlines()
    assert argv[:7] == [
        "-N",
        "hipseg.train.0",
        "-l",
        TRAIN_SELECT,
        "-l",
        "walltime=24:00:00",
        "-j",
    ]
    log = Path(argv[argv.index("-o") + 1])
    assert log.parent == tmp_path / "logs" and log.parent.is_dir()
    wrapper = Path(argv[-1]).read_text()
    assert "clean_scratch" in wrapper and "python -m snakemake --target-jobs x" in wrapper
    assert "job-prologue.sh" not in wrapper  # its content is included, not its name
    assert (PROFILE / "job-prologue.sh").read_text().strip() in wrapper


def test_submit_script_reports_qsub_errors(tmp_path):
    env = fake_bin(tmp_path, qsub='echo "qsub: Job violates queue resource limits" >&2\nexit 3\n')
    env["HIPSEG_PBS_LOGDIR"] = str(tmp_path / "logs")
    proc = subprocess.run(
        [str(PROFILE / "pbs-submit.py"), str(jobscript(tmp_path, CROP))],
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1
    assert "violates queue resource limits" in proc.stderr and proc.stdout == ""


@pytest.mark.parametrize(
    "qstat, expected",
    [
        (f"cat {DATA / 'walltime.json'}\n", "failed"),
        (f"cat {DATA / 'finished_ok.json'}\n", "success"),
        (f"cat {DATA / 'queued.json'}\n", "running"),
        ('echo "qstat: Unknown Job Id $6" >&2\nexit 35\n', "failed"),
        ('echo "cannot connect to server" >&2\nexit 1\n', "running"),
        ("kill -9 $$\n", "running"),
    ],
)
def test_status_script_prints_one_word_and_exits_zero(tmp_path, qstat, expected):
    env = fake_bin(tmp_path, qstat=qstat)
    proc = subprocess.run(
        [str(PROFILE / "pbs-status.py"), JOB], env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0
    assert proc.stdout == f"{expected}\n"


def test_status_script_never_fails_even_without_its_package(tmp_path):
    lonely = tmp_path / "a" / "b" / "pbs-status.py"
    lonely.parent.mkdir(parents=True)
    shutil.copy(PROFILE / "pbs-status.py", lonely)
    env = fake_bin(tmp_path)
    proc = subprocess.run(
        [sys.executable, str(lonely), JOB], env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0 and proc.stdout == "running\n"
    assert "ModuleNotFoundError" in proc.stderr
    # no argument at all
    proc = subprocess.run([str(PROFILE / "pbs-status.py")], env=env, capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout == "running\n"


# --------------------------------------------------------------------------- the whole profile

FAKE_QSUB = r"""
state={state}
n=$(ls $state | grep -c '\.id$'); n=$((n + 1)); id="$n.fakepbs"
printf "%s\n" "$@" > $state/$n.argv; touch $state/$n.id
eval "script=\${{$#}}"
log=$(awk 'prev == "-o" {{print}} {{prev = $0}}' $state/$n.argv)
mkdir -p {scratch}/$n
( SCRATCHDIR={scratch}/$n PBS_JOBID=$id bash "$script" > "$log" 2>&1; echo $? > $state/$n.exit ) \
  > /dev/null 2>&1 &
echo $id
"""


def _job_number(path: Path) -> int:
    return int(path.name.split(".")[0])


FAKE_QSTAT = r"""
state={state}
n=${{5%%.*}}
if [ -f $state/$n.exit ]; then
  printf '{{"pbs_server":"fakepbs","Jobs":{{"%s":{{"job_state":"F","Exit_status":%s}}}}}}' "$5" \
    "$(cat $state/$n.exit)"
else
  printf '{{"pbs_server":"fakepbs","Jobs":{{"%s":{{"job_state":"R"}}}}}}' "$5"
fi
"""


@pytest.mark.slow
def test_metacentrum_profile_runs_the_workflow_through_qsub_and_qstat(
    repo, snakemake_env, tmp_path
):
    """`snakemake --profile metacentrum` as a user types it, with qsub/qstat/clean_scratch
    replaced by scripts that run each job at once on this machine (in a scratch folder)."""
    import yaml

    from tests.test_workflow import TINY_CONFIG

    state, scratch, work = tmp_path / "state", tmp_path / "scratch", tmp_path / "work"
    for d in (state, scratch, work):
        d.mkdir()
    env = fake_bin(
        tmp_path,
        qsub=FAKE_QSUB.format(state=state, scratch=scratch),
        qstat=FAKE_QSTAT.format(state=state),
        clean_scratch=f'touch {state}/cleaned.$PBS_JOBID; rm -rf "$SCRATCHDIR"\n',
        qdel="exit 0\n",
    )
    env["XDG_CONFIG_HOME"] = str(tmp_path / "xdg")
    env["PYTHONPATH"] = snakemake_env["PYTHONPATH"]
    install = subprocess.run(
        [sys.executable, "-m", "hipseg", "install-profile", "metacentrum"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert install.returncode == 0, install.stderr
    (work / "tiny.yaml").write_text(yaml.safe_dump(TINY_CONFIG))
    proc = subprocess.run(
        [
            "snakemake",
            "--profile",
            "metacentrum",
            "results/dataset/cases.tsv",
            "--snakefile",
            str(repo / "Snakefile"),
            "--configfile",
            "tiny.yaml",
            "--seconds-between-status-checks",
            "1",
            "--max-status-checks-per-second",
            "10",
            "--latency-wait",
            "10",
        ],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    ids = [line.split("\t")[0] for line in (work / "results/samples/validated.tsv").open()][1:]
    assert len(ids) > 4 and all((work / "results/joints" / i).is_dir() for i in ids)
    argvs = [p.read_text().splitlines() for p in sorted(state.glob("*.argv"), key=_job_number)]
    # two cluster jobs: the demo generator, then ONE group job that de-identifies and crops every
    # radiograph (up to 50 per job); validate_samples and dataset are local rules
    assert [a[1] for a in argvs] == ["hipseg.synth", "hipseg.radiograph"]
    synth, group = argvs
    assert synth[3] == "select=1:ncpus=1:mem=3815mb:scratch_local=1908mb", synth
    assert synth[5] == "walltime=01:00:00"
    # 4 radiographs at a time (radiograph_slots): 4 CPUs, 4 x 2000 MB (1908 MiB) of memory and
    # 4 x 500 MB of scratch; the walltime is 3 min per step (deid, crop) and per batch of 4
    assert group[3] == f"select=1:ncpus=4:mem={4 * 1908}mb:scratch_local={4 * 477}mb", group
    batches = -(-len(ids) // 4)
    assert group[5] == f"walltime={pbs.walltime(2 * 3 * batches)}"
    group_log = Path(group[group.index("-o") + 1]).read_text()
    assert all(f"deid/{i}.log" in group_log and f"joints/{i}" in group_log for i in ids)
    assert sorted(p.name for p in state.glob("cleaned.*")) == [
        "cleaned.1.fakepbs",
        "cleaned.2.fakepbs",
    ]
    assert not any(scratch.iterdir())  # every job's scratch was cleaned
    logs = list((work / ".snakemake" / "pbs_logs").glob("hipseg.synth.*.log"))
    assert len(logs) == 1 and "synth" in logs[0].read_text()
