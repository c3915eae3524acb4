"""The MONAI Label app on a DICOMweb datastore with DICOM SR: batch inference stores SRs in
Orthanc; an SR on the server that labels a series (here one shaped as OHIF saves it, two-pair
POINTs) makes that series labelled and is the label training reads; a saved final label is
stored as an SR too.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import pydicom
import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from monailabel_helpers import (ISBI_IMAGES, Orthanc, Server, orthanc_binary, orthanc_plugin,  # noqa: E402
                                tiny_checkpoint, wait_for, write_dicom)
from test_io_sr import ohif_saved_sr  # noqa: E402

from cephmark.io.dicomweb import connect  # noqa: E402
from cephmark.io.sr import FINAL_LABEL_DESCRIPTION, MANUFACTURER, SERIES_DESCRIPTION, read_sr_landmarks  # noqa: E402

pytestmark = [
    pytest.mark.skipif(orthanc_binary() is None or orthanc_plugin() is None,
                       reason="Orthanc with its DICOMweb plugin is not installed (scripts/install_orthanc.sh)"),
    pytest.mark.skipif(not (ISBI_IMAGES / "001.jpg").is_file(), reason=f"shared ISBI images not found in {ISBI_IMAGES}"),
]


@pytest.fixture(scope="module")
def pacs(tmp_path_factory):
    root = tmp_path_factory.mktemp("app_sr")
    orthanc = Orthanc(root / "orthanc").start()
    files = {}
    for name in ("011", "012", "013"):
        path = root / f"{name}.dcm"
        ds = write_dicom(ISBI_IMAGES / f"{name}.jpg", path, modality="DX", spacing=0.1, patient=f"P{name}")
        orthanc.upload(path)
        files[name] = (str(ds.SeriesInstanceUID), path)
    server = Server(orthanc.dicomweb, {"models": "cephalometric", "cldetection_model": tiny_checkpoint(root / "tiny.pth"),
                                       "image_size": 64, "model_dir": root / "models"}, root / "run",
                    env={"MONAI_LABEL_AUTO_UPDATE_SCORING": "false",
                         "MONAI_LABEL_DICOMWEB_CACHE_PATH": str(root / "cache")}).start()
    yield {"root": root, "orthanc": orthanc, "server": server, "files": files, "client": server.client(root / "client"),
           "web": connect(orthanc.dicomweb)}
    server.stop()
    orthanc.stop()


def _srs(web, description: str) -> list[pydicom.Dataset]:
    out = []
    for e in web.search_for_series(search_filters={"Modality": "SR"}):
        for ds in web.retrieve_series(e["0020000D"]["Value"][0], e["0020000E"]["Value"][0]):
            if ds.get("Manufacturer") == MANUFACTURER and ds.get("SeriesDescription") == description:
                out.append(ds)
    return out


def test_batch_infer_stores_srs(pacs):
    url = pacs["server"].url
    r = requests.post(f"{url}/batch/infer/cephalometric", params={"images": "all"},
                      json={"device": "cpu", "label_tag": "original", "save_label": True}, timeout=60)
    assert r.status_code == 200, r.text
    status = wait_for(lambda: (lambda s: s if s.get("status") in ("DONE", "ERROR") else None)(
        requests.get(f"{url}/batch/infer/", timeout=10).json()), 300, 1.0, "batch inference")
    assert status["status"] == "DONE", status
    srs = _srs(pacs["web"], SERIES_DESCRIPTION)
    by_series = {read_sr_landmarks(sr).referenced_series_uid: read_sr_landmarks(sr) for sr in srs}
    assert set(by_series) == {s for s, _ in pacs["files"].values()}
    objects = pacs["client"].datastore()["objects"]
    series, _ = pacs["files"]["011"]
    params = objects[series]["labels"]["original"]["info"]["params"]
    for lm in params["landmarks"]:
        if lm["found"]:
            assert by_series[series].points[lm["name"]] == pytest.approx((lm["x"], lm["y"]), abs=1e-3)


def test_ohif_sr_in_pacs_is_the_final_label(pacs):
    series, dcm = pacs["files"]["012"]
    before = pacs["client"].info()["datastore"]["completed"]
    sr = ohif_saved_sr(dcm, pacs["root"] / "ohif_012.dcm", {"sella": (100.5, 200.5, 160.0, 260.0),
                                                             "nasion": (300.5, 120.5, 340.0, 180.0)})
    pacs["orthanc"].upload(sr)
    time.sleep(11)  # the datastore's listing cache (10 s)
    assert pacs["client"].info()["datastore"]["completed"] == before + 1
    train = requests.get(f"{pacs['server'].url}/datastore/", params={"output": "train"}, timeout=120).json()
    (entry,) = [e for e in train if series in str(e["image"])]
    from cephmark.app.targets import label_points

    assert label_points(entry["label"], None) == {"sella": (100.0, 200.0), "nasion": (300.0, 120.0)}


def test_final_label_is_stored_as_sr(pacs):
    series, _ = pacs["files"]["013"]
    client = pacs["client"]
    mk_file, _ = client.infer("cephalometric", series, {"markups": True})
    client.save_label(series, mk_file, tag="final")
    (sr,) = [s for s in _srs(pacs["web"], FINAL_LABEL_DESCRIPTION) if read_sr_landmarks(s).referenced_series_uid == series]
    assert len(read_sr_landmarks(sr).points) >= 1
