"""Tests of the synthetic AP pelvis generator (hipseg.synth)."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from PIL import Image
from scipy import ndimage

from hipseg import synth
from hipseg.errors import HipsegError
from hipseg.labels import LABELS, MAX_LABEL, N_CLASSES, VALUES

HEAD, CORTEX, TEARDROP, FOSSA, PELVIS = (lab.value for lab in LABELS)  # L1 ... L5 of the paper

HIP_SIDES = {"both": ("right", "left"), "right": ("right",), "left": ("left",), "none": ()}


def _rows(tsv: Path) -> list[dict]:
    with open(tsv, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def _load(tsv: Path, row: dict) -> tuple[pydicom.Dataset, np.ndarray, np.ndarray]:
    """Dataset, display values in [0, 1] (bone bright) and label map of one sample."""
    ds = pydicom.dcmread(tsv.parent / row["dicom"])
    maxv = float((1 << int(ds.BitsStored)) - 1)
    img = ds.pixel_array.astype(np.float64)
    if ds.PhotometricInterpretation == "MONOCHROME1":
        img = maxv - img
    lab = np.asarray(Image.open(tsv.parent / row["labels"]))
    return ds, img / maxv, lab


def _half(arr: np.ndarray, side: str) -> np.ndarray:
    """Patient's right hip is on the image left."""
    c = arr.shape[1] // 2
    return arr[:, :c] if side == "right" else arr[:, c:]


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    return synth.generate(tmp_path_factory.mktemp("demo") / "synth", seed=0, n_patients=8)


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_deterministic(tmp_path):
    a = _tree(synth.generate(tmp_path / "a", seed=3, n_patients=3).parent)
    b = _tree(synth.generate(tmp_path / "b", seed=3, n_patients=3).parent)
    c = _tree(synth.generate(tmp_path / "c", seed=4, n_patients=3).parent)
    assert a.keys() == b.keys() and a == b
    assert not any(n.startswith(".") for n in a)  # no temporary files left behind
    dicoms = [k for k in a if k.endswith(".dcm")]
    assert dicoms
    assert all(a[k] != c[k] for k in dicoms if k in c)


def test_tsv_columns_and_paths(demo):
    header = demo.read_text(encoding="utf-8").splitlines()[0]
    assert header == "id\tpatient\tdicom\tlabels\thips\tsplit\tnote"
    rows = _rows(demo)
    assert len(rows) >= 8
    assert len({r["id"] for r in rows}) == len(rows)
    for r in rows:
        assert re.fullmatch(r"[A-Za-z0-9_-]+", r["id"])
        assert re.fullmatch(r"P\d{3}", r["patient"])
        assert r["dicom"] == f"dicom/{r['id']}.dcm" and r["labels"] == f"labels/{r['id']}.png"
        assert (demo.parent / r["dicom"]).is_file() and (demo.parent / r["labels"]).is_file()
        assert r["hips"] in HIP_SIDES
        assert r["split"] == ""
    # some patients have two radiographs, on different dates
    per_patient: dict[str, list[str]] = {}
    for r in rows:
        per_patient.setdefault(r["patient"], []).append(r["id"])
    repeats = [ids for ids in per_patient.values() if len(ids) == 2]
    assert repeats and len(per_patient) == 8
    dates = [pydicom.dcmread(demo.parent / f"dicom/{i}.dcm").StudyDate for i in repeats[0]]
    assert dates[0] != dates[1]


def test_dicom_headers_and_readers(demo):
    rows = _rows(demo)
    photometric, names = set(), {}
    for r in rows:
        path = demo.parent / r["dicom"]
        ds = pydicom.dcmread(path)
        assert ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
        assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.1"
        assert ds.Modality == "CR" and ds.BodyPartExamined == "PELVIS" and ds.ViewPosition == "AP"
        assert list(ds.PatientOrientation) == ["L", "F"]
        assert ds.BitsAllocated == 16 and ds.BitsStored in (12, 14, 16)
        assert ds.HighBit == ds.BitsStored - 1 and ds.PixelRepresentation == 0
        assert int(ds.pixel_array.max()) <= (1 << ds.BitsStored) - 1
        assert ds.PixelSpacing[0] == ds.PixelSpacing[1] == ds.ImagerPixelSpacing[0]
        assert 1.0 < float(ds.PixelSpacing[0]) < 2.5
        assert "20100101" <= ds.StudyDate <= "20111231"
        for kw in ("PatientName", "PatientID", "PatientBirthDate", "InstitutionName",
                   "AccessionNumber", "StudyInstanceUID", "WindowWidth"):  # fmt: skip
            assert str(ds.data_element(kw).value), kw
        block = ds.private_block(0x0009, "HIPSEG SYNTH PRIVATE")
        assert str(block[0x10].value)
        names.setdefault(r["patient"], set()).add((str(ds.PatientName), ds.PatientID))
        photometric.add(ds.PhotometricInterpretation)
        # field of view ~ 43 x 35 cm
        sp = float(ds.PixelSpacing[0])
        assert 410 < ds.Columns * sp < 435 and 335 < ds.Rows * sp < 355
        # SimpleITK reads it, with the size of the label map
        img = sitk.ReadImage(str(path))
        lab = np.asarray(Image.open(demo.parent / r["labels"]))
        assert img.GetSize()[:2] == (lab.shape[1], lab.shape[0]) == (ds.Columns, ds.Rows)
        assert lab.dtype == np.uint8
    assert photometric == {"MONOCHROME1", "MONOCHROME2"}
    assert all(len(v) == 1 for v in names.values())
    assert len({next(iter(v)) for v in names.values()}) == len(names)


def test_labels_per_hip(demo):
    n_hips = 0
    for r in _rows(demo):
        _, _, lab = _load(demo, r)
        assert lab.max() <= MAX_LABEL
        for side in HIP_SIDES[r["hips"]]:
            half = _half(lab, side)
            areas = np.bincount(half.ravel(), minlength=N_CLASSES)
            assert all(areas[k] > 0 for k in VALUES), (r["id"], side, areas)
            assert areas[TEARDROP] == min(areas[list(VALUES)]), (r["id"], side, areas)
            assert areas[TEARDROP] >= 30 and areas[FOSSA] >= 50  # demo enlargement at ~2 mm/px
            # the teardrop and the fossa are one connected region each; the hemipelvis is
            # mostly one (a bit of the other hemipelvis may cross the midline)
            for k, frac in ((TEARDROP, 1.0), (FOSSA, 1.0), (PELVIS, 0.95)):
                comp, n = ndimage.label(half == k)
                assert np.bincount(comp.ravel())[1:].max() >= frac * areas[k], (r["id"], side, k)
            n_hips += 1
    assert n_hips >= 12


def test_implants_excluded(demo):
    rows = _rows(demo)
    excluded = 0
    kinds = set()
    for r in rows:
        _, img, lab = _load(demo, r)
        ball = json.loads((demo.parent / "truth" / f"{r['id']}.json").read_text())["ball"]
        if ball["present"]:  # the calibration ball is metal too, but no implant
            rows, cols = np.ogrid[: img.shape[0], : img.shape[1]]
            x, y = ball["centre_px"]
            reach = ball["projected_diameter_px"] / 2 + 3
            img = np.where((rows - y) ** 2 + (cols - x) ** 2 <= reach**2, 0.0, img)
        mid = img[int(0.2 * img.shape[0]) : int(0.8 * img.shape[0])]  # no marker, no text
        bone = max((_half(mid, s).max() for s in HIP_SIDES[r["hips"]]), default=0.6)
        for side in ("right", "left"):
            if side in HIP_SIDES[r["hips"]]:
                continue
            excluded += 1
            kind = re.search(rf"{side} hip ([a-z ]+) \(excluded\)", r["note"])
            assert kind, r["note"]
            kinds.add(kind.group(1))
            # metal is the brightest thing (scatter keeps it from saturating everywhere)
            assert _half(mid, side).max() >= bone + 0.1, (r["id"], side)
            # excluded hips carry no labels (bar a sliver of the other hemipelvis)
            half = _half(lab, side)
            assert (
                not np.isin(half, [HEAD, CORTEX, TEARDROP, FOSSA]).any()
                and (half == PELVIS).mean() < 0.02
            )
    assert excluded >= 2
    assert kinds <= {"arthroplasty", "dynamic hip screw and plate", "cannulated neck screws"}
    assert len(kinds) >= 2


def test_intensity_realism(demo):
    """Cortex brighter than the medullary cavity, bone brighter than the soft tissue around it."""
    for r in _rows(demo):
        _, img, lab = _load(demo, r)
        for side in HIP_SIDES[r["hips"]]:
            im, lb = _half(img, side), _half(lab, side)
            # medullary cavity: L1 pixels with diaphyseal cortex (L2) left and right in the row
            l2 = lb == CORTEX
            left = np.cumsum(l2, axis=1) > 0
            right = np.cumsum(l2[:, ::-1], axis=1)[:, ::-1] > 0
            r = np.arange(lb.shape[0])[:, None]
            rows = (r > lb.shape[0] * 0.6) & (r < lb.shape[0] * 0.8)  # above burned-in text
            canal = (lb == HEAD) & left & right & rows
            walls = l2 & rows
            assert canal.sum() > 20 and walls.sum() > 20
            assert im[walls].mean() > im[canal].mean() + 0.01, r["id"]
            # bone vs. the soft tissue right next to it
            bone = lb > 0
            ring = ndimage.binary_dilation(bone, iterations=4) & ~bone
            ring &= ~ndimage.binary_dilation(_half(img, side) < 0.05, iterations=2)
            assert im[bone].mean() > im[ring].mean() + 0.03, r["id"]
            # teardrop (dense rim) brighter than the fossa next to it
            assert im[lb == TEARDROP].mean() > im[lb == FOSSA].mean(), r["id"]


def test_geometry_scales_with_spacing(tmp_path, monkeypatch):
    """The same patient rasterised at a finer spacing has the same label areas in mm^2."""
    fine = dict(synth.PRESETS["demo"], spacing_scale=synth.PRESETS["demo"]["spacing_scale"] / 2.5)
    monkeypatch.setitem(synth.PRESETS, "finetest", fine)
    areas = []
    for preset in ("demo", "finetest"):
        tsv = synth.generate(tmp_path / preset, preset=preset, seed=5, n_patients=1)
        row = _rows(tsv)[0]
        ds, _, lab = _load(tsv, row)
        sp = float(ds.PixelSpacing[0])
        areas.append(
            (np.bincount(lab.ravel(), minlength=N_CLASSES)[list(VALUES)] * sp * sp, sp, lab.shape)
        )
    (a0, sp0, sh0), (a1, sp1, sh1) = areas
    assert sp1 == pytest.approx(sp0 / 2.5, rel=1e-3)
    assert sh1[0] == pytest.approx(sh0[0] * 2.5, abs=3)
    assert np.all(np.abs(a1 / a0 - 1) < 0.15), (a0, a1)


def test_bad_arguments(tmp_path):
    with pytest.raises(HipsegError, match="demo.preset"):
        synth.generate(tmp_path, preset="nope")
    with pytest.raises(HipsegError, match="demo.n_patients"):
        synth.generate(tmp_path, n_patients=0)


def test_montage(demo, tmp_path):
    out = tmp_path / "m" / "montage.png"
    synth.montage(demo, out, n=4)
    im = Image.open(out)
    assert im.format == "PNG" and im.size[0] > 400
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]


def _one_hip(tmp_path, **findings) -> tuple[np.ndarray, np.ndarray]:
    """Image and labels of the right hip of one demo patient, with the given findings."""
    pre = synth.PRESETS["demo"]
    pats, _ = synth._plan(pre, 11, 1)
    pat = pats[0]
    for side in ("right", "left"):
        hip = pat.hips[side]
        hip.hardware, hip.oa, hip.protrusion = "", 0.0, 0.0
    for k, v in findings.items():
        setattr(pat.hips["right"], k, v)
    pose = synth._pose(np.random.default_rng(0))
    pose.phi, pose.rot = 0.0, {"right": 10.0, "left": 10.0}
    sp = 0.8  # finer than the demo, so that a few millimetres show
    img, lab = synth.render_radiograph(pat, pose, sp, (430.0, 350.0), pre, np.random.default_rng(0))
    return _half(img, "right"), _half(lab, "right")


def test_protrusion_puts_the_head_over_teardrop_and_fossa(tmp_path):
    _, normal = _one_hip(tmp_path)
    _, prot = _one_hip(tmp_path, protrusion=6.0)
    n, p = (np.bincount(x.ravel(), minlength=N_CLASSES) for x in (normal, prot))
    # the head hides most of the teardrop and the medial joint space (the paper's Fig. 5a)
    assert p[TEARDROP] < 0.6 * n[TEARDROP] and p[FOSSA] < n[FOSSA], (n, p)

    # the head (L1) now borders the teardrop (L3) directly; normally L4/L5 lie between them
    def touching(lab):
        l1 = ndimage.binary_dilation(lab == HEAD)
        return bool((l1 & (lab == TEARDROP)).any())

    assert touching(prot) and not touching(normal)


def test_osteoarthritis_narrows_the_joint_space(tmp_path):
    img_n, normal = _one_hip(tmp_path)
    img_o, oa = _one_hip(tmp_path, oa=1.0)

    # superior joint space: rows between the top of the head (L1) and the roof (L5) above it
    def gap(lab):
        head = np.argwhere(lab == HEAD)
        top = head[:, 0].min()
        col = int(np.median(head[head[:, 0] < top + 3][:, 1]))
        above = lab[:top, col]
        roof = np.nonzero(above == PELVIS)[0].max()
        return top - roof - 1

    assert gap(oa) < gap(normal)
    # osteophytes add bone: more head (L1) and more pelvis (L5) than without OA
    n, o = (np.bincount(x.ravel(), minlength=N_CLASSES) for x in (normal, oa))
    assert o[HEAD] > n[HEAD] and o[PELVIS] > n[PELVIS]

    # sclerosis: the sourcil just above the head is denser
    def sourcil(img, lab):
        head = np.argwhere(lab == HEAD)
        top = head[:, 0].min()
        col = int(np.median(head[head[:, 0] < top + 3][:, 1]))
        return np.percentile(img[max(top - 12, 0) : top, col - 8 : col + 8], 90)

    assert sourcil(img_o, oa) > sourcil(img_n, normal) + 0.05


def _text_in_its_corner(ds, img) -> None:
    from hipseg.deid import find_text
    from hipseg.synth.annotations import _burned_in_text, text_style

    text = _burned_in_text(str(ds.PatientName), pydicom.valuerep.DA(ds.StudyDate), ds.StudyTime)
    style = text_style(text)
    rows, cols = img.shape
    ys = slice(int(0.75 * rows), None) if style.corner[1] == "d" else slice(0, int(0.25 * rows))
    xs = slice(int(0.5 * cols), None) if style.corner[0] == "r" else slice(0, int(0.5 * cols))
    if style.contrast is None:  # saturated display white
        assert (img[ys, xs] >= 0.999).sum() > 20
    found = find_text(ds.pixel_array, ds.PhotometricInterpretation == "MONOCHROME1", ["strokes"])
    in_corner = [
        (t, b, le, r)
        for t, b, le, r in found["strokes"]
        if t >= (ys.start or 0)
        and b <= (ys.stop or rows)
        and le >= (xs.start or 0)
        and r <= (xs.stop or cols)
    ]
    assert in_corner, (ds.PatientID, style)


def test_findings_markers_and_text_in_sheet_and_pixels(demo):
    rows = _rows(demo)
    notes = "; ".join(r["note"] for r in rows)
    for finding in ("osteoarthritis", "acetabular protrusion", "lead marker", "burned-in text"):
        assert finding in notes
    for r in rows:
        ds, img, lab = _load(demo, r)
        text = "burned-in text" in r["note"]
        assert ds.BurnedInAnnotation == ("YES" if text else "NO")
        if text:  # white or grey text in the corner its style names
            _text_in_its_corner(ds, img)
        markers = re.findall(r"lead marker ([RL])", r["note"])
        top = img[: int(0.2 * img.shape[0])]
        if markers:  # the lead letter sits in the upper corner of its side, brighter than bone
            half = _half(top, "right" if markers[0] == "R" else "left")
            assert half.max() > 0.6, r["id"]


def test_paper_preset_matches_the_papers_dataset():
    rows = synth.describe("paper", seed=0)
    assert len(rows) == 83
    joints = {"both": 2, "left": 1, "right": 1, "none": 0}
    used = sum(joints[r["hips"]] for r in rows)
    assert used == 150 and 2 * len(rows) - used == 16
    test = [r for r in rows if r["split"] == "test"]
    assert sum(joints[r["hips"]] for r in test) == 50
    assert {r["split"] for r in rows} == {"train", "test"}
    per_patient = {}
    for r in rows:
        per_patient.setdefault(r["patient"], set()).add(r["split"])
    assert all(len(s) == 1 for s in per_patient.values())  # grouped by patient
    assert {r["spacing"] for r in rows} == {0.10, 0.15, 0.175}
    sizes = [
        (
            int(round(r["field_mm"][0] / r["spacing"])) // 2,
            int(round(r["field_mm"][1] / r["spacing"])),
        )
        for r in rows
    ]
    # the paper's joint images: 1223 x 1943 ... 2140 x 3520 px
    assert min(sizes, key=lambda s: s[0] * s[1]) == pytest.approx((1223, 1943), abs=5)
    assert max(sizes, key=lambda s: s[0] * s[1]) == pytest.approx((2140, 3520), abs=5)
    notes = "; ".join(r["note"] for r in rows)
    for kind in ("arthroplasty", "dynamic hip screw", "cannulated neck screws", "osteoarthritis",
                 "acetabular protrusion"):  # fmt: skip
        assert kind in notes


def test_paper_preset_renders_at_full_size_with_2010_2011_headers(tmp_path):
    ids = ["paper0001"]
    tsv = synth.generate(tmp_path, preset="paper", seed=0, only=ids)
    (row,) = _rows(tsv)
    ds, img, lab = _load(tsv, row)
    sp = float(ds.PixelSpacing[0])
    assert sp in (0.1, 0.15, 0.175)
    assert ds.Columns * sp == pytest.approx(428, abs=1) and 340 <= ds.Rows * sp <= 352
    assert "20100101" <= ds.StudyDate <= "20111231"
    for side in HIP_SIDES[row["hips"]]:
        areas = np.bincount(_half(lab, side).ravel(), minlength=N_CLASSES)
        assert areas[TEARDROP] == min(areas[list(VALUES)])
        assert areas[TEARDROP] * sp * sp > 40  # true-size teardrop


def test_subset_renders_exactly_as_in_the_full_set(tmp_path):
    full = synth.generate(tmp_path / "full", seed=2, n_patients=4)
    part = synth.generate(tmp_path / "part", seed=2, n_patients=4, only=["demo0003"])
    assert _rows(part) == [r for r in _rows(full) if r["id"] == "demo0003"]
    for sub in ("dicom/demo0003.dcm", "labels/demo0003.png"):
        assert (full.parent / sub).read_bytes() == (part.parent / sub).read_bytes()
    with pytest.raises(HipsegError, match="demo9999"):
        synth.generate(tmp_path / "bad", seed=2, n_patients=4, only=["demo9999"])


def test_gallery(demo, tmp_path):
    out = tmp_path / "g.png"
    ids = synth.gallery(demo, out)
    assert Image.open(out).format == "PNG"
    rows = {r["id"]: r for r in _rows(demo)}
    shown = " ".join(rows[i]["note"] for i in ids)
    assert len(ids) >= 5
    for finding in ("osteoarthritis", "protrusion", "excluded", "burned-in text"):
        assert finding in shown


def test_upsampling_is_cell_centred_bilinear():
    """The generator's upsampling (soft tissue, blur, distance maps): a linear ramp stays linear
    between the coarse cell centres, flat beyond the outer ones, and every value is the
    bilinear mix of its four coarse neighbours, computed independently here."""
    from hipseg.synth.geometry import _upsample

    small = np.add.outer(np.arange(4.0) * 3.0, np.arange(5.0) * 2.0)  # 3 per row, 2 per column
    big = _upsample(small, (16, 15))
    assert big.shape == (16, 15) and big.dtype == np.float32
    # output cell centres map to coarse coordinates (i + 0.5) / 4 - 0.5 and (j + 0.5) / 3 - 0.5
    r = np.clip((np.arange(16) + 0.5) / 4 - 0.5, 0, 3)
    c = np.clip((np.arange(15) + 0.5) / 3 - 0.5, 0, 4)
    assert np.allclose(big, np.add.outer(r * 3.0, c * 2.0), atol=1e-5)
    rng = np.random.default_rng(1)
    noise = rng.normal(size=(5, 7))
    up = _upsample(noise, (23, 31))
    for i, j in [(0, 0), (11, 17), (22, 30), (7, 3)]:
        y = min(max((i + 0.5) * 5 / 23 - 0.5, 0), 4)
        x = min(max((j + 0.5) * 7 / 31 - 0.5, 0), 6)
        y0, x0 = int(y), int(x)
        y1, x1 = min(y0 + 1, 4), min(x0 + 1, 6)
        fy, fx = y - y0, x - x0
        want = (noise[y0, x0] * (1 - fx) + noise[y0, x1] * fx) * (1 - fy) + (
            noise[y1, x0] * (1 - fx) + noise[y1, x1] * fx
        ) * fy
        assert abs(up[i, j] - want) < 1e-5
