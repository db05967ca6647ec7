"""hggt's batched JPEG (``hggt.core.degradation.diffjpeg``) against the reference's ``DiffJPEG``.

The reference trains on LQ images compressed by ``basicsr.utils.diffjpeg.DiffJPEG`` with one
float quality per sample. Both are run on the same batches: random and smooth images, sizes
that are and are not multiples of 16, per-sample and whole-batch qualities, hard (training) and
differentiable rounding, and the gradients of the latter. Measured on the CPU: identical outputs
and gradients (max |diff| 0). The same comparison runs on CUDA when a GPU is present.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from hggt.core.degradation.diffjpeg import jpeg, quality_factor

QUALITIES = (75.3, 80.0, 94.9, 30.25)  # below 50 the factor formula changes branch
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device"))]


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    # tiny tensors: with the CPUs shared, thread hand-offs cost more than the work
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def theirs(ref):
    return ref.module("basicsr.utils.diffjpeg")


def _their_jpeg(theirs, differentiable: bool, device: str = "cpu"):
    # Their quantisation tables are module-level Parameters shared by every instance, so moving one
    # instance moves them all: each use puts them on the device it needs.
    return theirs.DiffJPEG(differentiable=differentiable).to(device)


def _images(kind: str, h: int, w: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    if kind == "random":
        return torch.rand(len(QUALITIES), 3, h, w, generator=g)
    coarse = torch.rand(len(QUALITIES), 3, 5, 6, generator=g)
    smooth = F.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=False)
    return (smooth + 0.02 * torch.randn(smooth.shape, generator=g)).clamp(0, 1)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("differentiable", [False, True], ids=["hard", "differentiable"])
@pytest.mark.parametrize("size", [(64, 64), (50, 70), (9, 17)], ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("kind", ["random", "smooth"])
def test_matches_reference_per_sample_quality(theirs, kind, size, differentiable, device):
    x = _images(kind, *size, seed=size[0] * 100 + size[1]).to(device)
    q = torch.tensor(QUALITIES, device=device)
    expected = _their_jpeg(theirs, differentiable, device)(x, quality=q.clone())
    got = jpeg(x, q, differentiable=differentiable)
    assert got.shape == x.shape and got.device == x.device
    assert (got - expected).abs().max().item() <= 1e-5
    assert torch.equal(q.cpu(), torch.tensor(QUALITIES)), "the caller's qualities must not be modified"


@pytest.mark.parametrize("quality", [87.5, 95, 40])
def test_matches_reference_scalar_quality(theirs, quality):
    x = _images("smooth", 50, 70, seed=3)
    expected = _their_jpeg(theirs, False)(x, quality=quality)
    assert (jpeg(x, quality) - expected).abs().max().item() <= 1e-5


def test_differentiable_gradients_match_reference(theirs):
    x = _images("smooth", 40, 56, seed=7)
    q = torch.tensor(QUALITIES)
    weight = torch.randn(x.shape, generator=torch.Generator().manual_seed(1))
    x_ref = x.clone().requires_grad_(True)
    (_their_jpeg(theirs, True)(x_ref, quality=q.clone()) * weight).sum().backward()
    x_ours = x.clone().requires_grad_(True)
    (jpeg(x_ours, q, differentiable=True) * weight).sum().backward()
    assert x_ours.grad.abs().max() > 0
    assert (x_ours.grad - x_ref.grad).abs().max().item() <= 1e-5


def test_hard_rounding_stops_gradients_and_changes_image():
    x = _images("random", 32, 32, seed=11).requires_grad_(True)
    out = jpeg(x, torch.tensor(QUALITIES))
    out.sum().backward()
    # every path from x to the output runs through round(), whose gradient is 0
    assert x.grad.abs().max().item() == 0
    assert (out - x).abs().max().item() > 0.05


def test_quality_factor_is_libjpeg_scaling_without_rounding():
    assert quality_factor(50) == 1.0
    assert quality_factor(75.5) == pytest.approx(0.49)
    assert quality_factor(25) == 2.0
    t = quality_factor(torch.tensor([25.0, 50.0, 75.5]))
    assert torch.allclose(t, torch.tensor([2.0, 1.0, 0.49]))


def test_wrong_shapes_are_rejected():
    with pytest.raises(ValueError):
        jpeg(torch.rand(2, 1, 16, 16), 90)
    with pytest.raises(ValueError):
        jpeg(torch.rand(2, 3, 16, 16), torch.tensor([90.0, 80.0, 70.0]))
