"""Enhancement models (paper Sec. 3.2, SPEC section 3): four same-size enhancers, the product of
two backbones and the two Table 1 degradation settings, trained on HR crops degraded on the fly."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from pydantic import BaseModel

from hggt.core.archs import build_generator
from hggt.core.degradation import batched
from hggt.core.degradation.settings import DegradationSettings, sample_record
from hggt.core.networks import ENHANCER, network
from hggt.core.sizes import PAPER_ENHANCERS, ELANSize, EnhancerSpec, RCANSize  # noqa: F401 - re-exported
from hggt.core.training.data import CropSampler
from hggt.core.training.sampling import EpochSampler


def enhancer_options(arch: str, enhancers: BaseModel) -> dict:
    """The options of enhancer backbone ``arch`` as the config's enhancers section sets them."""
    return network(arch, ENHANCER).options_in(enhancers)


def build_enhancer(arch: str, enhancers: BaseModel) -> torch.nn.Module:
    return build_generator(arch, **enhancer_options(arch, enhancers))


class EnhancerBatches:
    """(LQ, GT) batches: HR crops degraded on the fly with one setting, final size = input size."""

    def __init__(self, sampler: EpochSampler | CropSampler, settings: DegradationSettings, device: torch.device):
        self.sampler, self.settings, self.device = sampler, settings, device

    def next_batch(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        crops = self.sampler.sample(n)
        records = [sample_record(self.settings, self.sampler.rng) for _ in range(n)]
        gt = torch.from_numpy(np.ascontiguousarray(crops)).to(self.device).permute(0, 3, 1, 2).float() / 255.0
        started = time.perf_counter()
        with torch.no_grad():
            lq = batched.degrade(gt, records)
        self.last_synthesis_seconds = time.perf_counter() - started
        return lq, gt

    def state_dict(self) -> dict:
        return self.sampler.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.sampler.load_state_dict(state)


def enhancer_payload(spec: EnhancerSpec, options: dict, model: torch.nn.Module, config_hash: str, iterations: int) -> dict:
    """What a trained enhancer file holds: enough to rebuild the network without the config."""
    return {
        "version": spec.version, "arch": spec.arch, "setting": spec.setting, "options": options,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "config_hash": config_hash, "iterations": iterations,
    }


# Tiny enhancers trained once by `make demo-enhancers` and shipped with hggt, so that the demo's
# versions really enhance (60 iterations in the demo itself did not) without minutes of training.
DEMO_ENHANCERS = Path(__file__).resolve().parent / "demo_enhancers"


def pretrained_folder(value: str) -> str:
    """The folder `enhancers.pretrained` names ('demo': the enhancers shipped with hggt)."""
    return str(DEMO_ENHANCERS) if value == "demo" else value


def pretrained_problem(payload: dict, spec: EnhancerSpec, options: dict) -> str | None:
    """Why a ready enhancer file cannot stand for enhancer ``spec`` with these network options
    (None: it can): another backbone, another Table 1 setting or another network size."""
    if payload.get("arch") != spec.arch or payload.get("setting") != spec.setting:
        return (f"it holds a {payload.get('arch')} enhancer for setting {payload.get('setting')}, "
                f"but enhancer {spec.version} is {spec.arch} on setting {spec.setting}")
    held = payload.get("options") or {}
    differ = sorted(k for k in set(held) | set(options) if held.get(k) != options.get(k))
    if differ:
        return (f"its {spec.arch} network differs from the config's in {', '.join(differ)} "
                f"(file: {', '.join(f'{k}={held.get(k)!r}' for k in differ)}; config: "
                f"{', '.join(f'{k}={options.get(k)!r}' for k in differ)})")
    return None
