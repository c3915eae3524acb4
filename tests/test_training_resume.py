"""A run killed with SIGKILL mid-epoch and resumed from last.pth ends in exactly the state of an
uninterrupted run with the same seed; no truncated checkpoint is ever left behind."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time

import torch

from cephmark.models.checkpoint import read_checkpoint

from test_training_helpers import (  # noqa: F401
    IMAGES, N, cli_env, finetune_cmd, ls4, needs_data, run_cli, tiny_ckpt,
)

pytestmark = needs_data

EPOCHS = 3


def _args(ckpt, ann, out, *extra):
    # unfreeze after epoch 1: the resumed part includes the stage switch and backbone Adam state;
    # strong augmentation so that the per-epoch re-seeding matters
    return finetune_cmd(
        "--cldetection-model", ckpt, "--annotations", ann, "--image-dir", IMAGES,
        "--image-size", N, "--batch-size", 2, "--epochs", EPOCHS, "--unfreeze-after", 1,
        "--val-fraction", "0.25", "--seed", 7, "--workers", 0, "--deterministic",
        "--device", "cpu", "--patience", 0, "--output", out, *map(str, extra))


class _Reader(threading.Thread):
    """Collects a pipe's output (tqdm writes '\\r' updates, not lines)."""

    def __init__(self, pipe):
        super().__init__(daemon=True)
        self.pipe, self.text, self.lock = pipe, "", threading.Lock()

    def run(self):
        while chunk := os.read(self.pipe.fileno(), 4096):
            with self.lock:
                self.text += chunk.decode(errors="replace")


def test_sigkill_mid_epoch_then_resume_matches_uninterrupted_run(tiny_ckpt, ls4, tmp_path):
    full_out, killed_out = tmp_path / "full", tmp_path / "killed"
    # the uninterrupted run and the run to be killed go side by side (one thread each)
    full = subprocess.Popen(_args(tiny_ckpt, ls4, full_out), env=cli_env(1),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    victim = subprocess.Popen(_args(tiny_ckpt, ls4, killed_out), env=cli_env(1),
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    full_err, victim_err = _Reader(full.stderr), _Reader(victim.stderr)
    full_err.start()
    victim_err.start()
    # kill once epoch 2 has finished its first step (tqdm shows "1/2") and is into the second
    pattern = re.compile(rf"epoch 2/{EPOCHS}:[^\r\n]*\| 1/2 ")
    deadline = time.monotonic() + 150
    while not pattern.search(victim_err.text):
        assert victim.poll() is None, victim_err.text[-2000:]
        assert time.monotonic() < deadline, victim_err.text[-2000:]
        time.sleep(0.02)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    assert victim.returncode == -signal.SIGKILL

    # killed mid-epoch 2: last.pth is epoch 1's, and every .pth there loads
    files = sorted(p.name for p in killed_out.glob("*.pth"))
    assert files == ["checkpoint_p1_p2_cldetection.pth", "last.pth"]
    for p in killed_out.glob("*.pth"):
        read_checkpoint(p)
    assert read_checkpoint(killed_out / "last.pth")["epoch"] == 1

    resumed = run_cli(_args(tiny_ckpt, ls4, killed_out, "--resume", killed_out / "last.pth"),
                      threads=1)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert full.wait(timeout=200) == 0, full_err.text[-3000:]
    full_err.join(5)

    a, b = read_checkpoint(full_out / "last.pth"), read_checkpoint(killed_out / "last.pth")
    assert a["epoch"] == b["epoch"] == EPOCHS
    assert a["state_dict"].keys() == b["state_dict"].keys()
    different = [k for k in a["state_dict"] if not torch.equal(a["state_dict"][k], b["state_dict"][k])]
    assert not different, different[:10]
    assert [h["train_loss"] for h in a["history"]] == [h["train_loss"] for h in b["history"]]
    assert [h["val_loss"] for h in a["history"]] == [h["val_loss"] for h in b["history"]]
    for k, st in a["optimizer"]["state"].items():
        assert torch.equal(st["exp_avg_sq"], b["optimizer"]["state"][k]["exp_avg_sq"])
    # and the model did train: the backbone moved in stage 2
    src = read_checkpoint(tiny_ckpt)["state_dict"]
    assert not torch.equal(src["backbone.conv1.weight"], a["state_dict"]["backbone.conv1.weight"])
    for p in killed_out.iterdir():  # no temporary leftovers, every checkpoint loads
        assert not p.name.endswith(".tmp"), p
        if p.suffix == ".pth":
            read_checkpoint(p)
