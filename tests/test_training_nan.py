"""Training never publishes NaN: a diverging run (``--lr 1e12``) stops before writing anything
of the diverged epoch, with a clear message and no traceback; the last good last.pth is kept."""
from __future__ import annotations

import pytest

from cephmark.models.checkpoint import read_checkpoint, sha256_file

from test_training_helpers import (  # noqa: F401
    IMAGES, N, finetune_cmd, ls4, needs_data, run_cli, tiny_ckpt,
)

pytestmark = needs_data


def _args(ckpt, ann, out, *extra):
    return finetune_cmd("--cldetection-model", ckpt, "--annotations", ann, "--image-dir", IMAGES,
                        "--image-size", N, "--batch-size", 2, "--landmarks", "p1,p2",
                        "--init-from", "nasion,nasion", "--val-fraction", "0.25", "--seed", 0,
                        "--workers", 0, "--output", out, *extra)


def test_divergence_from_the_start_writes_no_checkpoint(tiny_ckpt, ls4, tmp_path):
    out = tmp_path / "out"
    proc = run_cli(_args(tiny_ckpt, ls4, out, "--epochs", 2, "--lr", "1e12"))
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "training diverged in epoch 1" in proc.stderr, proc.stderr[-3000:]
    assert "no checkpoint was written" in proc.stderr and "Traceback" not in proc.stderr
    assert not list(out.glob("*.pth")) and not list(out.glob(".*.tmp"))


def test_divergence_after_a_good_epoch_keeps_the_last_good_checkpoint(tiny_ckpt, ls4, tmp_path):
    out = tmp_path / "out"
    good = run_cli(_args(tiny_ckpt, ls4, out, "--epochs", 1, "--lr", "0.001"))
    assert good.returncode == 0, good.stderr[-3000:]
    before = {p.name: sha256_file(p) for p in out.glob("*.pth")}
    assert "last.pth" in before and len(before) == 2
    bad = run_cli(_args(tiny_ckpt, ls4, out, "--epochs", 3, "--lr", "1e12", "--resume", out / "last.pth"))
    assert bad.returncode == 1, bad.stderr[-3000:]
    assert "training diverged in epoch 2" in bad.stderr and "Traceback" not in bad.stderr
    assert "the last good checkpoints are kept" in bad.stderr and "last.pth" in bad.stderr
    assert {p.name: sha256_file(p) for p in out.glob("*.pth")} == before  # nothing overwritten
    ckpt = read_checkpoint(out / "last.pth")
    assert ckpt["epoch"] == 1
    assert all(bool(v.isfinite().all()) for v in ckpt["state_dict"].values() if v.is_floating_point())
