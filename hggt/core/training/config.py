"""Typed training configuration (SPEC sections 3, 7 and 9: the authors' config values)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

PAPER_PERCEPTUAL_LAYERS = {"conv1_2": 0.1, "conv2_2": 0.1, "conv3_4": 1.0, "conv4_4": 1.0, "conv5_4": 1.0}


class TrainConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    iterations: int = Field(300_000, gt=0)
    milestones: tuple[int, ...] = Field((200_000,), description="Iterations at which the learning rate is multiplied by lr_gamma.")
    lr_gamma: float = 0.5
    lr: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.99)
    batch_size: int = Field(4, gt=0)
    gt_size: int = Field(96, gt=0, description="Side of the HR training crops.")
    pool_size: int = Field(180, ge=0, description="Training-pair pool (queue); a multiple of batch_size, 0 disables it.")
    ema_decay: float | None = Field(0.999, description="EMA of generator weights; None disables it.")
    ema_warmup: bool = Field(
        False,
        description="false (the authors' BasicSR model_ema): the EMA decays by ema_decay from the first iteration. true: "
                    "min(ema_decay, (1 + t) / (10 + t)) at iteration t, so that a run of a few hundred iterations from "
                    "random weights (the demo) is not mostly its initialisation (0.999^100 = 0.90).",
    )
    l1_weight: float = 1.0
    perceptual_weight: float = Field(1.0, ge=0, description="0 trains without the perceptual term (recorded in the run).")
    perceptual_layers: dict[str, float] = Field(default_factory=lambda: dict(PAPER_PERCEPTUAL_LAYERS))
    perceptual_weights: str | None = Field(None, description="Path of torchvision's vgg19-dcbb9e9d.pth; default: the torch hub cache.")
    gan_weight: float = 0.1
    discriminator_channels: int = 64
    checkpoint_every: int = Field(5000, gt=0)
    keep_checkpoints: int = Field(2, ge=1)
    log_every: int = Field(100, gt=0)
    amp: bool = Field(
        False,
        description="false (the authors): float32 training. true: autocast to bfloat16 (float16 with loss scaling where "
                    "the GPU lacks bfloat16) on CUDA, about twice as fast on recent GPUs; losses and weights then differ "
                    "from fp32 training at the level of bf16 rounding. Ignored on CPU.",
    )
    channels_last: bool = Field(True, description="channels-last memory format on CUDA; ignored on CPU.")
    deterministic: bool = Field(False, description="Deterministic algorithms (exact resume on CPU).")
    sampling: Literal["epochs", "buffer"] = Field(
        "epochs",
        description="epochs (the authors' BasicSR loader): the sets (or HR images) in a shuffled order, each once per "
                    "epoch, a batch of distinct ones, an incomplete last batch dropped; each is decoded when drawn. "
                    "buffer: image_buffer decoded ones held, one replaced every refresh_every iterations, batches drawn "
                    "from them with replacement (far fewer decodes of large photos; sets recur in nearby batches).",
    )
    image_buffer: int = Field(
        16, gt=0, description="Decoded sets (or HR images) held: the buffer of buffer sampling, the cache of recently drawn ones in epochs.")
    refresh_every: int = Field(2, gt=0, description="buffer sampling: iterations between replacing one held set.")
    device: str = Field("auto", description="auto, cpu, cuda or cuda:N.")
    nproc: int = Field(1, ge=1, description="DDP processes (one per GPU) launched with torchrun; gloo on the CPU.")
