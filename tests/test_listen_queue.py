"""The node's queue and sender without a model or a PACS: durable spooling, duplicates, what is
ignored and what the gate refuses, the worker process's time budget and death, a restart that
resumes, a destination that is down and retried with backoff (loopback only)."""

from __future__ import annotations

import copy
import json
import threading
import time

import numpy as np
import pydicom
import pytest
from PIL import Image

from hipseg.clinical.quality import assess
from hipseg.clinical.sr import build_sr, read_sr
from hipseg.errors import HipsegError
from hipseg.gate import GateOptions
from hipseg.measure.record import measure_label_map
from hipseg.node.listen import ListenOptions, Node, ignored
from hipseg.node.spool import Spool, key
from hipseg.node.worker import Stopped, Worker
from tests.orthanc import free_port

FAKE = "tests.fakeworker:FakeSegmenter"


@pytest.fixture
def sr_file(demo_data, tmp_path):
    """An SR of the first demo radiograph (ground-truth labels) as a file to send."""
    ds = pydicom.dcmread(next((demo_data.parent / "dicom").glob("*.dcm")))
    lab = np.array(Image.open(next((demo_data.parent / "labels").glob("*.png"))))
    sp = tuple(float(v) for v in ds.ImagerPixelSpacing)[::-1]
    rec = measure_label_map(lab, sp)
    sr = build_sr(ds, rec, assess(lab, rec, sp), lab.shape, "fold_all")
    sr.save_as(tmp_path / "sr.dcm")
    return ds, tmp_path / "sr.dcm"


def test_spool_is_durable_and_knows_duplicates(tmp_path):
    spool = Spool(tmp_path / "spool")
    k, new = spool.receive("1.2.3", [b"a", b"b"])
    assert new and (tmp_path / "spool" / "incoming" / f"{k}.dcm").read_bytes() == b"ab"
    assert spool.receive("1.2.3", [b"other"]) == (k, False)
    assert not list((tmp_path / "spool" / "tmp").iterdir())  # nothing half-written left
    spool.finish(k, {"status": "ignored"})
    assert spool.receive("1.2.3", [b"again"]) == (k, False)  # finished instances stay known
    assert key("1.2.3\x00") == key("1.2.3") == k


def _variant(ds: pydicom.Dataset, **values) -> pydicom.Dataset:
    ds = copy.deepcopy(ds)
    for keyword, value in values.items():
        if value is None:
            delattr(ds, keyword)
        else:
            setattr(ds, keyword, value)
    ds.SOPInstanceUID = pydicom.uid.generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    return ds


def test_what_is_ignored(demo_data, sr_file):
    """No image (SR, KO, presentation state, no pixel data) and hipseg's own results coming
    back are ignored; a film with a wrong header is not: the gate refuses it."""
    good, sr_path = sr_file
    assert ignored(good) is None
    own_sr = pydicom.dcmread(sr_path)
    assert "hipseg's own results (Manufacturer hipseg)" in ignored(own_sr)
    other = _variant(own_sr, Manufacturer="OTHER")
    assert "hipseg's own results (SOP class 1.2.840.10008.5.1.4.1.1.88.34)" in ignored(other)
    other.SOPClassUID = pydicom.uid.KeyObjectSelectionDocumentStorage
    assert "not an image: a structured report or key object selection" in ignored(other)
    assert "no PixelData" in ignored(_variant(good, PixelData=None))
    sc = _variant(good, Manufacturer="hipseg")  # e.g. hipseg's Secondary Capture
    assert "Manufacturer hipseg" in ignored(sc)
    chest = _variant(good, BodyPartExamined="CHEST")
    assert ignored(chest) is None  # an image: for the gate


def _spooled(node: Node, datasets: list[pydicom.Dataset]) -> list[str]:
    """Put datasets into the node's spool as the receiver does (in this order); their keys."""
    from io import BytesIO

    keys = []
    for ds in datasets:
        buf = BytesIO()
        ds.save_as(buf, enforce_file_format=True)
        keys.append(node.spool.receive(str(ds.SOPInstanceUID), [buf.getvalue()])[0])
        time.sleep(0.01)  # distinct modification times: processed in this order
    return keys


def _ledger(node: Node, keys: list[str]) -> dict[str, dict]:
    paths = {k: node.spool.path("ledger", k, ".json") for k in keys}
    return {k: json.loads(p.read_text()) for k, p in paths.items() if p.exists()}


@pytest.mark.parametrize("report", [False, True], ids=["nothing", "report"])
def test_triage_without_the_worker(demo_data, sr_file, tmp_path, report):
    """Ignored and header-refused instances are finished without the worker process: the
    ignored ones never answered, the refused ones logged with the reasons and, with
    ``gate.not_assessable: report``, a not-assessed SR and presentation state in the outbox."""
    good, sr_path = sr_file
    gate = GateOptions.from_config({"not_assessable": "report" if report else "nothing"})
    node = Node(ListenOptions.from_config({"spool": str(tmp_path / "spool")}), "no-model",
                gate=gate, segmenter=FAKE)  # fmt: skip
    chest, own = _variant(good, BodyPartExamined="CHEST"), pydicom.dcmread(sr_path)
    k_chest, k_own = _spooled(node, [chest, own])
    for path in node.spool.incoming():
        node.process(path)
    assert not node.worker_process.alive() and not node.spool.incoming()
    ledger = _ledger(node, [k_own, k_chest])
    assert ledger[k_own]["status"] == "ignored"
    event = next(e for e in node.spool.events() if e["event"] == "not_assessable")
    assert event["check"] == "header" and "BodyPartExamined is CHEST" in event["reasons"][0]
    if not report:
        assert ledger[k_chest]["status"] == "not_assessable" and not node.spool.outbox()
        return
    (folder,) = node.spool.outbox()  # the report waits to be sent; sent, it is not_assessable
    assert sorted(p.name for p in folder.glob("*.dcm")) == ["pr.dcm", "sr.dcm"]
    sr = read_sr(folder / "sr.dcm")
    assert sr["not_assessed"] is True and sr["measurements"] == []
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["status"] == "not_assessable" and meta["check"] == "header"
    for name in ("sr.dcm", "pr.dcm"):  # coming back from the PACS, they are not answered
        assert "hipseg's own results" in ignored(pydicom.dcmread(folder / name))


def test_the_worker_process_budget_death_and_restart(demo_data, sr_file, tmp_path):
    """A radiograph over the time budget and one that kills the worker (SIGKILL, as the OOM
    killer) fail alone with the reason; the worker is restarted and the next ones go through;
    nothing else leaves the spool unfinished."""
    good = sr_file[0]
    films = [_variant(good) for _ in range(5)]  # ok, slow, ok, crash, ok
    # (a budget far above what the stand-in takes for a film, also on a loaded 2-core machine)
    options = ListenOptions.from_config({"spool": str(tmp_path / "spool"), "timeout_s": 8})
    node = Node(options, "no-model", gate=GateOptions.from_config({"content": False}),
                segmenter=FAKE)  # fmt: skip
    node.worker_process.config.update(slow=[str(films[1].SOPInstanceUID)],
                                      crash=[str(films[3].SOPInstanceUID)])  # fmt: skip
    keys = _spooled(node, films)
    node.start_worker()
    t = threading.Thread(target=node.worker, daemon=True)
    t.start()
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and node.spool.incoming():
            time.sleep(0.1)
    finally:
        node.stop.set()
        t.join(timeout=30)
        node.worker_process.close()
    assert not node.spool.incoming()
    ledger = _ledger(node, keys)
    assert ledger[keys[1]] == {"status": "failed", "sop_instance_uid": str(films[1].SOPInstanceUID),
                               "error": "exceeded listen.timeout_s (8 s)"}  # fmt: skip
    assert ledger[keys[3]]["error"].startswith("the worker process died (exit code -9: killed by "
                                               "SIGKILL")  # fmt: skip
    assert [p.name for p in node.spool.outbox()] == sorted(keys[i] for i in (0, 2, 4))
    events = node.spool.events()
    starts = [e for e in events if e["event"] == "worker_started"]
    assert [e["restart"] for e in starts] == [False, True, True]
    assert len({e["pid"] for e in starts}) == 3
    order = [e["key"] for e in events if e["event"] in ("processed", "failed")]
    assert order == keys  # in the order received, none skipped


def test_the_worker_process_says_why_it_cannot_start_and_stops_with_the_node(tmp_path, sr_file):
    stop = threading.Event()
    with pytest.raises(HipsegError, match="cannot load the model: no such model"):
        Worker({"fail_to_load": "no such model"}, stop, FAKE).start()
    slow = _variant(sr_file[0])
    slow.save_as(tmp_path / "slow.dcm", enforce_file_format=True)
    worker = Worker({"slow": [str(slow.SOPInstanceUID)]}, stop, FAKE)
    worker.start()
    threading.Timer(0.5, stop.set).start()
    t0 = time.monotonic()
    with pytest.raises(Stopped):  # the node stops: the radiograph stays in its spool
        worker.segment(tmp_path / "slow.dcm", "k", 600)
    assert time.monotonic() - t0 < 10 and not worker.alive()


def test_restart_resumes_and_sends_only_what_is_unsent(tmp_path, sr_file):
    source, path = sr_file
    spool = Spool(tmp_path / "spool")
    spool.receive(str(source.SOPInstanceUID), [path.read_bytes()])
    k = key("9.9.9")
    spool.publish(k, {"sr": path, "pr": path}, {"sop_instance_uid": "9.9.9", "received_mtime": 0})
    (tmp_path / "spool" / "outbox" / k / "pr.dcm.sent").touch()  # stored before a kill
    (tmp_path / "spool" / "outbox" / ".x.partial").mkdir()  # a kill while publishing
    again = Spool(tmp_path / "spool")
    assert len(again.incoming()) == 1 and [p.name for p in again.outbox()] == [k]
    assert not (tmp_path / "spool" / "outbox" / ".x.partial").exists()


@pytest.mark.parametrize("logged", [False, True])
def test_a_kill_after_the_last_store_is_finished_with_one_sent_event(tmp_path, sr_file, logged):
    """Killed after every file was stored (all marked sent), before (False) or after (True) the
    ``sent`` event was logged, but before the ledger: the restart writes the ledger, logs the
    event exactly once and contacts no destination (its port has no listener)."""
    _, path = sr_file
    options = ListenOptions.from_config({
        "spool": str(tmp_path / "spool"),
        "destination": {"ae_title": "DEST", "host": "127.0.0.1", "port": free_port()}})  # fmt: skip
    node = Node(options, tmp_path / "no-model")
    k = key("6.6.6")
    folder = node.spool.publish(k, {"sr": path, "pr": path},
                                {"sop_instance_uid": "6.6.6", "received_mtime": 0})  # fmt: skip
    for name in ("sr.dcm", "pr.dcm"):
        (folder / f"{name}.sent").touch()
    if logged:
        node.spool.log("sent", key=k, sop_instance_uid="6.6.6", files=["pr.dcm", "sr.dcm"])
    again = Node(options, tmp_path / "no-model")  # the restart
    assert again.send(folder) is True
    sent = [e for e in again.spool.events() if e["event"] == "sent"]
    assert [e["key"] for e in sent] == [k]
    assert not [e for e in again.spool.events() if e["event"] == "send_failed"]
    ledger = json.loads(again.spool.path("ledger", k, ".json").read_text())
    assert ledger["status"] == "sent" and ledger["sent"] == ["pr.dcm", "sr.dcm"]
    assert not folder.exists()


class Receiver:
    """A storage SCP of the test (the destination), on 127.0.0.1."""

    def __init__(self, port: int):
        from pynetdicom import AE, evt
        from pynetdicom.presentation import AllStoragePresentationContexts

        self.stored: list[str] = []
        ae = AE(ae_title="DEST")
        ae.supported_contexts = AllStoragePresentationContexts

        def store(event):
            self.stored.append(str(event.dataset.SOPInstanceUID))
            return 0x0000

        self.server = ae.start_server(("127.0.0.1", port), block=False,
                                      evt_handlers=[(evt.EVT_C_STORE, store)])  # fmt: skip

    def stop(self):
        self.server.shutdown()


def test_destination_down_is_retried_with_backoff(tmp_path, sr_file):
    source, path = sr_file
    port = free_port()
    options = ListenOptions.from_config({
        "spool": str(tmp_path / "spool"), "retry_initial_s": 0.2, "retry_max_s": 0.5,
        "destination": {"ae_title": "DEST", "host": "127.0.0.1", "port": port}})  # fmt: skip
    node = Node(options, tmp_path / "no-model")
    k = key("7.7.7")
    node.spool.publish(k, {"sr": path}, {"sop_instance_uid": "7.7.7", "received_mtime": 0})
    folder = node.spool.path("outbox", k)
    waits = []
    for _ in range(3):
        assert node.send(folder) is False
        waits.append(node.retry_at[k][1])
    assert waits == [0.2, 0.4, 0.5]  # doubling, capped
    failures = [e for e in node.spool.events() if e["event"] == "send_failed"]
    assert len(failures) == 3 and "cannot associate" in failures[0]["error"]
    receiver = Receiver(port)
    try:
        node.stop.clear()
        import threading

        t = threading.Thread(target=node.sender, daemon=True)
        t.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not (node.spool.path("ledger", k, ".json")).exists():
            time.sleep(0.05)
        node.stop.set()
        t.join(timeout=10)
    finally:
        receiver.stop()
    ledger = json.loads(node.spool.path("ledger", k, ".json").read_text())
    assert ledger["status"] == "sent" and ledger["sent"] == ["sr.dcm"]
    assert receiver.stored == [str(pydicom.dcmread(path).SOPInstanceUID)]  # once
    assert not folder.exists()


def _associate(port: int, calling: str, called: str):
    """An association from a pynetdicom SCU (Verification); the A-ASSOCIATE answer's result,
    source and reason (None when accepted)."""
    from pynetdicom import AE, evt
    from pynetdicom.sop_class import Verification

    answers = []

    def received(event):
        p = event.primitive
        if getattr(p, "result", None) is not None:
            answers.append((p.result, p.result_source, p.diagnostic))

    ae = AE(ae_title=calling)
    ae.add_requested_context(Verification)
    ae.acse_timeout = ae.network_timeout = 10
    assoc = ae.associate("127.0.0.1", port, ae_title=called,
                         evt_handlers=[(evt.EVT_ACSE_RECV, received)])  # fmt: skip
    try:
        if assoc.is_established:
            assert assoc.send_c_echo().Status == 0x0000
            return None
        assert assoc.is_rejected
        return answers[-1]
    finally:
        if assoc.is_established:
            assoc.release()


def test_only_the_nodes_called_ae_title_and_known_callers_are_accepted(tmp_path):
    """A-ASSOCIATE-RJ (rejected permanent, by the service user) for a Called AE Title that is not
    the node's (reason 7) and for an unknown calling AE title (reason 3); both logged."""
    port = free_port()
    options = ListenOptions.from_config({"ae_title": "HIPSEG", "port": port,
                                         "calling_ae_titles": ["MODALITY"],
                                         "spool": str(tmp_path / "spool")})  # fmt: skip
    node = Node(options, tmp_path / "no-model")
    node.start_server()
    try:
        assert _associate(port, "MODALITY", "OTHERNODE") == (1, 1, 7)
        assert _associate(port, "MODALITY", "hipseg") == (1, 1, 7)  # AE titles are case-exact
        assert _associate(port, "STRANGER", "HIPSEG") == (1, 1, 3)
        assert _associate(port, "MODALITY", "HIPSEG") is None  # accepted; C-ECHO succeeds
    finally:
        node.server.shutdown()
    rejected = [e for e in node.spool.events() if e["event"] == "rejected"]
    assert [(e["calling"], e["called"]) for e in rejected] == [
        ("MODALITY", "OTHERNODE"), ("MODALITY", "hipseg"), ("STRANGER", "HIPSEG")
    ]  # fmt: skip


def test_nothing_the_node_uses_imports_the_node():
    """hipseg.node imports segment, gate and clinical; none of the package's other modules
    imports hipseg.node (except the command line, which starts it): no import circle."""
    import ast
    from pathlib import Path

    import hipseg

    root = Path(hipseg.__file__).parent
    offenders = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if rel.parts[0] == "node" or rel == Path("cli.py"):
            continue
        package = ["hipseg", *rel.parent.parts]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                base = package[: len(package) - node.level + 1] if node.level else []
                names = [".".join([*base, *(node.module or "").split(".")]).strip(".")]
                names += [f"{names[0]}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            if any(n == "hipseg.node" or n.startswith("hipseg.node.") for n in names):
                offenders.append(str(rel))
    assert offenders == []


def test_the_node_reads_the_workflows_gate_and_the_flags_over_it(tmp_path):
    """``hipseg listen --config`` takes the config's gate section (as hipseg segment and the
    intake use it); ``--gate`` JSON and the listen flags override single keys."""
    from hipseg.node.listen import settings

    config = tmp_path / "site.yaml"
    config.write_text("listen: {timeout_s: 60, spool: s}\nsegment: {threads: 4, device: cpu}\n"
                      "gate: {body_parts: [BECKEN], not_assessable: report}\n")  # fmt: skip
    options, segment, _, gate = settings(str(config), gate='{"content": false}',
                                         flags={"timeout_s": 5})  # fmt: skip
    assert options.timeout_s == 5 and options.spool == "s" and segment.device == "cpu"
    assert gate.body_parts == ("BECKEN",) and gate.not_assessable == "report"
    assert gate.content is False and gate.views == GateOptions().views
    with pytest.raises(HipsegError, match="gate"):
        settings(str(config), gate='{"not_assessable": "shout"}')


def test_a_node_that_cannot_serve_says_why_and_leaves_no_worker(tmp_path):
    """No calling AE title (pynetdicom would take none for "anyone"): a named error before the
    model loads; a port in use: a named error, and the worker process started is ended."""
    import socket

    spool = str(tmp_path / "spool")
    node = Node(ListenOptions.from_config({"spool": spool}), "no-model", segmenter=FAKE)
    with pytest.raises(HipsegError, match="listen.calling_ae_titles is empty"):
        node.run()
    assert node.worker_process.proc is None  # never started
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        options = {"spool": spool, "calling_ae_titles": ["PACS"], "port": taken.getsockname()[1]}
        node = Node(ListenOptions.from_config(options), "no-model", segmenter=FAKE)
        with pytest.raises(HipsegError, match="cannot listen on 127.0.0.1"):
            node.run()
    assert not node.worker_process.alive()
