"""Metrics against scikit-image and direct calls of the lpips and DISTS_pytorch packages."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from hggt.core.evaluation import multi_gt_average
from hggt.core.metrics import DeepMetrics, image_scores, psnr, ssim, unavailable
from hggt.core.sample_photos import sample_photo_paths
from hggt.core.weights import KNOWN, hub_checkpoint_dir


def _pairs():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    yield a, np.clip(a.astype(int) + rng.integers(-30, 30, a.shape), 0, 255).astype(np.uint8)
    import cv2

    photo = cv2.cvtColor(cv2.imread(str(sample_photo_paths()[0])), cv2.COLOR_BGR2RGB)[100:260, 120:300]
    blurred = cv2.GaussianBlur(photo, (5, 5), 1.2)
    yield photo, blurred
    yield photo, cv2.resize(cv2.resize(photo, (45, 40), interpolation=cv2.INTER_AREA), (180, 160), interpolation=cv2.INTER_CUBIC)


@pytest.mark.parametrize("index", [0, 1, 2])
def test_psnr_and_ssim_match_scikit_image(index):
    sr, gt = list(_pairs())[index]
    c = (slice(4, -4), slice(4, -4))
    assert psnr(sr, gt) == pytest.approx(peak_signal_noise_ratio(gt[c], sr[c], data_range=255), abs=1e-10)
    expected = structural_similarity(sr[c], gt[c], gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                     data_range=255, channel_axis=2)
    assert ssim(sr, gt) == pytest.approx(expected, abs=1e-9)
    assert psnr(gt, gt) == float("inf") and ssim(gt, gt) == pytest.approx(1.0)
    assert psnr(sr, gt, crop_border=0) == pytest.approx(peak_signal_noise_ratio(gt, sr, data_range=255))


def test_mismatched_inputs_are_refused():
    with pytest.raises(ValueError, match="one size"):
        psnr(np.zeros((8, 8, 3), np.uint8), np.zeros((8, 9, 3), np.uint8))


def test_multi_gt_scores_average_over_versions_then_images():
    rows = [
        {"set_id": "a", "gt_version": "01", "psnr": 20.0, "lpips": 0.2},
        {"set_id": "a", "gt_version": "03", "psnr": 22.0, "lpips": 0.4},
        {"set_id": "b", "gt_version": "02", "psnr": 30.0, "lpips": None},
    ]
    out = multi_gt_average(rows, ("psnr", "lpips"))
    assert out["psnr"] == pytest.approx((21.0 + 30.0) / 2)  # not (20 + 22 + 30) / 3
    assert out["lpips"] == pytest.approx(0.3)


@pytest.fixture
def random_weights(tmp_path, monkeypatch):
    """The test-only switch: a torch hub cache holding randomly initialised backbones, so the
    packages' real loading code runs without any download (DISTS' alpha/beta ship with its package)."""
    from torchvision.models import alexnet, vgg16

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    folder = hub_checkpoint_dir()
    folder.mkdir(parents=True)
    torch.manual_seed(0)
    torch.save(alexnet(weights=None).state_dict(), folder / KNOWN["alexnet"].file)
    torch.save(vgg16(weights=None).state_dict(), folder / KNOWN["vgg16"].file)
    return folder


def test_lpips_and_dists_equal_direct_package_calls(random_weights):
    import lpips
    from DISTS_pytorch import DISTS

    metrics = DeepMetrics.load(torch.device("cpu"))
    assert metrics.skipped == {} and metrics.lpips is not None and metrics.dists is not None
    torch.manual_seed(1)
    sr, gt = torch.rand(3, 3, 64, 64), torch.rand(3, 3, 64, 64)
    scores = metrics(sr, gt)
    direct_lpips = lpips.LPIPS(net="alex", version="0.1", verbose=False).eval()(sr * 2 - 1, gt * 2 - 1).flatten()
    direct_dists = DISTS().eval()(gt, sr).flatten()  # its own loading of alpha/beta (sys.prefix)
    np.testing.assert_allclose(scores["lpips"], direct_lpips.detach().numpy(), rtol=1e-5)
    np.testing.assert_allclose(scores["dists"], direct_dists.detach().numpy(), rtol=1e-6)
    same = metrics(gt, gt)
    assert max(same["lpips"]) < 1e-6 and max(same["dists"]) < 1e-4


def test_every_metric_is_computed_on_the_border_cropped_images(random_weights):
    import lpips
    from DISTS_pytorch import DISTS

    rng = np.random.default_rng(2)
    gt = rng.integers(0, 256, (72, 80, 3), dtype=np.uint8)
    sr = np.clip(gt.astype(int) + rng.integers(-40, 40, gt.shape), 0, 255).astype(np.uint8)
    sr[:4] = 255 - gt[:4]  # a wrong border, which the authors' scripts crop away before every metric
    scores = image_scores(sr, gt, 4, DeepMetrics.load(torch.device("cpu")))
    c = (slice(4, -4), slice(4, -4))
    to_t = lambda a: torch.from_numpy(np.ascontiguousarray(a[c])).permute(2, 0, 1)[None].float() / 255  # noqa: E731
    direct_lpips = lpips.LPIPS(net="alex", version="0.1", verbose=False).eval()(to_t(sr) * 2 - 1, to_t(gt) * 2 - 1).item()
    direct_dists = DISTS().eval()(to_t(gt), to_t(sr)).item()
    assert scores["lpips"] == pytest.approx(direct_lpips, rel=1e-5) and scores["dists"] == pytest.approx(direct_dists, rel=1e-5)
    assert scores["psnr"] == pytest.approx(peak_signal_noise_ratio(gt[c], sr[c], data_range=255), abs=1e-10)
    assert scores["ssim"] == pytest.approx(ssim(sr, gt, 4))
    uncropped = image_scores(sr, gt, 0, DeepMetrics.load(torch.device("cpu")))
    assert uncropped["lpips"] != pytest.approx(scores["lpips"], rel=1e-3)  # the crop is really applied
    assert image_scores(sr, gt, 4, None)["lpips"] is None


def test_missing_weights_skip_a_metric_with_the_reason(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))
    reasons = unavailable()
    assert set(reasons) == {"lpips", "dists"}
    assert "alexnet-owt-7be5be79.pth" in reasons["lpips"] and "hggt weights fetch" in reasons["lpips"]
    metrics = DeepMetrics.load(torch.device("cpu"))
    assert metrics(torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)) == {}


def test_artifact_rate_on_constructed_cases():
    from hggt.core.metrics import artifact_rate

    rng = np.random.default_rng(3)
    pos = rng.integers(0, 200, (16, 16, 3)).astype(np.uint8)
    neg = (pos.astype(int) + 50).astype(np.uint8)
    m = np.zeros((16, 16), np.float32)
    m[:, :8] = 1.0  # the left half is indicated
    assert artifact_rate(neg, pos, neg, m) == 1.0
    assert artifact_rate(pos, pos, neg, m) == 0.0
    half = pos.copy()
    half[:4] = neg[:4]  # the top quarter of the indicated region takes the negative's side
    assert artifact_rate(half, pos, neg, m) == 0.25
    outside = pos.copy()
    outside[:, 8:] = neg[:, 8:]  # moving toward N outside the indicated region does not count
    assert artifact_rate(outside, pos, neg, m) == 0.0
    assert artifact_rate(neg, pos, neg, np.zeros_like(m)) is None
