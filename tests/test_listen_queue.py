"""The node's queue and sender without a model or a PACS: durable spooling, duplicates, the filter,
a restart that resumes, a destination that is down and retried with backoff (loopback only)."""

from __future__ import annotations

import json
import time

import numpy as np
import pydicom
import pytest
from PIL import Image

from hipseg.clinical.listen import ListenOptions, Node, matches
from hipseg.clinical.quality import assess
from hipseg.clinical.spool import Spool, key
from hipseg.clinical.sr import build_sr
from hipseg.measure.record import measure_label_map
from tests.orthanc import free_port


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


def test_filter(demo_data):
    ds = pydicom.dcmread(next((demo_data.parent / "dicom").glob("*.dcm")))
    options = ListenOptions.from_config({})
    assert matches(ds, options) is None
    ds.ViewPosition = "LAT"
    assert "ViewPosition LAT" in matches(ds, options)
    ds.ViewPosition, ds.BodyPartExamined = "AP", "CHEST"
    assert "BodyPartExamined CHEST" in matches(ds, options)
    assert matches(ds, ListenOptions.from_config({"body_parts": ["CHEST"]})) is None


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
