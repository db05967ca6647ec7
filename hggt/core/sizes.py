"""The typed size models of every network and the enhancer specs, without torch: the config
validates them, a CPU stage worker, the CLI and the annotation server import them, and none of
those should load torch to do so. The networks themselves live in hggt.core.archs."""

from __future__ import annotations

import os
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Frozen(BaseModel):
    """Immutable, and unknown keys are errors: a typo in a size is never silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# Defaults: the authors' train_EnhanceRCAN_01/02.yml (RCANNOUP) and train_EnhanceELAN_03/04.yml.
class RCANSize(Frozen):
    groups: int = Field(10, gt=0)
    blocks: int = Field(20, gt=0)
    channels: int = Field(64, gt=0)
    reduction: int = Field(16, gt=0)
    img_range: float = Field(255.0, gt=0, description="Inputs enter as (x - mean) * img_range, as in BasicSR (1: hggt's earlier choice).")


class ELANSize(Frozen):
    blocks: int = Field(36, gt=0, description="LFE + GMSA pairs (the authors' m_elan).")
    channels: int = Field(180, gt=0)
    windows: tuple[int, ...] = (4, 8, 16)
    expansion: int = Field(2, gt=0)
    shared_depth: int = Field(0, ge=0, description="GMSAs reusing the attention of the one before (n_share; 1 halves the attention maps).")
    scaled_attention: bool = Field(False, description="softmax(q q^T / sqrt(d)) instead of the authors' unscaled softmax(q q^T).")
    img_range: float = Field(255.0, gt=0, description="Inputs enter as (x - mean) * img_range, as in BasicSR (1: hggt's earlier choice).")


class EnhancerSpec(Frozen):
    version: str
    arch: str
    setting: str


PAPER_ENHANCERS = (
    EnhancerSpec(version="01", arch="rcan", setting="1"),
    EnhancerSpec(version="02", arch="rcan", setting="2"),
    EnhancerSpec(version="03", arch="elan", setting="1"),
    EnhancerSpec(version="04", arch="elan", setting="2"),
)


DECLARED_SUFFIXES = (".safetensors", ".pth", ".pt", ".ckpt")  # the model files Spandrel reads


class DeclaredEnhancer(Frozen):
    """An enhancer hggt does not train: a model file (safetensors, .pth, .pt, .ckpt) that Spandrel
    loads by architecture detection. A 2x or 4x model runs on the image downscaled by its scale
    (area), so its version has the original's size (hggt.core.declared_enhancers)."""

    version: str
    model: str = Field(min_length=1, description="Path or fsspec URL of the model file; a relative path is relative to the working directory.")
    scale: int | None = Field(None, ge=1, le=8, description="The model's scale (1, 2, 4 ...); None: as Spandrel detects it. A mismatch is an error.")

    @model_validator(mode="after")
    def _exists(self) -> "DeclaredEnhancer":
        # Only local files are checked here (the CLI's preflight validates the config); a URL is
        # checked when train-enhancers reads it.
        path = self.model.removeprefix("file://")
        if "://" not in path and not os.path.isfile(os.path.expanduser(path)):
            raise ValueError(f"enhancer {self.version}: model file {self.model} does not exist")
        return self


class RRDBSize(Frozen):
    blocks: int = Field(23, gt=0)
    channels: int = Field(64, gt=0)
    growth: int = Field(32, gt=0)
    upsampler: Literal["pixelshuffle", "nearest"] = Field(
        "pixelshuffle",
        description="pixelshuffle: the authors' RRDBPSNet (train_RRDBGAN_PosNegGT_Blind_*_x4.yml); nearest: ESRGAN's nearest+conv.",
    )


class SwinIRSize(Frozen):
    embed_dim: int = Field(180, gt=0)
    depths: tuple[int, ...] = (6, 6, 6, 6, 6, 6)
    num_heads: tuple[int, ...] = (6, 6, 6, 6, 6, 6)
    window_size: int = Field(8, gt=0)
    mlp_ratio: float = Field(2.0, gt=0)
    num_feat: int = Field(64, gt=0)
    upsampler: Literal["pixelshuffle", "nearest+conv"] = Field(
        "pixelshuffle",
        description="pixelshuffle: the authors' (train_SwinIRGAN_PosNegGT_Blind_*_x4.yml); nearest+conv: SwinIR's real-SR models.",
    )
    pad: Literal["always", "multiple"] = Field(
        "always",
        description="always: the authors' check_image_size, which reflect-pads window - size % window rows and columns, a whole "
                    "extra window when the size is already a multiple (a 64 training patch is run at 72); multiple: pad only up "
                    "to the next multiple, none when already one (hggt's earlier choice, and Spandrel's).",
    )
    drop_path_rate: float = Field(
        0.1, ge=0, lt=1,
        description="Stochastic depth in training (the authors' drop_path_rate): each Swin layer's two residual branches are "
                    "dropped per sample at a rate rising linearly from 0 at the first layer to this at the last; no effect in eval.",
    )
