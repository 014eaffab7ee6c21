"""A headless Chromium driven over the DevTools protocol (CDP) on a pipe: no WebDriver, no
websocket library, no download.

Chromium started with ``--remote-debugging-pipe`` reads CDP commands from file descriptor 3 and
writes replies and events to descriptor 4, each message JSON ended by a NUL byte. The flags turn
off every background connection (this machine's network is closed) and use a fresh profile.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--mute-audio",
    "--remote-debugging-pipe",
]


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


class Browser:
    """One Chromium process with one page; use as a context manager."""

    def __init__(self, executable: str, timeout: float = 60):
        self.timeout = timeout
        self.events: list[dict] = []
        self._id = 0
        self._buf = b""
        self._profile = tempfile.mkdtemp(prefix="hipseg-chromium-")
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()

        def wire():  # in the child, before exec: the pipe ends become fds 3 and 4
            high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (to_chrome_r, from_chrome_w)]
            os.dup2(high[0], 3)
            os.dup2(high[1], 4)

        self._log = open(Path(self._profile).with_suffix(".log"), "w+b")  # noqa: SIM115

        self.proc = subprocess.Popen(
            [executable, *FLAGS, f"--user-data-dir={self._profile}", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._log,
            preexec_fn=wire,
            pass_fds=(3, 4),
        )  # fmt: skip
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self.session = None

    # -- protocol ---------------------------------------------------------------------------
    def _read_message(self, deadline: float) -> dict:
        while b"\0" not in self._buf:
            if time.monotonic() > deadline:
                raise TimeoutError("no answer from Chromium")
            chunk = os.read(self._from_chrome, 1 << 20)
            if not chunk:
                raise RuntimeError(f"Chromium closed the pipe:\n{self.log()[-3000:]}")
            self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        return json.loads(raw)

    def send(self, method: str, params: dict | None = None, session: bool = True) -> dict:
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        os.write(self._to_chrome, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str) -> dict:
        deadline = time.monotonic() + self.timeout
        for i, ev in enumerate(self.events):
            if ev.get("method") == method:
                return self.events.pop(i)
        while True:
            ev = self._read_message(deadline)
            if ev.get("method") == method:
                return ev
            self.events.append(ev)

    # -- page -----------------------------------------------------------------------------------
    def open(self, url: str, width: int = 1200, height: int = 900) -> None:
        """Attach to the page, fix its viewport (CSS pixels, scale 1) and load ``url``."""
        targets = self.send("Target.getTargets", session=False)["targetInfos"]
        page = next(t for t in targets if t["type"] == "page")
        attached = self.send(
            "Target.attachToTarget", {"targetId": page["targetId"], "flatten": True}, False
        )
        self.session = attached["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.send(f"{domain}.enable")
        self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )
        self.send("Page.navigate", {"url": url})
        self.wait_for("Page.loadEventFired")

    def evaluate(self, expression: str):
        res = self.send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
        )
        if "exceptionDetails" in res:
            raise RuntimeError(f"page script failed: {res['exceptionDetails']}")
        return res["result"].get("value")

    def screenshot(self, full_page: bool) -> bytes:
        params: dict = {"format": "png"}
        if full_page:
            size = self.send("Page.getLayoutMetrics")["cssContentSize"]
            params["captureBeyondViewport"] = True
            params["clip"] = {"x": 0, "y": 0, "width": size["width"], "height": size["height"],
                              "scale": 1}  # fmt: skip
        return base64.b64decode(self.send("Page.captureScreenshot", params)["data"])

    def problems(self) -> list[str]:
        """Console errors, uncaught exceptions and error log entries seen so far."""
        out = []
        for ev in self.events:
            m, p = ev.get("method"), ev.get("params", {})
            if m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                out.append("console: " + " ".join(str(a.get("value")) for a in p.get("args", [])))
            elif m == "Runtime.exceptionThrown":
                out.append("exception: " + json.dumps(p.get("exceptionDetails", {}))[:500])
            elif m == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
                entry = p["entry"]
                out.append(
                    f"log ({entry.get('source')}): {entry.get('text')} {entry.get('url', '')}"
                )
        return out

    def log(self) -> str:
        """What Chromium wrote to stderr so far."""
        self._log.flush()
        return Path(self._log.name).read_text(errors="replace")

    # -- lifetime -------------------------------------------------------------------------------
    def close(self) -> None:
        try:
            if self.proc.poll() is None:
                try:
                    self.send("Browser.close", session=False)
                except (RuntimeError, TimeoutError, OSError):
                    pass
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(timeout=10)
        finally:
            for fd in (self._to_chrome, self._from_chrome):
                try:
                    os.close(fd)
                except OSError:
                    pass
            self._log.close()
            Path(self._log.name).unlink(missing_ok=True)
            shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def file_url(path: Path) -> str:
    return Path(path).resolve().as_uri()


# What the browser test asks the page (every <img> decoded, every in-page anchor's target).
IMAGES_JS = """
Promise.all(Array.from(document.images).map(img =>
  img.decode().then(() => null, () => null).then(() => ({
    alt: img.alt, complete: img.complete, width: img.naturalWidth, height: img.naturalHeight
  }))))
"""
ANCHORS_JS = """
Array.from(document.querySelectorAll('a[href^="#"]')).map(a => {
  const id = decodeURIComponent(a.getAttribute('href').slice(1));
  return {href: a.getAttribute('href'), found: id !== '' && document.getElementById(id) !== null};
})
"""


def inspect_page(executable: str, path: Path) -> dict:
    """Load a page and return its images, in-page anchors, problems and two screenshots (the
    first viewport and the full page)."""
    with Browser(executable) as b:
        b.open(file_url(path))
        result = {
            "images": b.evaluate(IMAGES_JS),
            "anchors": b.evaluate(ANCHORS_JS),
            "top": b.screenshot(full_page=False),
            "full": b.screenshot(full_page=True),
        }
        result["problems"] = b.problems()
    return result
