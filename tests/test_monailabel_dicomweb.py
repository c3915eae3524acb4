"""The MONAI Label app on a DICOMweb datastore: a private Orthanc with DX series.

Orthanc (Debian packages orthanc + orthanc-dicomweb, scripts/install_orthanc.sh) is started on
loopback from a temporary config (scripts/start_orthanc.sh); DX/CR DICOM files written with
pydicom from the shared ISBI images (PixelSpacing 0.1 mm) and one CT are uploaded; the app
is started with ``--studies http://127.0.0.1:PORT/dicom-web`` and must list the radiographs
only, infer with mm = px * 0.1, and keep a final label although dcmqi is not installed.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from monailabel_helpers import (APP_DIR, ISBI_IMAGES, Orthanc, Server, orthanc_binary, orthanc_plugin, tiny_checkpoint,
                                write_dicom)
from parity import predictor_tolerances  # noqa: E402

pytestmark = [
    pytest.mark.skipif(orthanc_binary() is None,
                       reason="Orthanc is not installed (scripts/install_orthanc.sh installs it from Debian)"),
    pytest.mark.skipif(orthanc_plugin() is None,
                       reason="Orthanc's DICOMweb plugin is not installed (Debian package orthanc-dicomweb)"),
    pytest.mark.skipif(not (ISBI_IMAGES / "001.jpg").is_file(),
                       reason=f"shared ISBI images not found in {ISBI_IMAGES}"),
]

IMAGE_SIZE = 256


@pytest.fixture(scope="module")
def pacs(tmp_path_factory):
    root = tmp_path_factory.mktemp("dicomweb")
    orthanc = Orthanc(root / "orthanc").start()
    files = {}
    for name, modality in (("006", "DX"), ("007", "CR"), ("008", "CT")):
        path = root / f"{name}.dcm"
        ds = write_dicom(ISBI_IMAGES / f"{name}.jpg", path, modality=modality, spacing=0.1, patient=f"P{name}")
        orthanc.upload(path)
        files[modality] = (str(ds.SeriesInstanceUID), path)
    model = tiny_checkpoint(root / "tiny.pth", seed=1)
    server = Server(orthanc.dicomweb, {"models": "cephalometric", "cldetection_model": model,
                                       "image_size": IMAGE_SIZE, "model_dir": root / "models"},
                    root / "run", env={"MONAI_LABEL_AUTO_UPDATE_SCORING": "false",
                                       "MONAI_LABEL_DICOMWEB_CACHE_PATH": str(root / "cache")}).start()
    yield {"root": root, "orthanc": orthanc, "server": server, "files": files, "model": model,
           "client": server.client(root / "client")}
    server.stop()
    orthanc.stop()


def test_lists_radiograph_series_only(pacs):
    info = pacs["client"].info()
    assert info["datastore"]["total"] == 2  # DX and CR, not the CT
    assert not (APP_DIR / "bin" / "itkimage2segimage").exists()  # nothing downloaded at start


def test_infer_on_dx_series_with_spacing(pacs):
    import SimpleITK as sitk

    from cephmark.config import CephConfig
    from cephmark.inference import LandmarkPredictor

    series, dcm = pacs["files"]["DX"]
    t0 = time.monotonic()
    label_file, params = pacs["client"].infer("cephalometric", series, {})
    print(f"DICOMweb infer (download + convert + infer): {time.monotonic() - t0:.1f}s")
    assert params["image"] == series
    assert params["spacing_mm"] == pytest.approx(0.1) and params["mm_per_px"] == pytest.approx(0.1)
    pred = LandmarkPredictor(str(pacs["model"]), CephConfig(), {"preprocess.image_size": IMAGE_SIZE})
    ref = pred.predict([dcm])[0]
    tols = predictor_tolerances(pred, dcm)  # per peak: the server's heatmaps differ by float order
    assert np.isfinite(tols).sum() >= len(tols) // 2
    for got, exp, tol in zip(params["landmarks"], ref.landmarks, tols):
        assert got["name"] == exp.name
        if not np.isfinite(tol):
            continue
        assert got["found"] == exp.found
        if exp.found:
            assert got["x"] == pytest.approx(exp.x, abs=tol) and got["y"] == pytest.approx(exp.y, abs=tol)
            assert got["x_mm"] == pytest.approx(got["x"] * 0.1, abs=1e-9)
            assert got["y_mm"] == pytest.approx(got["y"] * 0.1, abs=1e-9)
    # the label map sits on MONAI Label's converted volume: (W, H, 1), same geometry
    nii = next((pacs["root"] / "cache").rglob(f"{series}.nii.gz"))
    vol = sitk.ReadImage(str(nii))
    lab = sitk.ReadImage(label_file)
    assert lab.GetSize() == vol.GetSize() == (ref.width, ref.height, 1)
    assert np.allclose(lab.GetOrigin(), vol.GetOrigin()) and np.allclose(lab.GetDirection(), vol.GetDirection())
    arr = sitk.GetArrayFromImage(lab)
    assert set(np.unique(arr)) - {0} <= set(range(1, 39)) and arr.max() > 0


def test_final_label_kept_and_strategy_picks_other_series(pacs):
    client = pacs["client"]
    dx, _ = pacs["files"]["DX"]
    cr, _ = pacs["files"]["CR"]
    label_file, _ = client.infer("cephalometric", dx, {})
    client.save_label(dx, label_file, tag="final")
    info = client.info()
    assert info["datastore"]["completed"] == 1
    sample = client.next_sample("uncertainty", {})
    assert sample["id"] == cr
    with pytest.raises(Exception) as err:
        client.infer("cephalometric", "../" + dx, {})
    assert "400" in getattr(err.value, "msg", str(err.value))
    mk_file, params = client.infer("cephalometric", cr, {"markups": True})
    doc = json.loads(open(mk_file).read())
    assert len(doc["markups"][0]["controlPoints"]) == 38
