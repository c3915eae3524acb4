"""``cephmark finetune`` end to end (a real subprocess), then ``cephmark predict`` on its output."""
from __future__ import annotations

import json
import time

import pytest

from cephmark.cli.main import main
from cephmark.models.checkpoint import read_checkpoint, sha256_file
from cephmark.training.reporting import CSV_COLUMNS, read_metrics_csv

from test_training_helpers import (  # noqa: F401
    IMAGES, N, finetune_cmd, make_label_studio, needs_data, run_cli, tiny_ckpt,
)

pytestmark = needs_data


@pytest.fixture(scope="module")
def finetuned(tiny_ckpt, tmp_path_factory):
    """One p1/p2 fine-tune from the tiny reference-format checkpoint on 5 ISBI images (4 train)."""
    d = tmp_path_factory.mktemp("cli")
    ann = make_label_studio(d / "p1p2_5.json", 5)
    config = d / "ft.yaml"
    config.write_text("train:\n  warmup_iters: 2\n  lr_schedule: constant\n")
    out = d / "out"
    started = time.perf_counter()
    proc = run_cli(finetune_cmd(
        "--cldetection-model", tiny_ckpt, "--annotations", ann, "--image-dir", IMAGES,
        "--image-size", N, "--batch-size", 2, "--epochs", 4, "--lr", "0.002",
        "--landmarks", "p1,p2", "--init-from", "nasion,nasion", "--val-fraction", "0.2",
        "--seed", 1, "--workers", 0, "--output", out, "--config", config), threads=2)
    elapsed = time.perf_counter() - started
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, proc, elapsed, ann


def test_finetune_command_trains_and_writes_outputs(finetuned, tiny_ckpt):
    out, proc, elapsed, _ = finetuned
    print(f"fine-tune took {elapsed:.0f} s")  # a wall-clock bar fails on a busy machine: benchmarks time it
    rows = read_metrics_csv(out / "metrics.csv")
    assert list(rows[0]) == CSV_COLUMNS
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4]
    first, last = float(rows[0]["train_loss"]), float(rows[-1]["train_loss"])
    assert last < 0.8 * first, (first, last)
    assert all(float(r["mre_px"]) > 0 for r in rows) and {r["stage"] for r in rows} == {"1"}
    assert (out / "learning_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "epoch 4/4" in proc.stderr and "best checkpoint:" in proc.stdout

    best = read_checkpoint(out / "checkpoint_p1_p2_cldetection.pth")  # weights_only=True
    last_ckpt = read_checkpoint(out / "last.pth")
    for ck in (best, last_ckpt):
        assert ck["format"] == "cephmark" and ck["landmark_names"] == ["p1", "p2"]
        assert ck["preprocess"]["image_size"] == N and ck["preprocess"]["antialias"] is True
        assert ck["source_sha256"] == sha256_file(tiny_ckpt)
        assert set(ck["versions"]) >= {"torch", "timm", "monai", "numpy", "cephmark"}
        assert ck["train_config"]["init_from"] == ["nasion", "nasion"]
        assert len(ck["history"]) == ck["epoch"]
    assert last_ckpt["epoch"] == 4 and "optimizer" in last_ckpt and "scheduler" in last_ckpt
    hist = last_ckpt["history"]
    assert best["epoch"] == min(hist, key=lambda h: (h["missed"], h["mre_px"]))["epoch"]
    assert [h["train_loss"] for h in last_ckpt["history"]] == pytest.approx(
        [float(r["train_loss"]) for r in rows], rel=1e-5)


def test_predict_returns_p1_p2(finetuned, capsys):
    out, _, _, _ = finetuned
    capsys.readouterr()
    code = main(["predict", str(IMAGES / "001.jpg"), "--checkpoint",
                 str(out / "checkpoint_p1_p2_cldetection.pth"), "--no-flip", "--device", "cpu"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    (image,) = result["images"]
    assert [lm["name"] for lm in image["landmarks"]] == ["p1", "p2"]
    assert (image["width"], image["height"]) == (1935, 2400)


def test_annotation_errors_stop_training(tmp_path, tiny_ckpt, capsys):
    tasks = json.loads(make_label_studio(tmp_path / "a.json", 3).read_text())
    tasks[1]["file_upload"] = "deadbeef-missing.jpg"
    tasks[1]["data"]["image"] = "/data/upload/deadbeef-missing.jpg"
    (tmp_path / "a.json").write_text(json.dumps(tasks))
    code = main(["finetune", "--cldetection-model", str(tiny_ckpt), "--annotations",
                 str(tmp_path / "a.json"), "--image-dir", str(IMAGES), "--output", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code != 0 and "missing.jpg" in err and "not found" in err
    assert not (tmp_path / "o").exists()


def test_unknown_landmark_is_named(tmp_path, tiny_ckpt, capsys):
    ann = make_label_studio(tmp_path / "a.json", 3)
    code = main(["finetune", "--cldetection-model", str(tiny_ckpt), "--annotations", str(ann),
                 "--image-dir", str(IMAGES), "--landmarks", "p1,p3,sella", "--output", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code != 0 and "'p3'" in err and "'sella'" in err and "'p1'" not in err


def test_nothing_to_train_from(tmp_path, capsys):
    ann = make_label_studio(tmp_path / "a.json", 2)
    code = main(["finetune", "--annotations", str(ann), "--image-dir", str(IMAGES),
                 "--output", str(tmp_path / "o")])
    assert code != 0 and "--cldetection-model" in capsys.readouterr().err
