"""``cephmark predict --dicomweb``: batch inference over a real Orthanc (Debian, DICOMweb plugin).

Two DX studies (one JPEG-LS compressed by dcmtk when it is installed), a CR and a CT are
uploaded; the query picks the radiographs; SRs are stored back (STOW-RS) and a rerun skips the
series that have one.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pydicom
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from monailabel_helpers import Orthanc, orthanc_binary, orthanc_plugin, tiny_checkpoint, write_dicom  # noqa: E402

from cephmark.cli.main import main  # noqa: E402
from cephmark.io.dicomweb import connect  # noqa: E402
from cephmark.io.sr import read_sr_landmarks  # noqa: E402

pytestmark = [
    pytest.mark.skipif(orthanc_binary() is None, reason="Orthanc is not installed (scripts/install_orthanc.sh)"),
    pytest.mark.skipif(orthanc_plugin() is None, reason="Orthanc's DICOMweb plugin is not installed"),
    pytest.mark.usefixtures("torch_threads"),
]
SAMPLES = Path(__file__).resolve().parents[1] / "samples"


@pytest.fixture(scope="module")
def pacs(tmp_path_factory):
    root = tmp_path_factory.mktemp("batch")
    orthanc = Orthanc(root / "orthanc").start()
    series = {}
    for key, jpg, modality, date in (("dx1", "isbi_151_half.jpg", "DX", "20240105"),
                                     ("dx2", "isbi_152_half.jpg", "DX", "20240620"),
                                     ("cr", "isbi_151_half.jpg", "CR", "20230101"),
                                     ("ct", "isbi_152_half.jpg", "CT", "20240105")):
        path = root / f"{key}.dcm"
        ds = write_dicom(SAMPLES / jpg, path, modality=modality, spacing=0.2, patient=key.upper())
        ds.StudyDate = date
        ds.save_as(str(path), write_like_original=False)
        if key == "dx2" and shutil.which("dcmcjpls"):
            subprocess.run(["dcmcjpls", str(path), str(root / "dx2_jls.dcm")], check=True, capture_output=True)
            path = root / "dx2_jls.dcm"
        orthanc.upload(path)
        series[key] = (str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID))
    yield {"root": root, "orthanc": orthanc, "series": series, "model": tiny_checkpoint(root / "tiny.pth")}
    orthanc.stop()


def _predict(capsys, pacs, *args) -> tuple[int, dict | None, str]:
    out = pacs["root"] / "out.json"
    out.unlink(missing_ok=True)
    rc = main(["predict", "--dicomweb", pacs["orthanc"].dicomweb, "--checkpoint", str(pacs["model"]),
               "--image-size", "64", "--device", "cpu", "--out", str(out), *map(str, args)])
    err = capsys.readouterr().err
    return rc, json.loads(out.read_text()) if out.exists() else None, err


def _our_srs(pacs) -> list[pydicom.Dataset]:
    client = connect(pacs["orthanc"].dicomweb)
    out = []
    for entry in client.search_for_series(search_filters={"Modality": "SR"}):
        study, series = entry["0020000D"]["Value"][0], entry["0020000E"]["Value"][0]
        out += client.retrieve_series(study, series)
    return out


def test_query_store_sr_and_resume(capsys, pacs):
    rc, res, err = _predict(capsys, pacs, "--store-sr", "--study-date", "20240101-20241231")
    assert rc == 0, err
    images = {r["image"] for r in res["images"]}
    dx1, dx2 = pacs["series"]["dx1"], pacs["series"]["dx2"]
    base = pacs["orthanc"].dicomweb
    assert {i.rsplit("/instances/", 1)[0] for i in images} == {f"{base}/studies/{s}/series/{r}" for s, r in (dx1, dx2)}
    srs = _our_srs(pacs)
    assert len(srs) == 2
    by_series = {}
    for sr in srs:
        got = read_sr_landmarks(sr)
        by_series[got.referenced_series_uid] = got
    for r in res["images"]:
        series_uid = r["image"].split("/series/")[1].split("/")[0]
        got = by_series[series_uid]
        for lm in r["landmarks"]:
            if lm["found"]:
                assert got.points[lm["name"]] == pytest.approx((lm["x"], lm["y"]), abs=1e-3)  # SCOORD is float32
    # a rerun skips both series (they have our SR) and stores nothing new
    rc, res, err = _predict(capsys, pacs, "--store-sr", "--study-date", "20240101-20241231")
    assert rc == 0 and res["images"] == [] and "2 series skipped" in err
    assert len(_our_srs(pacs)) == 2


def test_series_selection_and_modality(capsys, pacs):
    study, series = pacs["series"]["cr"]
    rc, res, err = _predict(capsys, pacs, "--series", series)
    assert rc == 0, err
    assert [r["image"].split("/series/")[1].split("/")[0] for r in res["images"]] == [series]
    rc, res, err = _predict(capsys, pacs, "--modality", "CR")
    assert rc == 0 and len(res["images"]) == 1
    rc, res, err = _predict(capsys, pacs, "--study", pacs["series"]["ct"][0])  # a CT study: no DX/CR/SC
    assert rc == 0 and res["images"] == []


def test_bad_options_are_named(capsys, pacs, tmp_path):
    rc, res, err = _predict(capsys, pacs, "--study-date", "2024")
    assert rc == 2 and "study date range must be YYYYMMDD" in err and res is None
    assert main(["predict", str(SAMPLES / "isbi_151_half.jpg"), "--store-sr"]) == 2
    assert "--store-sr needs --dicomweb URL" in capsys.readouterr().err
    rc = main(["predict", "--dicomweb", "http://127.0.0.1:9/dicom-web", "--checkpoint", str(pacs["model"]),
               "--image-size", "64", "--device", "cpu"])
    assert rc == 2 and "http://127.0.0.1:9/dicom-web: QIDO series" in capsys.readouterr().err


def test_analyze_stores_sr_with_calibration_and_measurements(capsys, pacs):
    study, series = pacs["series"]["cr"]
    out = pacs["root"] / "analysis.json"
    small = pacs["root"] / "small.yaml"
    small.write_text("preprocess:\n  image_size: 64\n")  # the tiny model at 64 px: a fast real run
    rc = main(["analyze", "--config", str(small), "--dicomweb", pacs["orthanc"].dicomweb, "--series", series, "--store-sr",
               "--sr-style", "ohif", "--checkpoint", str(pacs["model"]), "--calibration", "none",
               "--device", "cpu", "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 0, err
    (entry,) = json.loads(out.read_text())["images"]
    assert entry["image"].startswith(f"{pacs['orthanc'].dicomweb}/studies/{study}/series/{series}/instances/")
    (sr,) = [s for s in _our_srs(pacs) if read_sr_landmarks(s).referenced_series_uid == series]
    items = list(_walk(sr.ContentSequence))
    nums = {}  # (group tracking identifier, concept) -> NUM
    for group in items:
        if group.ValueType == "CONTAINER" and group.ConceptNameCodeSequence[0].CodeValue == "125007":
            tid = [it.TextValue for it in group.ContentSequence if it.ConceptNameCodeSequence[0].CodeValue == "112039"][0]
            nums.update({(tid, it.ConceptNameCodeSequence[0].CodeValue): it
                         for it in group.ContentSequence if it.ValueType == "NUM"})
    mm = nums[("calibration", "mm_per_px")].MeasuredValueSequence[0]
    assert float(mm.NumericValue) == pytest.approx(entry["calibration"]["mm_per_px"])
    measured = [(a, n, m) for a, t in entry["measurements"].items() for n, m in t.items() if m["value"] is not None]
    assert measured, "the tiny model's points give at least some measurements"
    units = {"deg": "deg", "mm": "mm", "%": "%", "ratio": "{ratio}"}
    for analysis, name, m in measured:
        if len(name) <= 16:
            got = nums[(analysis, name)].MeasuredValueSequence[0]
            assert float(got.NumericValue) == pytest.approx(m["value"], rel=1e-6, abs=1e-3)
            assert got.MeasurementUnitsCodeSequence[0].CodeValue == units[m["unit"]]
    status = [it.ConceptCodeSequence[0].CodeMeaning for it in items
              if it.ValueType == "CODE" and it.ConceptNameCodeSequence[0].CodeValue == "cal_status"]
    assert status == [entry["calibration"]["status"]]


def _walk(items):
    for it in items:
        yield it
        yield from _walk(it.get("ContentSequence") or [])
