"""Heads for new landmarks, initialised from chosen base landmarks.

Every landmark owns one contiguous channel block in ``lr_head``, ``lr_fuse`` (input side),
``kp_encoder`` and ``converge``. A new landmark copies its source's blocks; its
``lr_fuse`` input weights are zero so the shared features stay exactly as they were. A fresh
one (no source) has random ``lr_head`` / ``kp_encoder`` blocks and zero ``converge`` blocks:
its heatmaps start at exactly 0 with about half of its last ReLUs on, everywhere.
With ``keep_base=True`` the 38 (or J) base landmarks come first, unchanged, so one forward
pass yields base + new heatmaps.
"""
from __future__ import annotations

import copy
from typing import Sequence

import torch

from cephmark.models.cldetection import CLDetectionModel

# (parameter name, block size per landmark as a function of the head, axis)
_PER_LANDMARK = (
    ("head.lr_head.0.weight", lambda h, lv: 1, 0),
    ("head.lr_head.0.bias", lambda h, lv: 1, 0),
    ("head.lr_fuse.0.weight", lambda h, lv: 1, 1),
    ("head.kp_encoder.2.0.weight", lambda h, lv: h.embed[2], 0),
    ("head.kp_encoder.2.0.bias", lambda h, lv: h.embed[2], 0),
    ("head.kp_encoder.3.0.weight", lambda h, lv: h.embed[3], 0),
    ("head.kp_encoder.3.0.bias", lambda h, lv: h.embed[3], 0),
    ("head.converge.2.conv.weight", lambda h, lv: 4 ** h.upscale_exp[2], 0),
    ("head.converge.2.conv.bias", lambda h, lv: 4 ** h.upscale_exp[2], 0),
    ("head.converge.3.conv.weight", lambda h, lv: 4 ** h.upscale_exp[3], 0),
    ("head.converge.3.conv.bias", lambda h, lv: 4 ** h.upscale_exp[3], 0),
)


def resolve_sources(new_names: Sequence[str], init_from: Sequence[str | None] | None,
                    base_names: Sequence[str]) -> list[int | None]:
    """Map each new landmark to a base landmark index (or None = fresh initialisation)."""
    if init_from is None:
        return [None] * len(new_names)
    if len(init_from) != len(new_names):
        raise ValueError(f"--init-from gives {len(init_from)} sources for {len(new_names)} "
                         f"landmarks ({', '.join(new_names)})")
    out: list[int | None] = []
    for name, src in zip(new_names, init_from):
        if src in (None, "", "none", "fresh"):
            out.append(None)
        elif src in base_names:
            out.append(list(base_names).index(src))
        elif str(src).isdigit() and int(src) < len(base_names):
            out.append(int(src))
        else:
            raise ValueError(f"cannot initialise {name!r} from {src!r}: not a base landmark "
                             f"(known: {', '.join(base_names)})")
    return out


def build_landmark_head(base: CLDetectionModel, base_names: Sequence[str],
                        new_names: Sequence[str], init_from: Sequence[str | None] | None = None,
                        keep_base: bool = False) -> tuple[CLDetectionModel, list[str]]:
    """A model sharing ``base``'s backbone and head trunk, with outputs for ``new_names``."""
    sources = resolve_sources(new_names, init_from, base_names)
    names = (list(base_names) if keep_base else []) + list(new_names)
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate landmark names in {names}")
    arch = copy.deepcopy(base.arch)
    arch.num_landmarks = len(names)
    model = CLDetectionModel(arch)
    src_state = base.state_dict()
    new_state = model.state_dict()
    per_landmark = {name for name, _, _ in _PER_LANDMARK}
    for key, value in src_state.items():
        if key not in per_landmark:
            new_state[key] = value.clone()
    head = base.head
    for key, block_of, axis in _PER_LANDMARK:
        b = block_of(head, None)
        src, dst = src_state[key], new_state[key].clone()
        order = (list(range(len(base_names))) if keep_base else []) + sources
        for j, s in enumerate(order):
            dst_block = dst.narrow(axis, j * b, b)
            if key == "head.lr_fuse.0.weight" and j >= (len(base_names) if keep_base else 0):
                dst_block.zero_()  # new landmarks do not feed back into the shared features
            elif s is not None:
                dst_block.copy_(src.narrow(axis, s * b, b))
            elif key.startswith("head.converge."):
                dst_block.zero_()  # a fresh head starts at zero output (its random ReLUs stay alive)
        new_state[key] = dst
    model.load_state_dict(new_state, strict=True)
    return model, names
