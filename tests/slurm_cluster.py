"""A real one-node SLURM cluster for the tests: munged, slurmctld and slurmd (Debian's slurm-wlm)
started as root from a private directory, with two fake GPUs (``Gres=gpu`` on character devices
made with ``mknod``).

Everything lives in one temporary directory (configuration, munge key and socket, state, spool,
logs, device files) and the daemons listen on free ports, so the cluster touches neither
/etc/slurm nor /etc/munge and does not collide with another test run on the same machine.
Clients find it through ``SLURM_CONF`` (see :meth:`SlurmCluster.env`). The daemons run in the
foreground as children of the test process; :meth:`stop` ends each of them and waits for it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import stat
import subprocess
import time
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd")
NODE = "hipsegnode"


class ClusterUnavailable(RuntimeError):
    """The cluster cannot be started here (not root, slurm-wlm missing, daemon failure)."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _which(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")


class SlurmCluster:
    def __init__(self, root: Path, cpus: int = 2, memory_mb: int = 12000, gpus: int = 2):
        self.root = Path(root)
        self.cpus, self.memory_mb, self.gpus = cpus, memory_mb, gpus
        self.procs: dict[str, int] = {}  # daemon -> pid
        self.children: dict[str, subprocess.Popen] = {}

    # ------------------------------------------------------------------ setup
    def check_prerequisites(self) -> None:
        if os.geteuid() != 0:
            raise ClusterUnavailable("needs root (munged, slurmd and mknod run as root)")
        missing = [d for d in (*DAEMONS, "sbatch", "srun", "squeue", "scontrol") if not _which(d)]
        if missing:
            raise ClusterUnavailable(
                f"not installed: {', '.join(missing)} (apt-get install slurm-wlm munge; "
                "`make test` does this)"
            )

    def _write_config(self) -> None:
        r = self.root
        r.chmod(0o755)  # munged refuses a socket in a folder others cannot enter
        for sub in ("state", "spool", "log", "run", "dev"):
            (r / sub).mkdir(parents=True, exist_ok=True)
        for i in range(self.gpus):
            dev = r / "dev" / f"fakegpu{i}"
            if not dev.exists():
                os.mknod(dev, 0o666 | stat.S_IFCHR, os.makedev(195, i))
        key = r / "munge.key"
        key.write_bytes(os.urandom(128))
        key.chmod(0o600)
        self.ctld_port, self.slurmd_port = _free_port(), _free_port()
        conf = f"""\
ClusterName=hipsegci
SlurmctldHost={socket.gethostname().split(".")[0]}(127.0.0.1)
MailProg=/bin/true
SlurmctldPort={self.ctld_port}
SlurmdPort={self.slurmd_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={r}/run/munge.sock
StateSaveLocation={r}/state
SlurmdSpoolDir={r}/spool
SlurmctldPidFile={r}/run/slurmctld.pid
SlurmdPidFile={r}/run/slurmd.pid
SlurmctldLogFile={r}/log/slurmctld.log
SlurmdLogFile={r}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
GresTypes=gpu
ReturnToService=2
MpiDefault=none
MinJobAge=600
SchedulerParameters=sched_interval=1
KillWait=5
NodeName={NODE} NodeHostname=localhost NodeAddr=127.0.0.1 CPUs={self.cpus} \
RealMemory={self.memory_mb} Gres=gpu:{self.gpus} State=UNKNOWN
PartitionName=debug Nodes={NODE} Default=YES MaxTime=INFINITE State=UP
"""
        (r / "slurm.conf").write_text(conf)
        # snakemake-executor-plugin-slurm-jobstep drops SLURM_* variables (SLURM_CONF too) before
        # its `srun` inside a job: real clusters have /etc/slurm/slurm.conf, this one does not
        # touch /etc, so a shim first in PATH (sbatch --export=ALL) puts SLURM_CONF back.
        (r / "bin").mkdir(exist_ok=True)
        shim = r / "bin" / "srun"
        shim.write_text(f'#!/bin/sh\nSLURM_CONF={r}/slurm.conf exec {_which("srun")} "$@"\n')
        shim.chmod(0o755)
        gres = "".join(f"Name=gpu File={r}/dev/fakegpu{i}\n" for i in range(self.gpus))
        (r / "gres.conf").write_text(gres)

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        env = dict(os.environ if base is None else base)
        env["SLURM_CONF"] = str(self.root / "slurm.conf")
        env["PATH"] = f"{self.root / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        return env

    def _run(self, *cmd: str, check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run(list(cmd), env=self.env(), capture_output=True, text=True, timeout=60)
        if check and proc.returncode != 0:
            raise ClusterUnavailable(
                f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr}{self.logs()}"
            )
        return proc

    def _spawn(self, name: str, *args: str) -> None:
        """Start a daemon in the foreground as our child (so that stop() can wait for it)."""
        log = (self.root / "log" / f"{name}.out").open("w")
        self.children[name] = subprocess.Popen(
            [_which(name), *args],
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        self.procs[name] = self.children[name].pid

    def _wait_for(self, what: str, ready, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, child in self.children.items():
                if child.poll() is not None:
                    raise ClusterUnavailable(
                        f"{name} exited ({child.returncode}) while waiting for {what}{self.logs()}"
                    )
            if ready():
                return
            time.sleep(0.3)
        raise ClusterUnavailable(f"{what} not ready after {timeout} s{self.logs()}")

    # ------------------------------------------------------------------ start / stop
    def start(self) -> SlurmCluster:
        self.check_prerequisites()
        self._write_config()
        r, conf = self.root, str(self.root / "slurm.conf")
        try:
            self._spawn(
                "munged",
                "--foreground",
                "--force",
                f"--key-file={r}/munge.key",
                f"--socket={r}/run/munge.sock",
                f"--pid-file={r}/run/munged.pid",
                f"--log-file={r}/log/munged.log",
                f"--seed-file={r}/run/munge.seed",
            )
            self._wait_for("munged", (r / "run" / "munge.sock").exists)
            self._spawn("slurmctld", "-D", "-i", "-f", conf)
            self._wait_for(
                "slurmctld",
                lambda: "UP" in self._run("scontrol", "ping", check=False).stdout,
            )
            self._spawn("slurmd", "-D", "-f", conf, "-N", NODE)
            self._wait_idle()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_idle(self, timeout: float = 60) -> None:
        self._wait_for(
            f"node {NODE} (idle)",
            lambda: (
                self._run("sinfo", "-h", "-N", "-o", "%T", check=False).stdout.strip() == "idle"
            ),
            timeout,
        )

    def running(self) -> dict[str, bool]:
        return {name: child.poll() is None for name, child in self.children.items()}

    def stop(self) -> None:
        """End every daemon this cluster started (jobs first, then slurmd, slurmctld, munged)
        and wait for each, so none is left running or unreaped."""
        if "slurmctld" in self.children and self.children["slurmctld"].poll() is None:
            self._run("scancel", "--user=root", check=False)
        for name in ("slurmd", "slurmctld", "munged"):
            child = self.children.get(name)
            if child is None or child.poll() is not None:
                continue
            child.send_signal(signal.SIGTERM)
            try:
                child.wait(timeout=20)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait(timeout=20)

    def logs(self) -> str:
        parts = []
        for f in sorted((self.root / "log").glob("*.log")):
            parts.append(f"\n--- {f.name} (tail)\n" + "\n".join(f.read_text().splitlines()[-30:]))
        return "".join(parts)
