"""``hipseg listen`` against a real PACS (Orthanc, Debian's package) on loopback ports.

Orthanc forwards the demo's radiographs to the node (``POST /modalities/hipseg/store``); the
node segments them with the tiny model and sends SR, presentation state and SEG back; the test
finds them in Orthanc, checks them against the node's measurements.csv, kills the node with
SIGKILL mid-queue, restarts it and checks that every result arrives exactly once. A load test
sends 100 radiographs in a burst over 4 concurrent associations (dcmtk's storescu); a mixed
burst holds a film the gate refuses, a damaged one and one over ``listen.timeout_s`` among good
ones. The node runs with the gate's content check off (``tests.NO_CONTENT_CHECK``: the tiny
model's labels are no anatomy); one test shows what the content check does with them. Every
process is stopped by the test; every address is 127.0.0.1.
"""

from __future__ import annotations

import copy
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from io import BytesIO
from pathlib import Path

import pydicom
import pytest

from hipseg.clinical.sr import read_sr
from hipseg.node.spool import key
from tests import NO_CONTENT_CHECK, tool_missing
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
    """``hipseg listen`` as a child process (``options``, ``gate`` and ``env`` may be changed
    before :meth:`start`)."""

    def __init__(self, root: Path, model_dir: Path, port: int, pacs_port: int, env: dict,
                 send=("sr", "pr", "seg")):  # fmt: skip
        self.root, self.port, self.model_dir = root, port, model_dir
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
        self.gate = dict(NO_CONTENT_CHECK)  # the tiny model's labels are no anatomy
        self.env = dict(env, OMP_NUM_THREADS="1")
        self.proc = None
        self.starts = 0

    @property
    def cmd(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "hipseg",
            "listen",
            "--model-dir",
            str(self.model_dir),
            "--options",
            json.dumps(self.options),
            "--gate",
            json.dumps(self.gate),
            "--threads",
            "1",
            "--segment",
            json.dumps({"device": "cpu", "mirroring": False}),
        ]

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
    # damaged and not assessable instances are acknowledged and logged; unknown AE: rejected
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
    assert ledger[key(mr.SOPInstanceUID)]["status"] == "not_assessable"  # the header gate
    assert any("Modality is MR" in r for r in ledger[key(mr.SOPInstanceUID)]["reasons"])
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


def storescu(files: list[Path], calling: str, port: int) -> subprocess.Popen:
    """dcmtk's storescu (a PACS's sender) sending ``files`` in one association to the node."""
    if shutil.which("storescu") is None:
        tool_missing("dcmtk's storescu is not installed (make test installs dcmtk)")
    cmd = ["storescu", "-v", "-aet", calling, "-aec", NODE_AET, "127.0.0.1", str(port),
           *map(str, files)]  # fmt: skip
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_burst_of_100_from_4_associations(pacs_and_node, demo_data, tmp_path):
    """100 radiographs from 4 concurrent associations of dcmtk's storescu (27 each: their own
    25 and 2 of another's, sent again): every C-STORE answered with success, each radiograph
    spooled once, processed once, its results sent once. (storescu, not pynetdicom's SCU: on a
    loaded machine pynetdicom 3.0's SCU sometimes drops a C-STORE response as "unexpected" and
    times out: `send_c_store` pauses the association's thread by waiting for a flag that the
    thread still shows for a moment after it resumed, so that thread may take the response.)"""
    pacs, node = pacs_and_node
    base = [pydicom.dcmread(p) for p in sorted((demo_data.parent / "dicom").glob("*.dcm"))]
    batches: list[list[Path]] = [[] for _ in range(4)]
    for i in range(100):
        ds = copy.deepcopy(base[i % len(base)])
        ds.SOPInstanceUID = pydicom.uid.generate_uid(entropy_srcs=["burst", str(i)])
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        path = tmp_path / f"burst{i:03d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        batches[i % 4].append(path)
    node.start()
    senders = [storescu(batches[i] + batches[(i + 1) % 4][:2], f"LOAD{i + 1}", node.port)
               for i in range(4)]  # fmt: skip
    try:
        outputs = [sender.communicate(timeout=300)[0] for sender in senders]
    finally:  # none left running when one is too slow
        for sender in senders:
            if sender.poll() is None:
                sender.kill()
    for sender, out in zip(senders, outputs, strict=True):
        assert sender.returncode == 0, out[-3000:]
        assert out.count("Received Store Response (Status: 0x0000 - Success)") == 27, out[-3000:]
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


SLOW_WORKER = Path(__file__).parent / "data" / "slow_worker"  # sitecustomize: one UID sleeps
TIMEOUT_S = 10  # normal demo radiographs take 0.3-1.7 s here (load average 4-5 on 2 cores)


def _copy(ds: pydicom.Dataset, tag: str, **values) -> pydicom.Dataset:
    ds = copy.deepcopy(ds)
    for keyword, value in values.items():
        setattr(ds, keyword, value)
    ds.SOPInstanceUID = pydicom.uid.generate_uid(entropy_srcs=["mixed", tag])
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    return ds


def test_mixed_burst_refused_failed_and_timed_out_ones_alone(pacs_and_node, demo_data):
    """Good radiographs, one with a wrong body part, one with truncated pixel data and one that
    exceeds listen.timeout_s (made slow by tests/data/slow_worker, for its UID only), in one
    burst: the node stays up, each good one's results arrive at Orthanc exactly once, the wrong
    body part is not assessable (its not-assessed SR and presentation state go back: gate
    not_assessable report), the damaged one fails, the slow one fails with the timeout's reason,
    the worker restarts and the radiographs after it are processed. hipseg's own results routed
    back to the node by Orthanc are ignored (no loop)."""
    pacs, node = pacs_and_node
    base = [pydicom.dcmread(p) for p in sorted((demo_data.parent / "dicom").glob("*.dcm"))]
    good = [_copy(base[i], f"good{i}") for i in range(5)]
    chest = _copy(base[5], "chest", BodyPartExamined="CHEST")
    broken = _copy(base[6], "broken")
    broken.PixelData = broken.PixelData[: len(broken.PixelData) // 3]
    slow = _copy(base[7], "slow")
    burst = [good[0], chest, good[1], broken, slow, good[2], good[3], good[4]]
    node.options["timeout_s"] = TIMEOUT_S
    node.gate = {**NO_CONTENT_CHECK, "not_assessable": "report"}
    node.env["PYTHONPATH"] = os.pathsep.join([str(SLOW_WORKER), node.env["PYTHONPATH"]])
    node.env["HIPSEG_TEST_SLOW_UID"] = str(slow.SOPInstanceUID)
    node.start()
    t0 = time.monotonic()
    assert scu_store(burst, "TESTSCU", node.port) == [0] * len(burst)
    wait_for(lambda: len(node.ledger()) == len(burst), 180, "the burst to finish", 0.5)
    took = time.monotonic() - t0
    ledger, events = node.ledger(), node.events()
    k = {name: key(ds.SOPInstanceUID) for name, ds in
         [("chest", chest), ("broken", broken), ("slow", slow)]}  # fmt: skip
    assert [ledger[key(ds.SOPInstanceUID)]["status"] for ds in good] == ["sent"] * 5
    assert ledger[k["chest"]]["status"] == "not_assessable"
    assert ledger[k["chest"]]["check"] == "header" and ledger[k["chest"]]["sent"] == [
        "pr.dcm", "sr.dcm"]  # fmt: skip
    assert any("BodyPartExamined is CHEST" in r for r in ledger[k["chest"]]["reasons"])
    assert ledger[k["broken"]]["status"] == "failed" and ledger[k["broken"]]["error"]
    assert ledger[k["slow"]] == {"status": "failed", "sop_instance_uid": slow.SOPInstanceUID,
                                 "error": f"exceeded listen.timeout_s ({TIMEOUT_S} s)"}  # fmt: skip
    logged = {e["key"]: e for e in events if e["event"] in ("failed", "not_assessable")}
    assert set(logged) == set(k.values()) and "BodyPartExamined is CHEST" in str(logged[k["chest"]])
    done = [e["key"] for e in events if e["event"] in ("processed", "failed", "not_assessable")]
    assert done == [key(ds.SOPInstanceUID) for ds in burst]  # in order, the ones after the slow
    starts = [e for e in events if e["event"] == "worker_started"]
    assert [e["restart"] for e in starts] == [False, True]
    assert node.proc.poll() is None
    found = results_in(pacs)
    for sop_class in (SR, PR, SEG):
        by_source = Counter(_source_of(ds) for ds in found.get(sop_class, []))
        want = Counter(str(ds.SOPInstanceUID) for ds in good)
        if sop_class in (SR, PR):
            want[str(chest.SOPInstanceUID)] = 1
        assert by_source == want, sop_class  # exactly once; nothing for the failed ones
    (report,) = [r for r in map(read_sr, found[SR]) if r["not_assessed"]]
    assert report["measurements"] == [] and report["source_uids"] == [chest.SOPInstanceUID]
    # Orthanc routes hipseg's results back to the node: ignored, never answered (no loop)
    before = pacs.instances()
    back = before[:3]  # every instance in Orthanc is one of hipseg's results
    pacs.post("/modalities/hipseg/store", {"Resources": back, "Synchronous": True})
    wait_for(lambda: len(node.ledger()) == len(burst) + 3, 60, "the results sent back")
    ignored = [v for v in node.ledger().values() if v["status"] == "ignored"]
    assert len(ignored) == 3 and all("hipseg's own results" in v["reason"] for v in ignored)
    time.sleep(1.0)
    assert len(pacs.instances()) == len(before) and node.proc.poll() is None
    processed = [e["seconds"] for e in events if e["event"] == "processed"]
    print(
        f"\nmixed burst of {len(burst)}: finished in {took:.1f} s; per good radiograph "
        f"{min(processed):.2f}-{max(processed):.2f} s (median "
        f"{sorted(processed)[len(processed) // 2]:.2f} s); worker start "
        f"{starts[0]['seconds']:.1f} s, restart after the timeout {starts[1]['seconds']:.1f} s"
    )


def test_content_check_on_makes_the_tiny_models_film_not_assessable(tiny_model, demo_data,
                                                                     tmp_path):  # fmt: skip
    """With the gate's content check on (the default), the tiny model's labels (no anatomy)
    make a good film not assessable in the node's segmenter: no measurement is written or
    queued; with not_assessable: report only the not-assessed SR and presentation state wait
    in the outbox, else nothing."""
    from hipseg.gate import GateOptions
    from hipseg.node.listen import ListenOptions, Node
    from hipseg.node.worker import Segmenter

    path = sorted((demo_data.parent / "dicom").glob("*.dcm"))[0]
    results = tmp_path / "spool" / "results"
    segmenter = Segmenter(str(tiny_model["model_dir"]), {"device": "cpu", "mirroring": False},
                          {}, {}, {}, 1, ["sr", "pr", "seg"], str(results))  # fmt: skip
    for mode in ("nothing", "report"):
        spool = tmp_path / f"spool-{mode}"
        node = Node(ListenOptions.from_config({"spool": str(spool)}), tiny_model["model_dir"],
                    gate=GateOptions.from_config({"not_assessable": mode}))  # fmt: skip
        segmenter.results = spool / "results"
        node.worker_process.segment = lambda p, k, timeout: segmenter.outcome(str(p), k)
        node.spool.receive(str(pydicom.dcmread(path).SOPInstanceUID), [path.read_bytes()])
        (spooled,) = node.spool.incoming()
        node.process(spooled)
        (event,) = [e for e in node.spool.events() if e["event"] == "not_assessable"]
        assert event["check"] == "content" and event["reasons"]
        assert not list((spool / "results").glob("*/seg.dcm"))  # nothing measured written
        assert not list((spool / "results").glob("*/measurements.*"))
        if mode == "nothing":
            assert not node.spool.outbox()
            assert json.loads(next((spool / "ledger").glob("*.json")).read_text())[
                "status"] == "not_assessable"  # fmt: skip
            continue
        (folder,) = node.spool.outbox()
        assert sorted(p.name for p in folder.glob("*.dcm")) == ["pr.dcm", "sr.dcm"]
        sr = read_sr(folder / "sr.dcm")
        assert sr["not_assessed"] is True and sr["measurements"] == []


def test_results_by_stow_rs(tmp_path, demo_data):
    """The sender's DICOMweb path: STOW-RS into Orthanc's DICOMweb plugin (no model needed)."""
    import numpy as np
    from PIL import Image

    from hipseg.clinical.quality import assess
    from hipseg.clinical.sr import build_sr
    from hipseg.measure.record import measure_label_map
    from hipseg.node.listen import ListenOptions, Node

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
