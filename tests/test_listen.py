"""``hipseg listen`` against a real PACS (Orthanc, Debian's package) on loopback ports.

Orthanc forwards the demo's radiographs to the node (``POST /modalities/hipseg/store``); the
node segments them with the tiny model and sends SR, presentation state and SEG back; the test
finds them in Orthanc, checks them against the node's measurements.csv, kills the node with
SIGKILL mid-queue, restarts it and checks that every result arrives exactly once. A load test
sends 100 radiographs in a burst over 4 concurrent associations. Every process is stopped by
the test; every address is 127.0.0.1.
"""

from __future__ import annotations

import copy
import csv
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from io import BytesIO
from pathlib import Path

import pydicom
import pytest

from hipseg.clinical.spool import key
from hipseg.clinical.sr import read_sr
from tests import tool_missing
from tests.orthanc import AET, Orthanc, OrthancUnavailable, free_port

pytestmark = pytest.mark.slow
SR, PR, SEG, SC = (
    pydicom.uid.Comprehensive3DSRStorage,
    pydicom.uid.GrayscaleSoftcopyPresentationStateStorage,
    pydicom.uid.SegmentationStorage,
    pydicom.uid.SecondaryCaptureImageStorage,
)
NODE_AET = "HIPSEG"


def wait_for(predicate, timeout: float, what: str, step: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


class NodeProcess:
    """``hipseg listen`` as a child process."""

    def __init__(self, root: Path, model_dir: Path, port: int, pacs_port: int, env: dict,
                 send=("sr", "pr", "seg")):  # fmt: skip
        self.root, self.port = root, port
        self.options = {
            "ae_title": NODE_AET,
            "host": "127.0.0.1",
            "port": port,
            "calling_ae_titles": [AET, "TESTSCU", "LOAD1", "LOAD2", "LOAD3", "LOAD4"],
            "spool": str(root / "spool"),
            "send": list(send),
            "destination": {"ae_title": AET, "host": "127.0.0.1", "port": pacs_port},
            "retry_initial_s": 0.5,
            "retry_max_s": 2,
        }
        self.cmd = [
            sys.executable,
            "-m",
            "hipseg",
            "listen",
            "--model-dir",
            str(model_dir),
            "--options",
            json.dumps(self.options),
            "--threads",
            "1",
            "--segment",
            json.dumps({"device": "cpu", "mirroring": False}),
        ]
        self.env = dict(env, OMP_NUM_THREADS="1")
        self.proc = None
        self.starts = 0

    def start(self) -> NodeProcess:
        self.starts += 1
        self.log_path = self.root / f"node{self.starts}.log"
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            self.cmd, stdout=self.log, stderr=subprocess.STDOUT, env=self.env
        )
        wait_for(
            lambda: self.proc.poll() is not None or b"listening on" in self.output(),
            120,
            "the node to listen",
        )
        assert self.proc.poll() is None, self.output().decode(errors="replace")[-3000:]
        return self

    def output(self) -> bytes:
        return self.log_path.read_bytes() if self.log_path.exists() else b""

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        if getattr(self, "log", None):
            self.log.close()

    def events(self) -> list[dict]:
        path = self.root / "spool" / "log.jsonl"
        if not path.exists():
            return []
        out = []
        for line in path.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                pass
        return out

    def ledger(self) -> dict[str, dict]:
        return {
            p.stem: json.loads(p.read_text())
            for p in (self.root / "spool" / "ledger").glob("*.json")
        }


@pytest.fixture
def pacs_and_node(request, tmp_path, tiny_model, snakemake_env):
    """Orthanc and a (not yet started) node pointed at each other; both stopped after."""
    if os.environ.get("CI") != "true" and not Path("/usr/sbin/Orthanc").exists():
        tool_missing("Orthanc is not installed (apt-get install orthanc; `make test` does this)")
    node_port = free_port()
    pacs = Orthanc(tmp_path / "orthanc", {"hipseg": (NODE_AET, node_port)})
    try:
        pacs.start()
    except OrthancUnavailable as exc:
        tool_missing(str(exc))
    send = getattr(request, "param", ("sr", "pr", "seg"))
    node = NodeProcess(
        tmp_path, tiny_model["model_dir"], node_port, pacs.dicom_port, snakemake_env, send
    )
    try:
        yield pacs, node
    finally:
        node.stop()
        pacs.stop()
    assert node.proc is None or node.proc.poll() is not None
    assert pacs.proc.poll() is not None


def results_in(pacs: Orthanc) -> dict[str, list[pydicom.Dataset]]:
    """Every instance in Orthanc, by SOP class."""
    out: dict[str, list] = {}
    for instance in pacs.instances():
        ds = pydicom.dcmread(BytesIO(pacs.file(instance)))
        out.setdefault(str(ds.SOPClassUID), []).append(ds)
    return out


def _source_of(ds) -> str:
    if ds.SOPClassUID == SC:
        return ds.SourceImageSequence[0].ReferencedSOPInstanceUID
    if ds.SOPClassUID == SR:
        return read_sr(ds)["source_uids"][0]
    if ds.SOPClassUID == PR:
        return ds.ReferencedSeriesSequence[0].ReferencedImageSequence[0].ReferencedSOPInstanceUID
    return ds.ReferencedSeriesSequence[0].ReferencedInstanceSequence[0].ReferencedSOPInstanceUID


def scu_store(datasets, calling: str, port: int):
    """C-STORE from a test SCU; returns the statuses (None: association rejected)."""
    from pynetdicom import AE

    ae = AE(ae_title=calling)
    for uid in sorted({str(ds.SOPClassUID) for ds in datasets}):
        ae.add_requested_context(uid, pydicom.uid.ExplicitVRLittleEndian)
    assoc = ae.associate("127.0.0.1", port, ae_title=NODE_AET)
    if not assoc.is_established:
        return None
    try:
        return [int(assoc.send_c_store(ds).Status) for ds in datasets]
    finally:
        assoc.release()


@pytest.mark.parametrize("pacs_and_node", [("sr", "pr", "seg", "sc")], indirect=True)
def test_pacs_forwards_node_returns_results_exactly_once_across_a_kill(pacs_and_node, demo_data):
    pacs, node = pacs_and_node
    sources = sorted((demo_data.parent / "dicom").glob("*.dcm"))
    uids = {str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID) for p in sources}
    ids = [pacs.upload(p) for p in sources]
    node.start()
    pacs.post("/modalities/hipseg/store", {"Resources": ids, "Synchronous": True})
    # the radiographs are acknowledged only once spooled; kill the node after its first result
    wait_for(lambda: any(e["event"] == "sent" for e in node.events()), 120, "a first result")
    node.kill()
    sent_before = sum(e["event"] == "sent" for e in node.events())
    assert sent_before < len(sources), "the node finished before the kill: nothing to resume"
    # damaged and non-radiograph instances are acknowledged and logged; unknown AE: rejected
    node.start()
    mr = pydicom.dcmread(sources[0])
    mr.Modality, mr.SOPInstanceUID = "MR", pydicom.uid.generate_uid()
    mr.file_meta.MediaStorageSOPInstanceUID = mr.SOPInstanceUID
    broken = pydicom.dcmread(sources[1])
    broken.SOPInstanceUID = pydicom.uid.generate_uid()
    broken.file_meta.MediaStorageSOPInstanceUID = broken.SOPInstanceUID
    broken.PixelData = broken.PixelData[: len(broken.PixelData) // 3]
    again = pydicom.dcmread(sources[2])  # the same SOP instance a second time
    assert scu_store([mr, broken, again], "TESTSCU", node.port) == [0, 0, 0]
    assert scu_store([again], "INTRUDER", node.port) is None
    wait_for(lambda: len(node.ledger()) == len(sources) + 2, 180, "every instance to finish")
    ledger = node.ledger()
    assert ledger[key(mr.SOPInstanceUID)]["status"] == "ignored"
    assert "Modality MR" in ledger[key(mr.SOPInstanceUID)]["reason"]
    assert ledger[key(broken.SOPInstanceUID)]["status"] == "failed"
    events = node.events()
    assert any(e["event"] == "rejected" and e["calling"] == "INTRUDER" for e in events)
    assert any(e["event"] == "duplicate" and e["key"] == key(again.SOPInstanceUID) for e in events)
    sent = Counter(e["key"] for e in events if e["event"] == "sent")
    assert sorted(sent) == sorted(key(u) for u in uids) and set(sent.values()) == {1}
    assert node.proc.poll() is None  # still up after all of that
    found = results_in(pacs)
    for sop_class in (SR, PR, SEG, SC):
        by_source = Counter(_source_of(ds) for ds in found.get(sop_class, []))
        assert by_source == Counter(uids), sop_class  # one of each per radiograph
    for ds in found[SR]:
        src = read_sr(ds)
        k = key(src["source_uids"][0])
        with open(node.root / "spool" / "results" / k / "measurements.csv") as f:
            rows = [r for r in csv.DictReader(f) if r["value"]]
        want = {(r["side"], r["measurement"]): r["value"] for r in rows}
        got = {(m["side"], m["name"]): f"{m['value']:.3f}" for m in src["measurements"]}
        assert got == want
        assert ds.PatientID and ds.PatientName  # the patient is kept (clinical results)
        assert src["needs_review"] is ledger[k]["needs_review"]


def test_burst_of_100_from_4_associations(pacs_and_node, demo_data):
    pacs, node = pacs_and_node
    base = [pydicom.dcmread(p) for p in sorted((demo_data.parent / "dicom").glob("*.dcm"))]
    batches: list[list] = [[] for _ in range(4)]
    for i in range(100):
        ds = copy.deepcopy(base[i % len(base)])
        ds.SOPInstanceUID = pydicom.uid.generate_uid(entropy_srcs=["burst", str(i)])
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        batches[i % 4].append(ds)
    node.start()
    statuses: dict[int, list] = {}

    def send(i):
        statuses[i] = scu_store(batches[i] + batches[(i + 1) % 4][:2], f"LOAD{i + 1}", node.port)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert all(statuses[i] == [0] * 27 for i in range(4)), statuses
    events = node.events()
    received = Counter(e["key"] for e in events if e["event"] == "received")
    assert len(received) == 100 and set(received.values()) == {1}  # nothing lost or doubled
    assert sum(e["event"] == "duplicate" for e in events) == 8
    wait_for(lambda: len(node.ledger()) == 100, 300, "the burst to be processed and sent", 0.5)
    assert {v["status"] for v in node.ledger().values()} == {"sent"}
    events = node.events()
    assert Counter(Counter(e["key"] for e in events if e["event"] == "sent").values()) == {1: 100}
    srs = [i for i in pacs.instances()]
    assert len(srs) == 300  # SR, presentation state and SEG of each radiograph, once


def test_results_by_stow_rs(tmp_path, demo_data):
    """The sender's DICOMweb path: STOW-RS into Orthanc's DICOMweb plugin (no model needed)."""
    import numpy as np
    from PIL import Image

    from hipseg.clinical.listen import ListenOptions, Node
    from hipseg.clinical.quality import assess
    from hipseg.clinical.sr import build_sr
    from hipseg.measure.record import measure_label_map

    if os.environ.get("CI") != "true" and not Path("/usr/sbin/Orthanc").exists():
        tool_missing("Orthanc is not installed (apt-get install orthanc; `make test` does this)")
    pacs = Orthanc(tmp_path / "orthanc", {}, dicomweb=True)
    try:
        pacs.start()
    except OrthancUnavailable as exc:
        tool_missing(str(exc))
    try:
        ds = pydicom.dcmread(next((demo_data.parent / "dicom").glob("*.dcm")))
        lab = np.array(Image.open(next((demo_data.parent / "labels").glob("*.png"))))
        sp = tuple(float(v) for v in ds.ImagerPixelSpacing)[::-1]
        rec = measure_label_map(lab, sp)
        build_sr(ds, rec, assess(lab, rec, sp), lab.shape, "fold_all").save_as(tmp_path / "sr.dcm")
        url = f"{pacs.url}/dicom-web/studies"
        node = Node(ListenOptions.from_config({"spool": str(tmp_path / "spool"),
                                               "destination": {"stow_url": url}}),
                    tmp_path / "no-model")  # fmt: skip
        node.spool.publish("k", {"sr": tmp_path / "sr.dcm"}, {"sop_instance_uid": "1",
                                                              "received_mtime": 0})  # fmt: skip
        assert node.send(node.spool.path("outbox", "k")) is True
        stored = [pydicom.dcmread(BytesIO(pacs.file(i))) for i in pacs.instances()]
        assert [str(d.SOPClassUID) for d in stored] == [SR]
        assert read_sr(stored[0])["source_uids"] == [ds.SOPInstanceUID]
    finally:
        pacs.stop()
