"""The seed's approach as a baseline: frozen starter backbone + direct (x, y) regression head.

The bundled starter model's backbone (eval mode, no gradients) gives four feature maps; each is
global-average-pooled, the four vectors are concatenated and an MLP regresses 4 numbers: p1 and
p2 (x, y) in normalised input coordinates (input pixel / N). Same data as the heatmap runs
(`cephmark.training.dataset.LandmarkDataset`: same cache, same N x N whole-image box, same
augmentation), same optimizer budget (Adam, lr, warm-up + cosine, epochs, batch size), model
selection on the validation images by MRE, then evaluation on test1 with the metrics of
`cephmark evaluate` (mean point error in mm at --spacing, ruler mm/px relative error).

    python benchmarks/p1p2/regression_baseline.py --train runs/p1p2/train18.json \\
        --val runs/p1p2/val6.json --test runs/p1p2/test1.json \\
        --image-dir ../shared/data/isbi2015/images --out runs/p1p2/regression

ISBI 2015 images: research use only (see ../shared/data/isbi2015/README.md).
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from cephmark.annotations import read_annotations
from cephmark.config import CephConfig
from cephmark.evaluation.report import Evaluation, format_table
from cephmark.io import read_image
from cephmark.models.checkpoint import load_model
from cephmark.runtime import set_cpu_threads
from cephmark.training.dataset import ImageCache, LandmarkDataset, from_cached
from cephmark.training.schedule import LRSchedule
from cephmark.training.seeding import seed_all
from cephmark.transforms import Box, inference_transforms

ROOT = Path(__file__).resolve().parents[2]
STARTER = ROOT / "lib" / "cephmark" / "weights" / "starter_isbi19_512.pth"
NAMES = ["p1", "p2"]
log = logging.getLogger("regression_baseline")


class RegressionModel(nn.Module):
    def __init__(self, backbone: nn.Module, channels: int, hidden: int = 256) -> None:
        super().__init__()
        self.backbone = backbone.eval()
        for p in self.backbone.parameters():
            p.requires_grad_(False)
        self.mlp = nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(inplace=True),
                                 nn.Linear(hidden, 2 * len(NAMES)))
        nn.init.zeros_(self.mlp[-1].weight)
        nn.init.constant_(self.mlp[-1].bias, 0.5)  # start at the input centre

    def train(self, mode: bool = True) -> "RegressionModel":
        super().train(mode)
        self.backbone.eval()  # frozen: BatchNorm statistics too
        return self

    @torch.no_grad()
    def features(self, x: torch.Tensor) -> torch.Tensor:
        feats = self.backbone(x)
        return torch.cat([f.float().mean(dim=(2, 3)) for f in feats], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.features(x)).view(-1, len(NAMES), 2)


def predict_px(model: RegressionModel, x: torch.Tensor, boxes: list[Box], n: int) -> np.ndarray:
    """(B, J, 2) original-image pixels (boxes in the image's own pixel frame)."""
    with torch.no_grad():
        q = model(x).double().numpy() * n
    return np.stack([b.to_image(qi, n) for qi, b in zip(q, boxes)])


def validate(model: RegressionModel, loader: DataLoader, n: int) -> float:
    model.eval()
    errs = []
    for batch in loader:
        q = model(batch["image"]).double().detach().numpy() * n
        for i in range(q.shape[0]):
            cached = Box(*batch["box"][i].tolist()).to_image(q[i], n)
            pred = from_cached(cached, tuple(batch["scale"][i].tolist()))
            gt = batch["gt"][i].numpy()
            errs.append(np.hypot(*(pred - gt).T))
    e = np.concatenate(errs)
    return float(np.nanmean(e))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", required=True)
    ap.add_argument("--val", required=True)
    ap.add_argument("--test", required=True)
    ap.add_argument("--image-dir", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--checkpoint", default=str(STARTER))
    ap.add_argument("--image-size", type=int, default=512)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=2)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--warmup-iters", type=int, default=5)
    ap.add_argument("--min-lr-factor", type=float, default=0.05)
    ap.add_argument("--loss", choices=["l1", "mse"], default="l1")
    ap.add_argument("--spacing", type=float, default=0.1)
    ap.add_argument("--cache-dir", default=None)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    set_cpu_threads()
    seed_all(a.seed)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)

    cfg = CephConfig()
    cfg.preprocess.image_size = n = a.image_size
    cfg.preprocess.antialias = True
    cfg.train.cache_dir = a.cache_dir
    loaded = load_model(a.checkpoint)
    backbone = loaded.model.backbone
    with torch.no_grad():
        channels = sum(f.shape[1] for f in backbone.eval()(torch.zeros(1, 3, 64, 64)))
    model = RegressionModel(backbone, channels)
    log.info("regression head on %d pooled backbone channels (%s), N=%d", channels, a.checkpoint, n)

    cache = ImageCache(n, a.cache_dir)
    train_ann = read_annotations(a.train, a.image_dir).subset(NAMES)
    val_ann = read_annotations(a.val, a.image_dir).subset(NAMES)
    train_ds = LandmarkDataset(train_ann, NAMES, cfg, train=True, cache=cache)
    val_ds = LandmarkDataset(val_ann, NAMES, cfg, train=False, cache=cache)
    gen = torch.Generator()
    loader = DataLoader(train_ds, batch_size=a.batch_size, shuffle=True, generator=gen)
    val_loader = DataLoader(val_ds, batch_size=a.batch_size, shuffle=False)
    opt = torch.optim.Adam(model.mlp.parameters(), lr=a.lr)
    sched = LRSchedule(opt, [a.lr], total_iters=a.epochs * len(loader), warmup_iters=a.warmup_iters,
                       warmup_factor=1e-3, kind="cosine", min_factor=a.min_lr_factor)
    history, best, best_state = [], math.inf, None
    for epoch in range(a.epochs):
        started = time.perf_counter()
        seed_all(a.seed * 1000 + epoch)
        train_ds.set_random_state(a.seed * 1000 + epoch)
        gen.manual_seed(a.seed * 1000 + epoch)
        model.train()
        total, count = 0.0, 0
        for batch in loader:
            sched.apply()
            target = batch["xy"] / n
            w = batch["weight"][..., None]
            pred = model(batch["image"])
            diff = (pred - target) * w
            loss = (diff.abs() if a.loss == "l1" else diff ** 2).sum() / w.sum().clamp(min=1) / 2
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss) * len(target)
            count += len(target)
        val_px = validate(model, val_loader, n)
        row = {"epoch": epoch + 1, "train_loss": total / count, "val_mre_px": val_px,
               "time_s": time.perf_counter() - started}
        history.append(row)
        if val_px < best:
            best, best_state = val_px, {k: v.clone() for k, v in model.mlp.state_dict().items()}
            row["best"] = True
        log.info("epoch %d/%d: train loss %.5f, val MRE %.1f px%s (%.0f s)", epoch + 1, a.epochs,
                 row["train_loss"], val_px, " *" if row.get("best") else "", row["time_s"])
    model.mlp.load_state_dict(best_state)
    torch.save({"mlp": best_state, "channels": channels, "image_size": n, "history": history},
               out / "regression_head.pth")

    # test: the inference preprocessing of `cephmark predict` (antialiased whole-image box)
    model.eval()
    test = read_annotations(a.test, a.image_dir).subset(NAMES)
    tf = inference_transforms(cfg.preprocess)
    pred = np.full((len(test.images), len(NAMES), 2), np.nan)
    truth = np.full_like(pred, np.nan)
    spacing = np.full(len(test.images), np.nan)
    started = time.perf_counter()
    for k, im in enumerate(test.images):
        item = tf({"image": read_image(im.image_path)})
        x = torch.as_tensor(np.asarray(item["image"]))[None]
        pred[k] = predict_px(model, x, [Box(*item["meta"]["box"])], n)[0]
        for j, name in enumerate(NAMES):
            if name in im.points:
                truth[k, j] = im.points[name]
        spacing[k] = im.spacing_mm or a.spacing
    ev = Evaluation(NAMES, [str(im.image_path) for im in test.images], pred, truth, spacing)
    table = format_table(ev)
    print(table)
    ruler = ev.ruler()
    summary = {"overall": ev.overall(), "per_landmark": ev.per_landmark(),
               "ruler": {k: v for k, v in ruler.items() if k != "per_image"},
               "history": history, "test_time_s": time.perf_counter() - started, "args": vars(a)}
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    (out / "table.txt").write_text(table + "\n")
    print(f"wrote {out / 'summary.json'}")


if __name__ == "__main__":
    main()
