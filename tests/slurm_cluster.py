"""A real one-node SLURM cluster for the tests: munged, slurmctld and slurmd (Debian's slurm-wlm)
started as root from a private directory, with two fake GPUs (``Gres=gpu`` on character devices
made with ``mknod``).

Everything lives in one temporary directory (configuration, munge key and socket, state, spool,
logs, device files) and the daemons listen on free ports, so the cluster touches neither
/etc/slurm nor /etc/munge and does not collide with another test run on the same machine.
Clients find it through ``SLURM_CONF`` (see :meth:`SlurmCluster.env`). :meth:`stop` ends every
daemon this module started, by process id.
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
        self.procs: dict[str, int] = {}  # daemon -> pid (daemons fork: pid files)

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

    def _pid_from(self, pidfile: Path, name: str, timeout: float = 20) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if pidfile.is_file() and pidfile.read_text().strip():
                return int(pidfile.read_text().split()[0])
            time.sleep(0.2)
        raise ClusterUnavailable(f"{name} did not start (no {pidfile}){self.logs()}")

    # ------------------------------------------------------------------ start / stop
    def start(self) -> SlurmCluster:
        self.check_prerequisites()
        self._write_config()
        r = self.root
        try:
            self._run(
                _which("munged"),
                "--force",
                f"--key-file={r}/munge.key",
                f"--socket={r}/run/munge.sock",
                f"--pid-file={r}/run/munged.pid",
                f"--log-file={r}/log/munged.log",
                f"--seed-file={r}/run/munge.seed",
            )
            self.procs["munged"] = self._pid_from(r / "run/munged.pid", "munged")
            self._run(_which("slurmctld"), "-f", str(r / "slurm.conf"), "-i")
            self.procs["slurmctld"] = self._pid_from(r / "run/slurmctld.pid", "slurmctld")
            self._run(_which("slurmd"), "-f", str(r / "slurm.conf"), "-N", NODE)
            self.procs["slurmd"] = self._pid_from(r / "run/slurmd.pid", "slurmd")
            self._wait_idle()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_idle(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline:
            proc = self._run("sinfo", "-h", "-N", "-o", "%T", check=False)
            state = proc.stdout.strip()
            if state == "idle":
                return
            time.sleep(0.5)
        raise ClusterUnavailable(f"node not idle after {timeout} s (state {state!r}){self.logs()}")

    @staticmethod
    def _alive(pid: int) -> bool:
        """True while the process exists and is not a zombie (an orphaned daemon that exited
        stays a zombie until init reaps it)."""
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return False
        return "\nState:\tZ" not in status

    def running(self) -> dict[str, bool]:
        return {name: self._alive(pid) for name, pid in self.procs.items()}

    def stop(self) -> None:
        """End every daemon this cluster started (jobs first, then slurmd, slurmctld, munged)."""
        if "slurmctld" in self.procs and self._alive(self.procs["slurmctld"]):
            self._run("scancel", "--user=root", check=False)
        for name in ("slurmd", "slurmctld", "munged"):
            pid = self.procs.get(name)
            if pid is None:
                continue
            for sig in (signal.SIGTERM, signal.SIGKILL):
                if not self._alive(pid):
                    break
                os.kill(pid, sig)
                deadline = time.monotonic() + 15
                while self._alive(pid) and time.monotonic() < deadline:
                    time.sleep(0.2)

    def logs(self) -> str:
        parts = []
        for f in sorted((self.root / "log").glob("*.log")):
            parts.append(f"\n--- {f.name} (tail)\n" + "\n".join(f.read_text().splitlines()[-30:]))
        return "".join(parts)
