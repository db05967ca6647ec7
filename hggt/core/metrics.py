"""Image quality metrics of the paper's evaluation (SPEC section 8).

PSNR and SSIM on uint8 RGB with a 4-pixel border cropped, matching scikit-image's definitions
(SSIM: 11x11 Gaussian window with sigma 1.5, population covariances, the mean over the
channels, windows overlapping the border excluded), vectorised with OpenCV. LPIPS (AlexNet,
v0.1, inputs scaled to [-1, 1]) and DISTS in batches, with their pretrained backbones resolved
locally; when they are missing the metric is skipped and the reason reported.
:func:`image_scores` gives all four on the same cropped pair, as the authors' metric scripts
crop the border before every metric (SPEC section 9).

DISTS is the ``DISTS_pytorch`` model that the authors' script runs, at full resolution (SPEC
section 9): piq's DISTS, used before, resizes inputs to a 256 short side, which changes the score
of a 504 x 504 image about threefold. Its alpha and beta ship with the package; its VGG16 comes
from the torch hub cache.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from hggt.core.weights import KNOWN, WeightsMissing, hub_checkpoint_dir, locate, require

SSIM_C1, SSIM_C2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
_WINDOW = cv2.getGaussianKernel(11, 1.5)


def _crop(img: np.ndarray, border: int) -> np.ndarray:
    return img[border:-border, border:-border] if border else img


def _check(sr: np.ndarray, gt: np.ndarray) -> None:
    if sr.shape != gt.shape or sr.ndim != 3 or sr.shape[2] != 3:
        raise ValueError(f"need two H x W x 3 images of one size, got {sr.shape} and {gt.shape}")


def psnr(sr: np.ndarray, gt: np.ndarray, crop_border: int = 4) -> float:
    _check(sr, gt)
    diff = _crop(sr, crop_border).astype(np.float64) - _crop(gt, crop_border)
    mse = float(np.mean(diff * diff))
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0**2 / mse)


def _blur(x: np.ndarray) -> np.ndarray:
    return cv2.sepFilter2D(x, cv2.CV_64F, _WINDOW, _WINDOW, borderType=cv2.BORDER_REFLECT)


def ssim(sr: np.ndarray, gt: np.ndarray, crop_border: int = 4) -> float:
    _check(sr, gt)
    x, y = _crop(sr, crop_border).astype(np.float64), _crop(gt, crop_border).astype(np.float64)
    mx, my = _blur(x), _blur(y)
    vx, vy, cxy = _blur(x * x) - mx * mx, _blur(y * y) - my * my, _blur(x * y) - mx * my
    s = ((2 * mx * my + SSIM_C1) * (2 * cxy + SSIM_C2)) / ((mx * mx + my * my + SSIM_C1) * (vx + vy + SSIM_C2))
    return float(s[5:-5, 5:-5].mean())  # as scikit-image: windows that overlap the border do not count


DEEP_WEIGHTS = {"lpips": ("alexnet",), "dists": ("vgg16",)}


def unavailable() -> dict[str, str]:
    """The deep metrics whose pretrained weights are missing, each with the reason."""
    out = {}
    for metric, names in DEEP_WEIGHTS.items():
        for name in names:
            try:
                require(name)
            except WeightsMissing as exc:
                out[metric] = str(exc)
                break
    return out


def missing_weights() -> list[dict]:
    """Every weight file a deep metric lacks, all of them (not the first of each metric): metric,
    name, file, folder it goes into, size and download address."""
    return [{"metric": metric, "name": name, "file": KNOWN[name].file, "folder": str(hub_checkpoint_dir()),
             "size": KNOWN[name].size, "url": KNOWN[name].url}
            for metric, names in DEEP_WEIGHTS.items() for name in names if locate(name) is None]


def load_dists() -> torch.nn.Module:
    """``DISTS_pytorch.DISTS`` with the alpha and beta of its package. Its constructor takes VGG16
    through torchvision's ``pretrained=True``, which reads the torch hub cache; callers check first
    that the file is there (``unavailable``), so nothing is downloaded. The weights are read from
    the package folder, not from ``sys.prefix`` where its own loader looks (absent in user installs)."""
    import DISTS_pytorch

    model = DISTS_pytorch.DISTS(load_weights=False)
    weights = torch.load(Path(DISTS_pytorch.__file__).with_name("weights.pt"), map_location="cpu", weights_only=True)
    model.alpha.data, model.beta.data = weights["alpha"], weights["beta"]
    return model


@dataclass
class DeepMetrics:
    """LPIPS and DISTS networks, whichever have their weights; ``skipped`` says why others are not."""

    lpips: torch.nn.Module | None
    dists: torch.nn.Module | None
    skipped: dict[str, str]
    device: torch.device

    @classmethod
    def load(cls, device: torch.device) -> "DeepMetrics":
        """The networks whose weights are in the torch hub cache (the packages load them from
        there; with every file present nothing is downloaded)."""
        skipped = unavailable()
        lpips_net = dists_net = None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if "lpips" not in skipped:
                import lpips

                lpips_net = lpips.LPIPS(net="alex", version="0.1", verbose=False).to(device).eval()
            if "dists" not in skipped:
                dists_net = load_dists().to(device).eval()
        return cls(lpips_net, dists_net, skipped, device)

    @torch.no_grad()
    def __call__(self, sr: torch.Tensor, gt: torch.Tensor) -> dict[str, list[float]]:
        """(B, 3, H, W) tensors in [0, 1]; per-image scores of the available metrics. The memory
        layout is kept: DISTS' means and variances of the raw pixels are summed in an order that
        depends on it (see :func:`image_scores`)."""
        sr, gt = sr.to(self.device).float(), gt.to(self.device).float()
        out: dict[str, list[float]] = {}
        if self.lpips is not None:
            out["lpips"] = self.lpips(sr * 2 - 1, gt * 2 - 1).flatten().tolist()
        if self.dists is not None:  # (reference, distorted): the authors' script's order
            out["dists"] = self.dists(gt, sr).flatten().tolist()
        return out


def _cropped_tensor(img: np.ndarray, border: int) -> torch.Tensor:
    """1 x 3 x H x W in [0, 1], contiguous, then border-cropped as a view: the authors' DISTS script
    (ToTensor, then slicing) in the same memory layout, whose float32 sums DISTS reproduces to the
    last bit only that way (a contiguous crop moved scores of 48 x 56 images by up to 4e-6)."""
    t = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).contiguous()[None].float() / 255
    return t[..., border:-border, border:-border] if border else t


def image_scores(sr: np.ndarray, gt: np.ndarray, crop_border: int, deep: DeepMetrics | None) -> dict[str, float | None]:
    """PSNR, SSIM, LPIPS and DISTS of one uint8 pair, every metric on the border-cropped images;
    a deep metric without its weights (or without ``deep``) is None."""
    _check(sr, gt)
    out: dict[str, float | None] = {"psnr": psnr(sr, gt, crop_border), "ssim": ssim(sr, gt, crop_border), "lpips": None, "dists": None}
    if deep is not None:
        found = deep(_cropped_tensor(sr, crop_border), _cropped_tensor(gt, crop_border))
        out.update({m: values[0] for m, values in found.items()})
    return out


def artifact_rate(sr: np.ndarray, pos: np.ndarray, neg: np.ndarray, m_ind: np.ndarray) -> float | None:
    """Share of the indicated pixels (M_ind > 0) where the SR output is closer to the negative GT
    than to the positive one (mean absolute difference over the channels): 0 means the output
    never takes the negative's side where annotators saw artifacts, 1 that it always does.
    None when nothing is indicated."""
    region = m_ind > 0
    if not region.any():
        return None
    sr = sr.astype(np.float64)
    d_neg = np.abs(sr - neg).mean(axis=2)
    d_pos = np.abs(sr - pos).mean(axis=2)
    return float((d_neg[region] < d_pos[region]).mean())
