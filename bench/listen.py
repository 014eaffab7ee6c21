"""Throughput and latency of ``hipseg listen``: radiographs per minute through the node, and the
time from C-STORE to results stored at the destination.

The node runs as ``hipseg listen`` (a child process, CPU, one thread) with the given model; the
destination is a storage SCP of this script (pynetdicom) that notes when each result arrives.
``--n`` new synthetic demo radiographs (about 2 mm/px, 150 × 215 px) are sent in one burst over
one association. For each radiograph the latency runs from the moment its C-STORE was answered
(spooled by the node) to the moment the last of its results (SR, presentation state, SEG) was
stored; the throughput is radiographs per minute from the first C-STORE to the last result.
With the default untrained network the gate's content check is off (its labels are no anatomy,
and the content check would find every film not assessable; ``--gate '{"content": false}'`` does
the same for a seconds-trained model). Everything is on 127.0.0.1. Usage::

    PYTHONPATH=workflow python bench/listen.py [--model-dir M] [--n 30] [--model fold_all]
                                               [--gate JSON]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pydicom

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))

from hipseg import synth  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def demo_network(sheet: Path, work: Path) -> Path:
    """The demo's network with untrained weights (bench/segment.py's planned_model)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "bench_segment", Path(__file__).with_name("segment.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.planned_model(sheet, work, module.DEMO_FEATURES)


def main(argv=None) -> int:
    from pynetdicom import AE, evt
    from pynetdicom.presentation import AllStoragePresentationContexts

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--model-dir",
        help="a trained model folder (default: the demo network, "
        "nnU-Net's plan of the demo with 16 -> 256 features, untrained: same time)",
    )
    p.add_argument("--model", default="fold_all")
    p.add_argument("--n", type=int, default=30)
    p.add_argument(
        "--gate",
        help="the gate section as JSON (default: the content check off "
        "for the untrained demo network, the schema's defaults for --model-dir)",
    )
    p.add_argument("--work", type=Path)
    a = p.parse_args(argv)
    work = a.work or Path(tempfile.mkdtemp(prefix="hipseg-bench-listen-"))
    sheet = synth.generate(work / "demo", preset="demo", seed=21, n_patients=6)
    base = [pydicom.dcmread(f) for f in sorted((sheet.parent / "dicom").glob("*.dcm"))]
    model_dir = a.model_dir or str(demo_network(sheet, work / "plan"))
    radiographs = []
    for i in range(a.n):
        ds = pydicom.dcmread(sorted((sheet.parent / "dicom").glob("*.dcm"))[i % len(base)])
        ds.SOPInstanceUID = pydicom.uid.generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        radiographs.append(ds)

    stored: dict[str, list[float]] = {}
    lock = threading.Lock()

    def on_store(event):
        ds = event.dataset
        ref = None
        if "CurrentRequestedProcedureEvidenceSequence" in ds:
            ref = ds.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence[0]
            ref = ref.ReferencedSOPSequence[0].ReferencedSOPInstanceUID
        elif "ReferencedSeriesSequence" in ds:
            s = ds.ReferencedSeriesSequence[0]
            items = s.get("ReferencedImageSequence") or s.get("ReferencedInstanceSequence")
            ref = items[0].ReferencedSOPInstanceUID
        with lock:
            stored.setdefault(str(ref), []).append(time.perf_counter())
        return 0x0000

    dest = AE(ae_title="BENCHPACS")
    dest.supported_contexts = AllStoragePresentationContexts
    dest_port, node_port = free_port(), free_port()
    server = dest.start_server(
        ("127.0.0.1", dest_port), block=False, evt_handlers=[(evt.EVT_C_STORE, on_store)]
    )
    options = {
        "port": node_port,
        "calling_ae_titles": ["BENCHSCU", "BENCHPACS"],
        "spool": str(work / "spool"),
        "destination": {"ae_title": "BENCHPACS", "host": "127.0.0.1", "port": dest_port},
    }
    cmd = [
        sys.executable,
        "-m",
        "hipseg",
        "listen",
        "--model-dir",
        model_dir,
        "--options",
        json.dumps(options),
        "--threads",
        "1",
        "--segment",
        json.dumps({"device": "cpu", "mirroring": False, "model": a.model}),
    ]
    # untrained (or seconds-trained) weights paint no anatomy: the gate's content check is off
    # for them (it would find every film not assessable and nothing would come back)
    gate = a.gate if a.gate is not None else ("" if a.model_dir else json.dumps({"content": False}))
    cmd += ["--gate", gate] if gate else []
    log = open(work / "node.log", "wb")
    node = subprocess.Popen(
        cmd, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ, OMP_NUM_THREADS="1")
    )
    try:
        deadline = time.monotonic() + 180
        while b"listening on" not in (work / "node.log").read_bytes():
            if node.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the node did not start:\n" + (work / "node.log").read_text())
            time.sleep(0.1)
        scu = AE(ae_title="BENCHSCU")
        scu.add_requested_context(base[0].SOPClassUID, pydicom.uid.ExplicitVRLittleEndian)
        assoc = scu.associate("127.0.0.1", node_port, ae_title="HIPSEG")
        acked = {}
        start = time.perf_counter()
        for ds in radiographs:
            assert int(assoc.send_c_store(ds).Status) == 0
            acked[str(ds.SOPInstanceUID)] = time.perf_counter()
        assoc.release()
        spooled = time.perf_counter() - start
        deadline = time.monotonic() + 60 + 20 * a.n
        while time.monotonic() < deadline:
            with lock:
                if len([u for u in acked if len(stored.get(u, [])) >= 3]) == len(acked):
                    break
            time.sleep(0.1)
        end = max(max(v) for v in stored.values())
    finally:
        node.terminate()
        node.wait(timeout=60)
        server.shutdown()
        log.close()
    latency = np.array([max(stored[u]) - t for u, t in acked.items()])
    load = os.getloadavg()[0]
    which = a.model_dir or "the demo network (untrained weights)"
    print(
        f"{a.n} radiographs (demo size), model {a.model} of {which} on the CPU, 1 thread; "
        f"load average {load:.1f} on {os.cpu_count()} cores"
    )
    print(f"spooled (C-STORE answered) in {spooled:.2f} s: {a.n / spooled * 60:.0f} per minute")
    print(f"through the node: {a.n / (end - start) * 60:.1f} radiographs per minute")
    print(
        f"C-STORE -> results stored: median {np.median(latency):.1f} s, "
        f"min {latency.min():.1f} s, max {latency.max():.1f} s (queueing included)"
    )
    first = sorted(acked.values())[0]
    first_uid = min(acked, key=acked.get)
    print(f"first radiograph (empty queue): {max(stored[first_uid]) - first:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
