"""The trainer's per-epoch decisions (cephmark.training.decisions): best epoch, early stopping."""
from __future__ import annotations

import math
import pickle

from cephmark.training.decisions import EpochDecision, Selection


def _row(epoch, val_loss, mre_px, n=4, n_mm=0, mre_mm=math.nan, missed=0, train_loss=1.0):
    return {"epoch": epoch, "val_loss": val_loss, "mre_px": mre_px, "n": n, "n_mm": n_mm,
            "mre_mm": mre_mm, "missed": missed, "train_loss": train_loss}


def test_best_by_mre_fewer_missed_first_and_patience_by_loss():
    s = Selection()
    assert s.update(_row(1, 1.0, 5.0), validated=True)
    assert not s.update(_row(2, 0.9, 6.0), validated=True)  # loss better, MRE worse: not best
    assert s.bad_epochs == 0 and s.best_monitor == 0.9
    assert s.update(_row(3, 0.95, 4.0, missed=0), validated=True) and s.best_epoch == 3
    assert not s.update(_row(4, 0.95, 1.0, missed=1), validated=True)  # a missed landmark counts first
    assert s.bad_epochs == 2
    assert s.patience_exhausted(2, epochs_done=4, min_epochs=1)
    assert not s.patience_exhausted(2, epochs_done=4, min_epochs=5)
    assert not s.patience_exhausted(0, epochs_done=4, min_epochs=1)


def test_mm_used_only_when_every_image_has_spacing():
    s = Selection()
    s.update(_row(1, 1.0, 10.0, n_mm=4, mre_mm=1.0), validated=True)
    assert s.best_key == [0.0, 1.0]
    s2 = Selection()
    s2.update(_row(1, 1.0, 10.0, n_mm=3, mre_mm=1.0), validated=True)
    assert s2.best_key == [0.0, 10.0]


def test_without_validation_loss_decides_and_state_round_trips():
    s = Selection()
    assert s.update(_row(1, math.nan, math.nan, n=0, train_loss=2.0), validated=False)
    assert s.best_key == [0.0, 2.0] and s.best_monitor == 2.0
    assert not s.update(_row(2, math.nan, math.nan, n=0, train_loss=math.nan), validated=False)
    assert s.bad_epochs == 1
    again = Selection.from_dict({**s.to_dict(), "unknown_old_key": 1})
    assert again == s and again.to_dict() == {"best_key": [0.0, 2.0], "best_epoch": 1,
                                              "best_monitor": 2.0, "bad_epochs": 1}


def test_decision_pickles_for_broadcast():
    d = EpochDecision(stop=True, restart="p1: dead head")
    assert pickle.loads(pickle.dumps(d)) == d and EpochDecision() == EpochDecision(False, False, None)
