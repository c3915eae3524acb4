"""Two gloo processes on the CPU (torchrun): gradients synchronised, one writer."""
from __future__ import annotations

import sys
import textwrap

import torch

from cephmark.models.checkpoint import read_checkpoint
from cephmark.training.reporting import read_metrics_csv

from test_training_helpers import cli_env, ls4, needs_data, small_config, tiny_ckpt  # noqa: F401

pytestmark = needs_data

SCRIPT = textwrap.dedent("""
    import os, sys, torch
    sys.path.insert(0, {tests!r})
    import cephmark.training.trainer as trainer
    from cephmark.training import finetune
    from test_training_helpers import small_config
    from pathlib import Path

    rank = int(os.environ["RANK"])
    writes = Path({log!r})
    real_save = trainer.save_atomic
    def logged_save(obj, path):
        with open(writes, "a") as fh:
            fh.write(f"{{rank}} {{Path(path).name}}\\n")
        real_save(obj, path)
    trainer.save_atomic = logged_save

    cfg = small_config(Path({ckpt!r}), Path({ann!r}), Path({out!r}), epochs=2, batch_size=1,
                       unfreeze_after=1, patience=0, lr=2e-3)
    result = finetune(cfg)
    torch.save(result.model.state_dict(), Path({out!r}).parent / f"rank{{rank}}.pt")
""")


def test_two_gloo_ranks_stay_in_sync_and_rank0_writes(tiny_ckpt, ls4, tmp_path):
    import subprocess

    out, log = tmp_path / "out", tmp_path / "writes.txt"
    script = tmp_path / "ddp_run.py"
    from test_training_helpers import __file__ as helpers

    script.write_text(SCRIPT.format(tests=str(type(tmp_path)(helpers).parent), log=str(log),
                                    ckpt=str(tiny_ckpt), ann=str(ls4), out=str(out)))
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                           "--nproc_per_node", "2", str(script)],
                          env=cli_env(1), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    s0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    s1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    source = read_checkpoint(tiny_ckpt)["state_dict"]
    assert s0.keys() == s1.keys()
    assert all(torch.equal(s0[k], s1[k]) for k in s0)  # identical weights on both ranks
    # ... after real training on different shards: head and (stage 2) backbone moved
    assert not torch.equal(s0["head.fuse.0.weight"], source["head.fuse.0.weight"])
    assert not torch.equal(s0["backbone.conv1.weight"], source["backbone.conv1.weight"])
    writes = log.read_text().split()
    ranks, names = writes[0::2], writes[1::2]
    assert set(ranks) == {"0"}  # rank 1 never writes
    assert names.count("last.pth") == 2  # one per epoch
    assert sorted(p.name for p in out.glob("*.pth")) == ["checkpoint_p1_p2_cldetection.pth", "last.pth"]
    assert not list(out.glob(".*.tmp"))
    last = read_checkpoint(out / "last.pth")
    assert all(torch.equal(last["state_dict"][k], s0[k]) for k in s0)
    assert [int(r["epoch"]) for r in read_metrics_csv(out / "metrics.csv")] == [1, 2]
    assert [h["stage"] for h in last["history"]] == [1, 2]
