"""The three parameter sets (Table 1 settings 1 and 2, Table 2), the per-sample record and its sampler."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

KernelType = Literal["iso", "aniso", "sinc"]
ResizeDirection = Literal["down", "same", "up"]
ResizeMode = Literal["area", "bilinear", "bicubic"]
NoiseType = Literal["gaussian", "poisson"]


class DegradationSettings(BaseModel):
    """Probabilities and ranges of one degradation setting. Ranges are inclusive [low, high]."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kernel_half_range: tuple[int, int] = Field((1, 3), description="Kernel size 2m+1 with m uniform in this integer range.")
    iso_probability: float = Field(0.7, ge=0, le=1, description="Isotropic vs anisotropic Gaussian (0.3).")
    sinc_probability: float = Field(0.1, ge=0, le=1, description="A sinc kernel replaces the Gaussian.")
    sigma_range: tuple[float, float] = (0.1, 0.5)
    resize_probabilities: tuple[float, float, float] = Field((0.85, 0.05, 0.1), description="down / same / up")
    resize_range: tuple[float, float] = (0.9, 1.1)
    resize_modes: tuple[ResizeMode, ...] = ("area", "bilinear", "bicubic")
    gaussian_noise_probability: float = Field(0.5, ge=0, le=1, description="Gaussian vs Poisson noise.")
    noise_sigma_range: tuple[float, float] = Field((6.5, 13.0), description="Gaussian sigma on the 0-255 scale.")
    poisson_scale_range: tuple[float, float] = (0.45, 0.9)
    gray_noise_probability: float = Field(0.1, ge=0, le=1)
    jpeg_range: tuple[int, int] = (80, 95)

    @model_validator(mode="after")
    def _check(self) -> "DegradationSettings":
        for name in ("kernel_half_range", "sigma_range", "resize_range", "noise_sigma_range", "poisson_scale_range", "jpeg_range"):
            low, high = getattr(self, name)
            if low > high:
                raise ValueError(f"{name}: low {low} > high {high}")
        if self.kernel_half_range[0] < 0:
            raise ValueError("kernel_half_range must be >= 0")
        if abs(sum(self.resize_probabilities) - 1) > 1e-9:
            raise ValueError("resize_probabilities must sum to 1")
        if not self.resize_range[0] <= 1 <= self.resize_range[1]:
            raise ValueError("resize_range must contain 1")
        if not 1 <= self.jpeg_range[0] <= self.jpeg_range[1] <= 100:
            raise ValueError("jpeg_range must lie in [1, 100]")
        return self


SETTING_1 = DegradationSettings()
SETTING_2 = DegradationSettings(sigma_range=(0.5, 1.0), noise_sigma_range=(0.5, 6.5), poisson_scale_range=(0.05, 0.45))
TABLE_2 = DegradationSettings(
    kernel_half_range=(1, 4),
    sinc_probability=0.01,
    sigma_range=(0.1, 1.0),
    resize_range=(0.8, 1.2),
    noise_sigma_range=(1.0, 12.0),
    poisson_scale_range=(0.05, 0.8),
    jpeg_range=(75, 95),
)
# The reference implementation draws gray noise with probability 0.2 for the Real-ISR data.
TABLE_2_REFERENCE = TABLE_2.model_copy(update={"gray_noise_probability": 0.2})

NAMED_SETTINGS: dict[str, DegradationSettings] = {"1": SETTING_1, "2": SETTING_2, "table2": TABLE_2}

# Column names and types of a record in the degradations and lr_test manifests.
RECORD_COLUMNS: tuple[tuple[str, str], ...] = (
    ("kernel_type", "string"), ("kernel_size", "int32"), ("sigma_x", "float64"), ("sigma_y", "float64"),
    ("rotation", "float64"), ("sinc_cutoff", "float64"), ("resize_direction", "string"), ("resize_scale", "float64"),
    ("resize_mode", "string"), ("noise_type", "string"), ("noise_sigma", "float64"), ("poisson_scale", "float64"),
    ("gray_noise", "bool"), ("jpeg_quality", "int32"), ("seed", "int64"),
)


@dataclass(frozen=True)
class DegradationRecord:
    """Everything drawn for one sample: with the input image it determines the output exactly."""

    kernel_type: KernelType
    kernel_size: int
    sigma_x: float
    sigma_y: float
    rotation: float
    sinc_cutoff: float
    resize_direction: ResizeDirection
    resize_scale: float
    resize_mode: ResizeMode
    noise_type: NoiseType
    noise_sigma: float
    poisson_scale: float
    gray_noise: bool
    jpeg_quality: int
    seed: int

    def as_row(self) -> dict:
        return asdict(self)

    @classmethod
    def from_row(cls, row: dict) -> "DegradationRecord":
        return cls(**{name: row[name] for name in cls.__dataclass_fields__})


def sample_record(settings: DegradationSettings, rng: np.random.Generator) -> DegradationRecord:
    """Draw one record; the order of draws is fixed, so a seeded generator gives the same record.

    Unused parameters are recorded as 0 (sigmas of a sinc kernel, the cutoff of a Gaussian,
    the Poisson scale of Gaussian noise and vice versa)."""
    m = int(rng.integers(settings.kernel_half_range[0], settings.kernel_half_range[1] + 1))
    size = 2 * m + 1
    sx = sy = rot = cutoff = 0.0
    if rng.random() < settings.sinc_probability:
        kind: KernelType = "sinc"
        cutoff = float(rng.uniform(math.pi / 3, math.pi)) if size < 13 else float(rng.uniform(math.pi / 5, math.pi))
    elif rng.random() < settings.iso_probability:
        kind = "iso"
        sx = sy = float(rng.uniform(*settings.sigma_range))
    else:
        kind = "aniso"
        sx = float(rng.uniform(*settings.sigma_range))
        sy = float(rng.uniform(*settings.sigma_range))
        rot = float(rng.uniform(-math.pi, math.pi))

    direction: ResizeDirection = ("down", "same", "up")[int(rng.choice(3, p=settings.resize_probabilities))]
    if direction == "down":
        scale = float(rng.uniform(settings.resize_range[0], 1.0))
    elif direction == "up":
        scale = float(rng.uniform(1.0, settings.resize_range[1]))
    else:
        scale = 1.0
    mode: ResizeMode = settings.resize_modes[int(rng.integers(len(settings.resize_modes)))]

    sigma = pscale = 0.0
    if rng.random() < settings.gaussian_noise_probability:
        noise: NoiseType = "gaussian"
        sigma = float(rng.uniform(*settings.noise_sigma_range))
    else:
        noise = "poisson"
        pscale = float(rng.uniform(*settings.poisson_scale_range))
    gray = bool(rng.random() < settings.gray_noise_probability)
    quality = int(rng.integers(settings.jpeg_range[0], settings.jpeg_range[1] + 1))
    seed = int(rng.integers(0, 2**63 - 1))
    return DegradationRecord(kind, size, sx, sy, rot, cutoff, direction, scale, mode, noise, sigma, pscale, gray, quality, seed)
