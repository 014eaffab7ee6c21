"""A private Orthanc (Debian's ``orthanc`` package) for the tests: the PACS of ``hipseg listen``.

Orthanc runs in the foreground as a child of the test, from one temporary folder (its JSON
configuration, storage and index, log), on free ports; the tests reach it only at 127.0.0.1.
Orthanc 1.10 has no option to bind its DICOM port to one address, so it is locked down instead:
HTTP only from this machine (``RemoteAccessAllowed: false``), C-STORE only from the modalities
it knows, checked by AE title *and* host 127.0.0.1 (``DicomAlwaysAllowStore: false``,
``DicomCheckModalityHost: true``). :meth:`Orthanc.stop` ends it and waits for it.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

AET = "PACSTEST"
DICOMWEB_PLUGIN = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so"


class OrthancUnavailable(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def binary() -> str | None:
    return shutil.which("Orthanc") or shutil.which("Orthanc", path="/usr/sbin:/usr/bin")


class Orthanc:
    def __init__(self, root: Path, modalities: dict[str, tuple[str, int]], dicomweb: bool = False):
        """``modalities``: {name: (AE title, port)} of the peers at 127.0.0.1; ``dicomweb``:
        load Debian's DICOMweb plugin (``orthanc-dicomweb``) at ``/dicom-web/``."""
        self.root = Path(root)
        self.dicomweb = dicomweb
        self.modalities = modalities
        self.http_port, self.dicom_port = free_port(), free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def start(self, timeout: float = 60) -> Orthanc:
        exe = binary()
        if exe is None:
            raise OrthancUnavailable(
                "Orthanc is not installed (apt-get install orthanc; `make test` does this)"
            )
        (self.root / "storage").mkdir(parents=True, exist_ok=True)
        config = {
            "Name": "hipseg-test-pacs",
            "StorageDirectory": str(self.root / "storage"),
            "IndexDirectory": str(self.root / "storage"),
            "HttpPort": self.http_port,
            "DicomPort": self.dicom_port,
            "DicomAet": AET,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False,
            "DicomAlwaysAllowStore": False,
            "DicomCheckModalityHost": True,
            "DicomCheckCalledAet": True,
            "DicomModalities": {
                name: [aet, "127.0.0.1", port] for name, (aet, port) in self.modalities.items()
            },
            "Plugins": [],
            "SaveJobs": False,
            "StableAge": 1,
            "ConcurrentJobs": 2,
            "HttpThreadsCount": 4,
            "DicomScpTimeout": 30,
            "DicomScuTimeout": 30,
            "HttpTimeout": 60,
            "StorageCompression": False,
            "LimitFindResults": 0,
        }
        if self.dicomweb:
            if not Path(DICOMWEB_PLUGIN).exists():
                raise OrthancUnavailable(
                    f"{DICOMWEB_PLUGIN} is missing (apt-get install "
                    "orthanc-dicomweb; `make test` does this)"
                )
            config["Plugins"] = [DICOMWEB_PLUGIN]
            config["DicomWeb"] = {"Enable": True, "Root": "/dicom-web/", "EnableWado": False}
        (self.root / "orthanc.json").write_text(json.dumps(config, indent=1))
        self.log = open(self.root / "orthanc.log", "wb")
        self.proc = subprocess.Popen(
            [exe, str(self.root / "orthanc.json")],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            cwd=self.root,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise OrthancUnavailable(f"Orthanc exited ({self.proc.returncode}):\n{self.tail()}")
            try:
                self.get("/system")
                return self
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.2)
        self.stop()
        raise OrthancUnavailable(f"Orthanc did not answer within {timeout:.0f} s:\n{self.tail()}")

    def tail(self, n: int = 3000) -> str:
        try:
            return (self.root / "orthanc.log").read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if getattr(self, "log", None):
            self.log.close()

    # ------------------------------------------------------------------ REST
    def _request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        content_type: str = "application/json",
        timeout: float = 60,
    ):
        req = urllib.request.Request(
            self.url + path, data=body, method=method, headers={"Content-Type": content_type}
        )
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            data = resp.read()
        ctype = resp.headers.get("Content-Type", "")
        return json.loads(data) if "json" in ctype and data else data

    def get(self, path: str):
        return self._request("GET", path)

    def post(self, path: str, body, timeout: float = 120):
        if isinstance(body, (dict, list)):
            return self._request("POST", path, json.dumps(body).encode(), timeout=timeout)
        return self._request("POST", path, body, "application/dicom", timeout=timeout)

    def upload(self, path: Path) -> str:
        return self.post("/instances", Path(path).read_bytes())["ID"]

    def instances(self) -> list[str]:
        return self.get("/instances")

    def file(self, instance: str) -> bytes:
        return self._request("GET", f"/instances/{instance}/file")
