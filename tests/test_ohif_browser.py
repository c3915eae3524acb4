"""OHIF in a real browser: Debian's chromium, headless, driven by playwright (pip; no browser
download: ``executable_path=/usr/bin/chromium``), against the OHIF build that ships inside
monailabel, served at /ohif/ by the MONAI Label server, which proxies DICOMweb to Orthanc.

1. A DX is uploaded to Orthanc, ``cephmark predict --dicomweb --store-sr`` (the bundled starter
   model) stores its SR, OHIF opens the study, the SR is opened and every landmark name must be
   on the page; the screenshot is kept (README "OHIF").
2. A 9x9 DX: an arrow is drawn in OHIF with its tip at the centre of the viewport (the centre of
   the middle pixel, (4, 4) in cephmark's pixel-centre convention), labelled "sella", saved by
   OHIF ("Create SR"); that OHIF-written SR, read back from Orthanc, is a training label with
   sella at (4, 4): OHIF writes SCOORD with (0, 0) at the top-left corner of the first pixel,
   as the standard does (PS3.3 C.18.6.1.1), and cephmark reads it with the same convention.
"""
from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from monailabel_helpers import (Orthanc, Server, orthanc_binary, orthanc_plugin, tiny_checkpoint,  # noqa: E402
                                wait_for)
from test_io_dicom import write_dicom  # noqa: E402

CHROMIUM = os.environ.get("CEPHMARK_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "isbi_153_half.dcm"

try:
    import playwright.sync_api  # noqa: F401
    HAVE_PLAYWRIGHT = True
except ImportError:
    HAVE_PLAYWRIGHT = False

pytestmark = [
    pytest.mark.skipif(not HAVE_PLAYWRIGHT, reason="playwright is not installed (requirements.txt)"),
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} not found (scripts/install_pacs_tools.sh)"),
    pytest.mark.skipif(orthanc_binary() is None or orthanc_plugin() is None,
                       reason="Orthanc with its DICOMweb plugin is not installed (scripts/install_orthanc.sh)"),
]


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """Orthanc with the sample DX (+ cephmark's SR) and a 9x9 DX; the MONAI Label server."""
    import pydicom
    from pydicom.uid import generate_uid

    from cephmark.cli.main import main

    root = tmp_path_factory.mktemp("ohif")
    orthanc = Orthanc(root / "orthanc").start()
    orthanc.upload(SAMPLE)
    sample = pydicom.dcmread(SAMPLE, stop_before_pixels=True)
    grid = (np.arange(81).reshape(9, 9) * 3).astype(np.uint8)
    (root / "small").mkdir()
    small = write_dicom(root / "small" / "small.dcm", grid, bits_allocated=8, PixelSpacing=[1.0, 1.0],
                        StudyInstanceUID=generate_uid(), SeriesInstanceUID=generate_uid(), PatientID="GRID9",
                        StudyDate="20250101")
    orthanc.upload(small)
    rc = main(["predict", "--dicomweb", orthanc.dicomweb, "--series", str(sample.SeriesInstanceUID),
               "--store-sr", "--device", "cpu", "--out", str(root / "sample.json")])
    assert rc == 0
    server = Server(orthanc.dicomweb, {"models": "cephalometric", "cldetection_model": tiny_checkpoint(root / "tiny.pth"),
                                       "image_size": 64, "model_dir": root / "models"}, root / "server",
                    env={"MONAI_LABEL_AUTO_UPDATE_SCORING": "false",
                         "MONAI_LABEL_DICOMWEB_CACHE_PATH": str(root / "cache")}).start()
    yield {"root": root, "orthanc": orthanc, "server": server, "sample": sample, "small": small,
           "small_ds": pydicom.dcmread(small, stop_before_pixels=True), "results": root / "sample.json"}
    server.stop()
    orthanc.stop()


@pytest.fixture
def page(stack):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(60_000)
        yield page
        browser.close()


def _open_study(page, stack, study: str) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.goto(f"{stack['server'].url}/ohif/viewer?StudyInstanceUIDs={study}", wait_until="networkidle")
    try:  # OHIF's "investigational use" banner covers the bottom of the viewport
        page.get_by_text("Confirm and Hide").click(timeout=15_000)
    except PlaywrightTimeout:
        pass  # not shown (e.g. already confirmed in this profile)


def test_ohif_shows_cephmark_sr_landmarks(stack, page):
    import json

    names = [lm["name"] for lm in json.loads(stack["results"].read_text())["images"][0]["landmarks"] if lm["found"]]
    assert len(names) >= 15
    _open_study(page, stack, str(stack["sample"].StudyInstanceUID))
    page.get_by_text("cephmark landmarks").first.dblclick()  # the SR series thumbnail
    page.get_by_text(f": {names[0]}", exact=False).first.wait_for()
    text = page.inner_text("body")
    missing = [n for n in names if f"363698007: {n}" not in text]
    assert not missing, f"landmarks not shown by OHIF: {missing}"
    shot = stack["root"] / "ohif_sr.png"
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 50_000
    if os.environ.get("CEPHMARK_SCREENSHOT"):  # how the README's screenshot was made
        shutil.copy(shot, os.environ["CEPHMARK_SCREENSHOT"])


def test_ohif_edited_sr_is_a_training_label(stack, page, tmp_path):
    from cephmark.annotations import read_annotations
    from cephmark.io.dicomweb import connect

    small = stack["small_ds"]
    _open_study(page, stack, str(small.StudyInstanceUID))
    page.locator('[data-cy="MeasurementTools-split-button-secondary"]').click()
    page.locator('[data-cy="ArrowAnnotate"]').click()
    box = page.locator('[data-cy="viewport-pane"]').first.bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.click(cx, cy)  # the arrow's tip: the centre of the middle pixel of the 9x9 image
    page.mouse.click(cx + 120, cy + 80)  # its tail
    page.locator('[data-cy="input-annotation"]').fill("sella")
    page.get_by_role("button", name="Save").click()
    page.locator('[data-cy="prompt-begin-tracking-yes-btn"]').click()
    page.locator('[data-cy="trackedMeasurements-btn"]').click()
    page.get_by_role("button", name="Create SR").click()
    page.locator("input").last.fill("OHIF edit")
    page.get_by_role("button", name="Save").last.click()

    client = connect(stack["orthanc"].dicomweb)

    def ohif_sr():
        for entry in client.search_for_series(str(small.StudyInstanceUID), search_filters={"Modality": "SR"}):
            return client.retrieve_series(str(small.StudyInstanceUID), entry["0020000E"]["Value"][0])
        return None

    (sr,) = wait_for(ohif_sr, 60, 1.0, "the SR OHIF stores")
    assert sr.get("Manufacturer") != "cephmark"
    labels = tmp_path / "labels"
    labels.mkdir()
    sr.save_as(str(labels / "ohif.dcm"), write_like_original=False)
    ann = read_annotations(labels, stack["small"].parent)
    (image,) = ann.images
    assert image.image_path.name == "small.dcm" and list(image.points) == ["sella"]
    x, y = image.points["sella"]
    assert (x, y) == pytest.approx((4.0, 4.0), abs=0.05), "OHIF's SCOORD convention differs from PS3.3 C.18.6.1.1"
