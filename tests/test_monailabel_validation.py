"""The MONAI Label server checks what it stores and what it is asked: labels validated on upload
(readable, a label map / markups with a landmark, a size limit), a label of another extension
replaces the old file, bad parameters are 4xx, image ids resolve only inside the datastore.
A real server process driven by MONAI Label's client (tiny random model)."""
from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from monailabel_helpers import ISBI_IMAGES, Server, tiny_checkpoint  # noqa: E402

pytestmark = pytest.mark.skipif(not (ISBI_IMAGES / "001.jpg").is_file(),
                                reason=f"shared ISBI images not found in {ISBI_IMAGES}")


class State:
    pass


@pytest.fixture(scope="module")
def st(tmp_path_factory):
    root = tmp_path_factory.mktemp("validation")
    s = State()
    s.root, s.studies = root, root / "studies"
    s.studies.mkdir()
    for name in ("001", "002"):
        shutil.copy(ISBI_IMAGES / f"{name}.jpg", s.studies / f"{name}.jpg")
    s.server = Server(s.studies, {"models": "cephalometric", "cldetection_model": tiny_checkpoint(root / "t.pth"),
                                  "image_size": 128, "model_dir": root / "models"},
                      root / "run", env={"MONAI_LABEL_AUTO_UPDATE_SCORING": "false"}).start()
    s.client = s.server.client(root / "client")
    yield s
    s.server.stop()


def status_of(call) -> tuple[int, str]:
    with pytest.raises(Exception) as err:
        call()
    msg = getattr(err.value, "msg", str(err.value))
    return (int(msg.split("Status: ")[1].split(";")[0]) if "Status: " in msg else -1), msg


def test_labels_are_validated_on_upload(st):
    labels = st.studies / "labels" / "final"
    garbage = st.root / "garbage.nii.gz"
    garbage.write_bytes(os.urandom(4096))
    code, msg = status_of(lambda: st.client.save_label("001", str(garbage), tag="final"))
    assert code == 422 and "label for image '001' refused: not a readable label map" in msg, msg
    zeros = st.root / "zeros.nii"
    with open(zeros, "wb") as fh:  # 50 MB of zeros
        fh.truncate(50 * 2**20)
    code, msg = status_of(lambda: st.client.save_label("001", str(zeros), tag="final"))
    assert code == 413 and "over the 32 MB limit" in msg, msg

    label_map, params = st.client.infer("cephalometric", "001", {})
    import SimpleITK as sitk

    good = sitk.ReadImage(label_map)
    empty = sitk.Image(good.GetSize(), good.GetPixelID())  # same grid, all zero
    empty.CopyInformation(good)
    empty_path = st.root / "empty.nii.gz"
    sitk.WriteImage(empty, str(empty_path))
    code, msg = status_of(lambda: st.client.save_label("001", str(empty_path), tag="final"))
    assert code == 422 and "holds no landmark" in msg, msg
    no_points = st.root / "none.mrk.json"
    no_points.write_text(json.dumps({"markups": [{"type": "Fiducial", "controlPoints": []}]}))
    code, msg = status_of(lambda: st.client.save_label("001", str(no_points), tag="final"))
    assert code == 422 and "holds no landmark" in msg, msg
    assert not labels.exists() or not list(labels.iterdir())  # nothing stored
    assert st.client.info()["datastore"]["completed"] == 0

    # a good markups label, then a good label map of the same image: the old file goes
    mk_file, _ = st.client.infer("cephalometric", "001", {"markups": True})
    st.client.save_label("001", mk_file, tag="final")
    assert sorted(p.name for p in labels.iterdir()) == ["001.mrk.json"]
    st.client.save_label("001", label_map, tag="final")
    assert sorted(p.name for p in labels.iterdir()) == ["001.nii.gz"]
    assert st.client.datastore()["objects"]["001"]["labels"]["final"]["ext"] == ".nii.gz"
    assert st.client.info()["datastore"]["completed"] == 1


def test_bad_parameters_are_400(st):
    for params, expect in [({"result_dtype": "object"}, "result_dtype 'object' not supported"),
                           ({"result_extension": ".exe"}, "result_extension '.exe' not supported"),
                           ({"disc_radius": "wide"}, "disc_radius 'wide'"),
                           ({"markups": "maybe"}, "markups: not a boolean")]:
        code, msg = status_of(lambda: st.client.infer("cephalometric", "002", params))
        assert code == 400 and expect in msg, (params, msg)
    r = requests.post(f"{st.server.url}/infer/cephalometric", params={"image": "002"},
                      data={"params": "{not json"}, timeout=60)
    assert r.status_code == 400 and "params is not valid JSON" in r.text, r.text
    _, params = st.client.infer("cephalometric", "002", {"result_dtype": "uint16"})  # still serving
    assert params["image"] == "002"


def test_image_ids_resolve_only_inside_the_datastore(st):
    tmp = Path(tempfile.gettempdir())
    real = tmp / f"cephmark_probe_{uuid.uuid4().hex[:8]}.jpg"
    shutil.copy(ISBI_IMAGES / "003.jpg", real)
    old_upload_like = tmp / f"tmp{uuid.uuid4().hex[:8]}.jpg"
    shutil.copy(ISBI_IMAGES / "003.jpg", old_upload_like)
    os.utime(old_upload_like, (time.time() - 3600, time.time() - 3600))
    missing = tmp / f"cephmark_probe_{uuid.uuid4().hex[:8]}.jpg"
    try:
        answers = []
        for path in (real, old_upload_like, missing):
            r = requests.post(f"{st.server.url}/infer/cephalometric", params={"image": str(path)},
                              data={"params": "{}"}, timeout=60)
            answers.append((r.status_code, r.json()["detail"].replace(str(path), "PATH")))
            # the same path smuggled in through params
            r = requests.post(f"{st.server.url}/infer/cephalometric", params={"image": "002"},
                              data={"params": json.dumps({"image": str(path)})}, timeout=60)
            answers.append((r.status_code, r.json()["detail"].replace(str(path), "PATH")))
        assert all(code == 400 for code, _ in answers), answers
        assert len({a for a in answers}) == 1, answers  # existing or not: the same answer
    finally:
        real.unlink(missing_ok=True)
        old_upload_like.unlink(missing_ok=True)
    # an uploaded file (MONAI Label writes it to a fresh temporary file) still works
    r = requests.post(f"{st.server.url}/infer/cephalometric", params={"output": "json"},
                      files={"file": ("x.jpg", (ISBI_IMAGES / "003.jpg").read_bytes())},
                      data={"params": "{}"}, timeout=120)
    assert r.status_code == 200, r.text
    assert len(r.json()["landmarks"]) == 38
