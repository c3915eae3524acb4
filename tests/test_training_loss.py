"""Deep-supervision heatmap loss: pooled targets, visibility weights, level weights."""
import pytest
import torch
import torch.nn.functional as F

from cephmark.codecs import HeatmapCodec
from cephmark.training.loss import LEVEL_WEIGHTS, HeatmapLoss, curriculum_sigma, pooled_target

N = 64


def _outputs(b=2, j=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.rand(b, j, N // 32, N // 32, generator=g) * 0.1,
            torch.rand(b, j, N // 4, N // 4, generator=g) * 0.1,
            torch.rand(b, j, N, N, generator=g) * 0.1]


def _xy(b=2, j=3):
    return torch.tensor([[[10.3, 20.7], [40.0, 33.5], [5.0, 60.0]],
                         [[31.2, 31.9], [50.5, 12.1], [0.0, 0.0]]])[:b, :j]


def test_matches_hand_computed_reference():
    codec = HeatmapCodec(sigma=2.0)
    outs, xy = _outputs(), _xy()
    w = torch.tensor([[1.0, 1.0, 0.0], [1.0, 0.0, 1.0]])
    loss, parts = HeatmapLoss(codec)(outs, xy, w, sigma=2.0)
    full = codec.encode(xy, (N, N), sigma=2.0)
    wv = w[..., None, None]
    expect = []
    for out in outs:
        t = F.avg_pool2d(full, N // out.shape[-1]) if out.shape[-1] != N else full
        expect.append(F.mse_loss(out * wv, t * wv))  # MMPose KeypointMSELoss(use_target_weight)
    for p, e in zip(parts, expect):
        assert p.item() == pytest.approx(e.item(), rel=1e-5)
    total = sum(lw * e for lw, e in zip(LEVEL_WEIGHTS, expect))
    assert loss.item() == pytest.approx(total.item(), rel=1e-5)
    assert LEVEL_WEIGHTS == (1e-4, 1.0, 1.0)


def test_pooled_target_is_block_mean_and_keeps_mass():
    codec = HeatmapCodec(sigma=3.0)
    full = codec.encode(_xy(), (N, N))
    p4 = pooled_target(full, (N // 4, N // 4))
    assert p4.shape[-1] == N // 4
    assert torch.allclose(p4[0, 0, 3, 5], full[0, 0, 12:16, 20:24].mean())
    assert torch.allclose(p4.sum(dim=(2, 3)) * 16, full.sum(dim=(2, 3)), rtol=1e-5)
    odd = pooled_target(full, (5, 7))  # non-dividing sizes use adaptive pooling
    assert odd.shape[-2:] == (5, 7)


def test_zero_weight_landmark_gets_no_gradient_and_no_loss():
    codec = HeatmapCodec(sigma=2.0)
    outs = [o.requires_grad_(True) for o in _outputs()]
    w = torch.tensor([[1.0, 0.0, 1.0], [1.0, 0.0, 1.0]])
    loss, _ = HeatmapLoss(codec)(outs, _xy(), w, sigma=2.0)
    loss.backward()
    for o in outs:
        assert torch.all(o.grad[:, 1] == 0)
        assert o.grad[:, 0].abs().sum() > 0
    # changing the masked landmark's prediction does not change the loss
    outs2 = [o.detach().clone() for o in outs]
    for o in outs2:
        o[:, 1] += 5.0
    loss2, _ = HeatmapLoss(codec)(outs2, _xy(), w, sigma=2.0)
    assert loss2.item() == pytest.approx(loss.item(), rel=1e-6)


def test_chunked_targets_give_the_same_loss():
    codec = HeatmapCodec(sigma=2.0)
    outs, xy, w = _outputs(), _xy(), torch.ones(2, 3)
    a, _ = HeatmapLoss(codec)(outs, xy, w, 2.0)
    b, _ = HeatmapLoss(codec, max_target_elements=2 * N * N)(outs, xy, w, 2.0)  # one landmark at a time
    assert a.item() == pytest.approx(b.item(), rel=1e-6)


def test_foreground_weight():
    codec = HeatmapCodec(sigma=2.0)
    out = torch.zeros(1, 1, N, N)
    xy = torch.tensor([[[20.0, 30.0]]])
    t = codec.encode(xy, (N, N), 2.0)
    loss, _ = HeatmapLoss(codec, foreground_weight=4.0)(out, xy, torch.ones(1, 1), 2.0)
    assert loss.item() == pytest.approx(((t ** 2) * (1 + 4 * t)).mean().item(), rel=1e-5)


def test_sigma_curriculum():
    assert curriculum_sigma(6.0, 1.0, 0, 100) == 6.0
    assert curriculum_sigma(6.0, 2.0, 0, 100) == pytest.approx(12.0)
    assert curriculum_sigma(6.0, 2.0, 20, 100) == pytest.approx(9.0)  # halfway through 40 %
    assert curriculum_sigma(6.0, 2.0, 40, 100) == pytest.approx(6.0)
    assert curriculum_sigma(6.0, 2.0, 90, 100) == pytest.approx(6.0)


def test_soft_targets_for_unlabelled_base_channels():
    codec = HeatmapCodec(sigma=2.0)
    outs, xy = _outputs(), _xy()
    soft = [torch.rand(o.shape[0], 2, *o.shape[2:]) * 0.1 for o in outs]  # K = 2 base channels
    w = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]])  # sample 0 labels base channel 0
    loss_fn = HeatmapLoss(codec)
    base, base_parts = loss_fn(outs, xy, w, 2.0)
    loss, parts = loss_fn(outs, xy, w, 2.0, soft_targets=soft)
    for out, st, p, b in zip(outs, soft, parts, base_parts):
        mask = torch.tensor([[0.0, 1.0], [1.0, 1.0]])[..., None, None]  # unlabelled base channels
        extra = (((out[:, :2] - st) ** 2) * mask).sum() / out.numel()
        assert p.item() == pytest.approx(b.item() + extra.item(), rel=1e-5)
    # a student equal to its teacher on the base channels adds nothing
    same, _ = loss_fn(outs, xy, w, 2.0, soft_targets=[o[:, :2].clone() for o in outs])
    assert same.item() == pytest.approx(base.item(), rel=1e-6)
