"""The MONAI Label app end to end: a real server process driven by MONAILabelClient.

One server for the module (tiny random CL-Detection model, image size 256, CPU) on a temp copy
of ISBI images plus a DX DICOM and a corrupt file. The tests run in file order and build on
each other: infer -> edited labels saved -> strategy/scoring -> batch infer -> train + reload
-> restart. Run: ``pytest tests/test_monailabel_server.py`` (about 2-3 minutes on 2 CPU cores).
"""
from __future__ import annotations

import csv
import json
import math
import shutil
import time
from pathlib import Path

import sys

import numpy as np
import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from monailabel_helpers import (ISBI_IMAGES, Server, tiny_cephmark_checkpoint, tiny_checkpoint,  # noqa: E402
                                wait_for, write_dicom)
from parity import predictor_tolerances  # noqa: E402

pytestmark = pytest.mark.skipif(not (ISBI_IMAGES / "001.jpg").is_file(),
                                reason=f"shared ISBI images not found in {ISBI_IMAGES}")

IMAGE_SIZE = 256
REFINE_PRIOR_SIGMA = 40.0  # calibration: crop refiner with the coarse prior
DICOM_POSITION = (10.0, 20.0, 5.0)
DICOM_ORIENTATION = (0.0, 1.0, 0.0, -1.0, 0.0, 0.0)  # rows along +y, columns along -x (LPS)


class State:
    """What the tests share (module scope)."""


@pytest.fixture(scope="module")
def st(tmp_path_factory):
    root = tmp_path_factory.mktemp("monailabel_app")
    s = State()
    s.root = root
    s.studies = root / "studies"
    s.studies.mkdir()
    for name in ("001", "002", "003"):
        shutil.copy(ISBI_IMAGES / f"{name}.jpg", s.studies / f"{name}.jpg")
    write_dicom(ISBI_IMAGES / "004.jpg", s.studies / "004.dcm", spacing=0.1,
                position=DICOM_POSITION, orientation=DICOM_ORIENTATION)
    (s.studies / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 20)
    s.model = tiny_checkpoint(root / "tiny.pth", seed=0)
    s.ruler_model = twin_heads(tiny_cephmark_checkpoint(root / "ruler.pth", ["a"], seed=2), ["p1", "p2"])
    s.ruler_refiner = positive_maps(tiny_cephmark_checkpoint(root / "ruler_refiner.pth", ["p1", "p2"], seed=3,
                                                             preprocess={"image_size": 64, "crop_size": 128,
                                                                         "flip_test": False, "antialias": True}))
    s.model_dir = root / "models"
    s.server = Server(s.studies, {"models": "all", "cldetection_model": s.model, "calibration_model": s.ruler_model,
                                  "calibration_refiner": s.ruler_refiner, "refine_prior_sigma": REFINE_PRIOR_SIGMA,
                                  "image_size": IMAGE_SIZE, "model_dir": s.model_dir},
                      root / "run", env={"MONAI_LABEL_AUTO_UPDATE_SCORING": "false"}).start()
    s.client = s.server.client(root / "client")
    s.out = root / "client"
    yield s
    s.server.stop()


def twin_heads(path: Path, names: list[str]) -> Path:
    """Rewrite a one-landmark model as ``names``, each a copy of its head: the coarse points
    coincide, so the refiner's crop (centred on their mean) holds them all."""
    import torch

    from cephmark.models.checkpoint import load_model, make_checkpoint
    from cephmark.models.new_landmarks import build_landmark_head

    loaded = load_model(path)
    model, names = build_landmark_head(loaded.model, loaded.landmark_names, names,
                                       [loaded.landmark_names[0]] * len(names))
    torch.save(make_checkpoint(model, names), path)
    return path


def positive_maps(path: Path) -> Path:
    """Raise a random model's output biases so its heatmaps have positive peaks (points found)."""
    import torch

    ckpt = torch.load(path, weights_only=True)
    ckpt["state_dict"]["head.converge.3.conv.bias"] += 1.0
    torch.save(ckpt, path)
    return path


def predictor(checkpoint):
    from cephmark.config import CephConfig
    from cephmark.inference import LandmarkPredictor

    return LandmarkPredictor(str(checkpoint), CephConfig(), {"preprocess.image_size": IMAGE_SIZE})


def assert_same_landmarks(got: list[dict], expected, tol=1e-3) -> None:
    """``tol``: px, one or per landmark (``inf``: a peak whose argmax may switch, not compared;
    see tests/parity.py). Another process's heatmaps differ by float reduction order."""
    assert [g["name"] for g in got] == [e.name for e in expected.landmarks]
    tols = np.broadcast_to(np.asarray(tol, dtype=float), (len(got),))
    assert np.isfinite(tols).sum() >= len(got) // 2, f"too few stable peaks to compare: {tols}"
    for g, e, t in zip(got, expected.landmarks, tols):
        if not np.isfinite(t):
            continue
        assert g["found"] == e.found, g["name"]
        if e.found:
            assert abs(g["x"] - e.x) <= t and abs(g["y"] - e.y) <= t, (g, e, t)
            assert abs(g["score"] - e.score) <= 1e-4


def same_as_predictor(got: list[dict], checkpoint, image) -> None:
    """The server's landmarks equal an in-process predictor's, within each peak's tolerance."""
    pred = predictor(checkpoint)
    assert_same_landmarks(got, pred.predict([image])[0], predictor_tolerances(pred, image))


def isolated_inside(landmarks: list[dict], width: int, height: int, r: float) -> list[int]:
    pts = [(lm["x"], lm["y"]) if lm["found"] else None for lm in landmarks]
    keep = []
    for k, p in enumerate(pts):
        if p is None or not (r + 1 <= p[0] <= width - r - 2 and r + 1 <= p[1] <= height - r - 2):
            continue
        if all(q is None or j == k or math.hypot(p[0] - q[0], p[1] - q[1]) > 2 * r + 2 for j, q in enumerate(pts)):
            keep.append(k)
    return keep


def read_label(path):
    import SimpleITK as sitk

    img = sitk.ReadImage(str(path))
    return img, sitk.GetArrayFromImage(img)


def server_error(exc) -> tuple[int, str]:
    msg = getattr(exc, "msg", str(exc))
    status = int(msg.split("Status: ")[1].split(";")[0]) if "Status: " in msg else -1
    return status, msg


# -- 1. info --------------------------------------------------------------------------------
def test_info_lists_tasks_and_labels(st):
    info = st.client.info()
    from cephmark.landmarks import CLDETECTION_38

    assert set(info["models"]) == {"cephalometric", "calibration"}
    assert info["models"]["cephalometric"]["labels"] == {n: i + 1 for i, n in enumerate(CLDETECTION_38)}
    assert info["models"]["calibration"]["labels"] == {"p1": 1, "p2": 2}
    assert info["labels"] == CLDETECTION_38 + ["p1", "p2"]
    assert set(info["trainers"]) == {"cephalometric", "calibration"}
    assert info["trainers"]["calibration"]["config"]["landmarks"] == "p1,p2"
    assert info["trainers"]["cephalometric"]["config"]["image_size"] == IMAGE_SIZE
    assert "uncertainty" in info["strategies"] and "uncertainty" in info["scoring"]
    assert info["datastore"]["total"] == 5
    assert info["cephmark"]["models"]["cephalometric"]["origin"] == "configured"
    print(f"server start: {st.server.start_seconds:.1f}s")


# -- 2. infer: label map + JSON equal the predictor ------------------------------------------
def test_infer_label_map_matches_predictor(st):
    t0 = time.monotonic()
    label_file, params = st.client.infer("cephalometric", "001", {})
    print(f"first infer: {time.monotonic() - t0:.2f}s")
    ref = predictor(st.model).predict([st.studies / "001.jpg"])[0]
    same_as_predictor(params["landmarks"], st.model, st.studies / "001.jpg")
    assert (params["width"], params["height"]) == (ref.width, ref.height) == (1935, 2400)
    assert params["image"] == "001" and params["mm_per_px"] is None
    assert all(lm["x_mm"] is None for lm in params["landmarks"])
    assert params["model_origin"] == "configured"
    assert params["label_names"] == {lm["name"]: i + 1 for i, lm in enumerate(params["landmarks"])}
    assert params["uncertainty"]["value"] >= 0

    img, arr = read_label(label_file)
    assert arr.dtype == np.uint8 and arr.shape == (ref.height, ref.width)
    assert img.GetOrigin() == (0.0, 0.0) and img.GetSpacing() == (1.0, 1.0)
    r = params["disc_radius"]
    checked = isolated_inside(params["landmarks"], ref.width, ref.height, r)
    assert len(checked) >= 3, "too few isolated landmarks inside the image to check"
    for k in checked:
        yy, xx = np.nonzero(arr == k + 1)
        lm = params["landmarks"][k]
        assert abs(xx.mean() - lm["x"]) < 0.2 and abs(yy.mean() - lm["y"]) < 0.2, lm["name"]
        assert len(xx) == pytest.approx(math.pi * r * r, rel=0.15)
    st.label_001, st.params_001 = label_file, params


def test_infer_in_flight_does_not_block_the_server(st):
    """MONAI Label's infer route runs in the thread pool (lib/routes.py), not on the event loop:
    while an image is inferred, other requests are answered."""
    import threading

    assert "infer requests run in the thread pool" in st.server.log_path.read_text(errors="replace")
    t0 = time.monotonic()
    requests.get(f"{st.server.url}/info/", timeout=120).raise_for_status()
    info_s = time.monotonic() - t0
    spans: dict[str, tuple[float, float, int]] = {}

    def infer() -> None:
        a = time.monotonic()
        r = requests.post(f"{st.server.url}/infer/cephalometric?image=002", data={"params": "{}"}, timeout=600)
        spans["infer"] = (a, time.monotonic(), r.status_code)

    thread = threading.Thread(target=infer)
    thread.start()
    answered = []
    while thread.is_alive():
        a = time.monotonic()
        r = requests.get(f"{st.server.url}/info/", timeout=600)
        answered.append((a, time.monotonic(), r.status_code))
    thread.join()
    start, end, status = spans["infer"]
    assert status == 200
    if end - start < 4 * info_s + 0.5:
        pytest.skip(f"infer ({end - start:.2f} s) too quick against /info ({info_s:.2f} s) to show overlap")
    # requests sent well after the infer began and answered before it ended
    inside = [x for x in answered if x[0] > start + info_s + 0.2 and x[1] < end - 0.05 and x[2] == 200]
    assert inside, f"no /info answered during a {end - start:.2f} s infer ({len(answered)} sent)"


def test_infer_dicom_spacing_geometry_and_markups(st):
    import SimpleITK as sitk
    from monai.transforms import LoadImage

    dcm = st.studies / "004.dcm"
    label_file, params = st.client.infer("cephalometric", "004", {})
    ref = predictor(st.model).predict([dcm])[0]
    same_as_predictor(params["landmarks"], st.model, dcm)
    assert params["spacing_mm"] == pytest.approx(0.1) and params["mm_per_px"] == pytest.approx(0.1)
    assert params["mm_per_px_source"] == "PixelSpacing"
    for lm in params["landmarks"]:
        assert lm["x_mm"] == pytest.approx(lm["x"] * 0.1, abs=1e-9)
        assert lm["y_mm"] == pytest.approx(lm["y"] * 0.1, abs=1e-9)
    # the label map carries the DICOM's ITK geometry (one-slice volume, origin, direction)
    ref_img = sitk.ReadImage(str(dcm))
    img, arr = read_label(label_file)
    assert arr.shape == (1, ref.height, ref.width)
    assert np.allclose(img.GetOrigin(), ref_img.GetOrigin()) and np.allclose(img.GetDirection(), ref_img.GetDirection())
    assert np.allclose(img.GetSpacing(), ref_img.GetSpacing())

    # markups: LPS positions = origin + direction * (x sx, y sy), as ITK and MONAI load the DICOM
    mk_file, mk_params = st.client.infer("cephalometric", "004", {"markups": True})
    assert mk_file.endswith(".mrk.json") and mk_params["result_format"] == "markups"
    doc = json.loads(Path(mk_file).read_text())
    assert doc["@schema"].startswith("https://raw.githubusercontent.com/Slicer/Slicer/")
    mk = doc["markups"][0]
    assert mk["type"] == "Fiducial" and mk["coordinateSystem"] == "LPS"
    _, meta = LoadImage(image_only=False, reader="ITKReader")(str(dcm))
    ras_affine = np.asarray(meta["affine"], dtype=np.float64)  # MONAI: RAS
    assert not np.allclose(ras_affine[:3, :3], np.diag(np.diag(ras_affine[:3, :3])))  # a rotated grid
    for cp, lm in zip(mk["controlPoints"], mk_params["landmarks"]):
        assert cp["label"] == lm["name"] and cp["positionStatus"] == ("defined" if lm["found"] else "undefined")
        if not lm["found"]:
            continue
        itk = ref_img.TransformContinuousIndexToPhysicalPoint((lm["x"], lm["y"], 0.0))
        assert np.allclose(cp["position"], itk, atol=1e-6)
        ras = ras_affine @ np.array([lm["x"], lm["y"], 0.0, 1.0])
        assert np.allclose(cp["position"], [-ras[0], -ras[1], ras[2]], atol=1e-6)
    assert DICOM_POSITION == tuple(ref_img.GetOrigin())


def test_markups_on_png_grid(st):
    mk_file, params = st.client.infer("cephalometric", "003", {"markups": "true"})
    doc = json.loads(Path(mk_file).read_text())
    for cp, lm in zip(doc["markups"][0]["controlPoints"], params["landmarks"]):
        if lm["found"]:
            assert cp["position"] == pytest.approx([lm["x"], lm["y"], 0.0], abs=1e-9)


def test_calibration_mm_per_px_from_ruler(st):
    from cephmark.inference.results import ruler_mm_per_px

    from cephmark.config import CephConfig
    from cephmark.inference import LandmarkPredictor
    from cephmark.inference.refine import RefinedPredictor

    label_file, params = st.client.infer("calibration", "001", {})
    cfg = CephConfig.from_dict({"infer": {"refine_prior_sigma": REFINE_PRIOR_SIGMA}})
    coarse = LandmarkPredictor(str(st.ruler_model), cfg, {"preprocess.image_size": IMAGE_SIZE})
    ref = RefinedPredictor(coarse, st.ruler_refiner).predict([st.studies / "001.jpg"])[0]
    assert params["model_refiner"] == str(st.ruler_refiner)
    assert_same_landmarks(params["landmarks"], ref)
    # the refiner did the work: its points differ from the coarse model's
    plain = coarse.predict([st.studies / "001.jpg"])[0]
    assert [lm.__dict__ for lm in ref.landmarks] != [lm.__dict__ for lm in plain.landmarks]
    assert [lm["name"] for lm in params["landmarks"]] == ["p1", "p2"]
    p1, p2 = params["landmarks"]
    expected = 10.0 / math.hypot(p1["x"] - p2["x"], p1["y"] - p2["y"])
    assert params["mm_per_px"] == pytest.approx(expected, rel=1e-9) == ruler_mm_per_px(ref)
    assert params["mm_per_px_source"] == "ruler" and params["ruler"]["distance_mm"] == 10.0
    _, arr = read_label(label_file)
    assert set(np.unique(arr)) <= {0, 1, 2}


# -- 3. robustness --------------------------------------------------------------------------
def test_corrupt_image_clear_error_and_server_keeps_serving(st):
    with pytest.raises(Exception) as err:
        st.client.infer("cephalometric", "corrupt", {})
    status, msg = server_error(err.value)
    assert status == 422 and "not a readable image" in msg and "corrupt" in msg
    assert str(st.studies) not in msg  # no server paths in the answer
    assert st.client.info()["datastore"]["total"] == 5
    _, params = st.client.infer("cephalometric", "003", {})
    assert params["image"] == "003"


def test_path_traversal_refused(st):
    outside = st.root / "outside.jpg"
    shutil.copy(ISBI_IMAGES / "005.jpg", outside)
    for bad in ("../studies/001", "../../etc/passwd", str(outside), "..", "001/../002"):
        with pytest.raises(Exception) as err:
            st.client.infer("cephalometric", bad, {})
        status, msg = server_error(err.value)
        assert status == 400 and "refused" in msg, (bad, msg)
    with pytest.raises(Exception) as err:
        st.client.save_label("../001", str(st.label_001), tag="final")
    assert server_error(err.value)[0] == 400
    with pytest.raises(Exception) as err:
        st.client.save_label("001", str(st.label_001), tag="../../escape")
    assert server_error(err.value)[0] == 400
    r = requests.put(f"{st.server.url}/datastore/image", params={"image": "../evil"},
                     files={"file": ("evil.jpg", outside.read_bytes())}, timeout=30)
    assert r.status_code == 400
    assert not (st.root / "evil.jpg").exists() and not (st.studies.parent / "escape").exists()
    assert st.client.info()["datastore"]["total"] == 5


# -- 4. labels saved from a viewer ----------------------------------------------------------
def test_save_edited_label_map_and_markups(st):
    import SimpleITK as sitk

    from cephmark.app import render_discs

    # 001: move one isolated disc by (+3.5, -2.25) px and renumber the values as Slicer may,
    # sending the segment names with their values (label_info) as the Slicer module does
    lms = st.params_001["landmarks"]
    r = st.params_001["disc_radius"]
    k = isolated_inside(lms, 1935, 2400, r + 6)[0]
    points = [(lm["x"], lm["y"]) if lm["found"] else None for lm in lms]
    points[k] = (points[k][0] + 3.5, points[k][1] - 2.25)
    edited = render_discs(points, 1935, 2400, r)
    n = len(lms)
    perm = {v: n + 1 - v for v in range(1, n + 1)}  # value v -> n + 1 - v
    renum = np.zeros_like(edited)
    for v, w in perm.items():
        renum[edited == v] = w
    path = st.root / "edited_001.nii.gz"
    sitk.WriteImage(sitk.GetImageFromArray(renum), str(path), True)
    label_info = [{"name": lms[v - 1]["name"], "idx": perm[v]} for v in range(1, n + 1)]
    res = st.client.save_label("001", str(path), tag="final", params={"label_info": label_info})
    assert res["image"] == "001"
    st.moved = (lms[k]["name"], points[k])

    # 002: a Slicer point list (markups) with one point moved by 4 mm along L (+x)
    mk_file, params = st.client.infer("cephalometric", "002", {"markups": True})
    doc = json.loads(Path(mk_file).read_text())
    inside = [i for i, lm in enumerate(params["landmarks"])
              if lm["found"] and 10 <= lm["x"] <= 1900 and 10 <= lm["y"] <= 2380]
    j = inside[0]
    doc["markups"][0]["controlPoints"][j]["position"][0] += 4.0
    mk_path = st.root / "edited_002.mrk.json"
    mk_path.write_text(json.dumps(doc))
    st.client.save_label("002", str(mk_path), tag="final")
    st.moved_002 = (params["landmarks"][j]["name"], (params["landmarks"][j]["x"] + 4.0, params["landmarks"][j]["y"]))

    ds = st.client.datastore()["objects"]
    assert "final" in ds["001"]["labels"] and ds["001"]["labels"]["final"]["ext"] == ".nii.gz"
    assert ds["002"]["labels"]["final"]["ext"] == ".mrk.json"
    assert ds["001"]["labels"]["final"]["info"]["label_info"] == label_info
    assert st.client.info()["datastore"]["completed"] == 2


# -- 5. active learning ---------------------------------------------------------------------
def test_uncertainty_strategy_and_scoring(st):
    from cephmark.app import load_app_image, predict_with_uncertainty

    pred = predictor(st.model)
    expected = {}
    for image_id, name in (("003", "003.jpg"), ("004", "004.dcm")):
        _, unc = predict_with_uncertainty(pred, load_app_image(st.studies / name).ceph)
        expected[image_id] = unc.value
    best = max(expected, key=expected.get)
    sample = st.client.next_sample("uncertainty", {})
    assert sample["id"] == best
    assert sample["uncertainty"] == pytest.approx(expected[best], rel=1e-6)

    r = requests.post(f"{st.server.url}/scoring/uncertainty", params={"run_sync": "true"},
                      json={"force": True}, timeout=300)
    assert r.status_code == 200, r.text
    scored = r.json()["images"]
    assert set(scored) == {"003", "004", "corrupt"} and "error" in scored["corrupt"]
    objects = st.client.datastore()["objects"]
    for image_id, value in expected.items():
        stored = objects[image_id]["image"]["info"]["landmark_uncertainty"]
        assert stored["value"] == pytest.approx(value, rel=1e-6)
        assert stored["model"] == "cephalometric"


# -- 6. batch inference ---------------------------------------------------------------------
def test_batch_infer_over_datastore(st):
    t0 = time.monotonic()
    r = requests.post(f"{st.server.url}/batch/infer/cephalometric", params={"images": "all"},
                      json={"device": "cpu", "label_tag": "original", "save_label": True}, timeout=60)
    assert r.status_code == 200, r.text

    def done():
        s = requests.get(f"{st.server.url}/batch/infer/", timeout=10).json()
        return s if s.get("status") in ("DONE", "ERROR") else None

    status = wait_for(done, 240, 1.0, "batch inference")
    print(f"batch infer (5 images, child process): {time.monotonic() - t0:.1f}s")
    assert status["status"] == "DONE", status
    objects = st.client.datastore()["objects"]
    for image_id in ("001", "002", "003", "004"):
        original = objects[image_id]["labels"].get("original")
        assert original, image_id
        assert original["info"]["params"]["image"] == image_id
    assert "original" not in objects["corrupt"]["labels"]
    same_as_predictor(objects["003"]["labels"]["original"]["info"]["params"]["landmarks"], st.model,
                      st.studies / "003.jpg")


# -- 7. training, infer during training, reload of the published model -----------------------
def test_train_publishes_and_next_infer_uses_it(st):
    published = st.model_dir / "cephalometric.pth"
    assert not published.exists()
    t0 = time.monotonic()
    # two stages (head only, then the backbone too); "cuda" falls back to the CPU without a GPU
    started = st.client.train_start("cephalometric", {"epochs": 2, "unfreeze_after": 1, "image_size": IMAGE_SIZE,
                                                      "batch_size": 2, "val_fraction": 0.0, "device": "cuda"})
    assert started["status"] in ("SUBMITTED", "RUNNING")

    def running():
        try:
            return st.client.train_status(check_if_running=True)
        except Exception:
            return None

    wait_for(running, 60, 0.2, "the training process")
    t1 = time.monotonic()
    _, params = st.client.infer("cephalometric", "003", {})  # answered while training runs
    print(f"infer during training: {time.monotonic() - t1:.2f}s")
    assert params["image"] == "003" and params["model_origin"] == "configured"
    assert running(), "training ended before the infer answer: cannot show concurrency"

    def finished():
        s = st.client.train_status()
        return s if s["status"] in ("DONE", "ERROR") else None

    status = wait_for(finished, 400, 1.0, "training")
    print(f"training (2 epochs, child process): {time.monotonic() - t0:.1f}s")
    assert status["status"] == "DONE", "\n".join(status.get("details", []))
    assert published.is_file()

    info = st.client.info()
    stats = info["train_stats"]["cephalometric"]
    assert stats["published_path"] == str(published) and stats["images"] == 2
    assert [h["stage"] for h in stats["history"]] == [1, 2]
    assert info["cephmark"]["models"]["cephalometric"]["origin"] == "published"

    # the edited positions were the training targets
    rows = list(csv.DictReader(open(Path(stats["run_dir"]) / "annotations.csv")))
    by = {(Path(r["image"]).stem, r["landmark"]): (float(r["x"]), float(r["y"])) for r in rows}
    name, (x, y) = st.moved
    assert by[("001", name)] == pytest.approx((x, y), abs=0.2)
    name2, (x2, y2) = st.moved_002
    assert by[("002", name2)] == pytest.approx((x2, y2), abs=1e-6)

    _, after = st.client.infer("cephalometric", "001", {})
    assert after["model_origin"] == "published" and after["model_path"] == str(published)
    same_as_predictor(after["landmarks"], published, st.studies / "001.jpg")
    assert set(after["label_names"]) == set(stats["landmarks"])


# -- 8. restart ------------------------------------------------------------------------------
def test_restart_keeps_labels_and_model(st):
    saved = Path(st.studies / "labels" / "final" / "001.nii.gz").read_bytes()
    st.server.stop()
    st.server.start()
    objects = st.client.datastore()["objects"]
    assert set(objects["001"]["labels"]) >= {"final", "original"}
    assert objects["002"]["labels"]["final"]["ext"] == ".mrk.json"
    downloaded = st.client.download_label("001", "final")
    assert Path(downloaded).read_bytes() == saved
    assert st.client.info()["cephmark"]["models"]["cephalometric"]["origin"] == "published"
