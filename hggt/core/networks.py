"""The registry of networks: one entry per architecture, read by everything that names one.

The config validators, the config sections' size fields, training, evaluation, export and the
CLI all take their list of networks from :data:`NETWORKS`, so adding a network is one file in
``hggt/core/archs`` plus one entry here (docs/development/adding-a-network.md). The table imports no torch:
a network's class is named by import path and loaded only when one is built
(:func:`hggt.core.archs.build_generator`).
"""

from __future__ import annotations

import importlib
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, Field, create_model

from hggt.core.sizes import ELANSize, Frozen, RCANSize, RRDBSize, SwinIRSize

ENHANCER = "enhancer"  # same-size enhancement backbone (paper Sec. 3.2): trained by train-enhancers
GENERATOR = "generator"  # Real-ISR generator (Sec. 4-5): trained by train-sr, scored by evaluate
Role = Literal["enhancer", "generator"]
Section = TypeVar("Section", bound=BaseModel)


@dataclass(frozen=True, eq=False)
class Network:
    name: str  # what configs, model files and the CLI call it
    target: str  # "module:Class" of its nn.Module, imported on first build
    size: type[Frozen]  # its typed options; their defaults are the paper's sizes (hggt.core.sizes)
    display: str  # how tables and figures name it
    roles: tuple[Role, ...]  # what it serves as: one entry and one class for each, e.g. (ENHANCER, GENERATOR)
    scales: tuple[int, ...]  # output size / input size it supports: its constructor's ``scale``
    # Options added after model files were already being written, with the value those files
    # were trained with: a file that does not name an option gets this, never today's default.
    legacy_options: Mapping[str, Any] = field(default_factory=dict)
    # The Spandrel (chaiNNer, ComfyUI) architecture that reads its safetensors, and the options
    # under which Spandrel rebuilds it exactly (other widths or upsamplers load wrongly or not at all).
    spandrel: str | None = None
    spandrel_exact: Mapping[str, Any] = field(default_factory=dict)
    # Options that build it in milliseconds: tests and benchmarks, never a result.
    tiny: Mapping[str, Any] = field(default_factory=dict)
    # Its size in the demo preset: small enough for a demo of minutes on 2 CPUs. Empty would run the
    # demo at the paper's size. An enhancer's must be the size of its shipped file (hggt/core/demo_enhancers).
    demo: Mapping[str, Any] = field(default_factory=dict)

    @property
    def module(self) -> str:
        return self.target.partition(":")[0]

    @property
    def upsamplers(self) -> tuple[str, ...]:
        """The upsamplers its size model accepts (none for the same-size enhancers)."""
        spec = self.size.model_fields.get("upsampler")
        return tuple(typing.get_args(spec.annotation)) if spec is not None else ()

    def load(self) -> type:
        module, _, name = self.target.partition(":")
        return getattr(importlib.import_module(module), name)

    def options_in(self, section: BaseModel) -> dict[str, Any]:
        """This network's options as a config section (enhancers, train_sr) sets them."""
        return getattr(section, self.name).model_dump()


_ENTRIES = (
    Network(
        "rcan", "hggt.core.archs.rcan:RCAN", RCANSize, "RCAN", (ENHANCER,), scales=(1,),
        legacy_options={"img_range": 1.0}, tiny={"groups": 1, "blocks": 1, "channels": 8, "reduction": 4},
        demo={"groups": 1, "blocks": 2, "channels": 16, "reduction": 4},
    ),
    Network(
        "elan", "hggt.core.archs.elan:ELAN", ELANSize, "ELAN", (ENHANCER,), scales=(1,),
        legacy_options={"img_range": 1.0, "scaled_attention": True}, tiny={"blocks": 2, "channels": 24},
        demo={"blocks": 2, "channels": 24, "windows": (4, 8, 16), "expansion": 2},
    ),
    Network(
        "rrdb", "hggt.core.archs.rrdbnet:RRDBNet", RRDBSize, "RRDB", (GENERATOR,), scales=(4,),
        legacy_options={"upsampler": "nearest"}, spandrel="ESRGAN", spandrel_exact={"upsampler": "nearest", "growth": 32},
        tiny={"blocks": 1, "channels": 8, "growth": 4},
        # The paper's upsampler at a tiny width: Spandrel loads neither demo generator (growth and
        # upsampler widths differ from the reference), so the demo's exports are for onnx and BasicSR.
        demo={"blocks": 2, "channels": 16, "growth": 8, "upsampler": "pixelshuffle"},
    ),
    Network(
        "swinir", "hggt.core.archs.swinir:SwinIR", SwinIRSize, "SwinIR", (GENERATOR,), scales=(4,),
        # Files from before `pad` and `drop_path_rate` padded to the next multiple and trained without stochastic depth.
        # Spandrel's SwinIR pads to the next multiple too: at the authors' padding its outputs differ from ours.
        legacy_options={"upsampler": "nearest+conv", "pad": "multiple", "drop_path_rate": 0.0}, spandrel="SwinIR",
        spandrel_exact={"num_feat": 64, "pad": "multiple"},
        tiny={"embed_dim": 12, "depths": (2,), "num_heads": (2,), "window_size": 4, "num_feat": 8},
        demo={"embed_dim": 24, "depths": (2, 2), "num_heads": (2, 2), "window_size": 8, "num_feat": 16, "upsampler": "pixelshuffle"},
    ),
)
NETWORKS: Mapping[str, Network] = MappingProxyType({n.name: n for n in _ENTRIES})


def names(role: Role | None = None) -> tuple[str, ...]:
    return tuple(n.name for n in _ENTRIES if role is None or role in n.roles)


def demo_sizes(role: Role) -> dict[str, dict[str, Any]]:
    """The demo preset's entries of a config section (enhancers, train_sr): each network's ``demo``."""
    return {n.name: dict(n.demo) for n in _ENTRIES if role in n.roles}


def modules(role: Role) -> tuple[str, ...]:
    """The modules of the networks of ``role``: part of a training stage's code version."""
    return tuple(n.module for n in _ENTRIES if role in n.roles)


def choices(role: Role | None = None) -> str:
    """'rcan or elan', 'rrdb, swinir or x': for messages and help texts."""
    found = names(role)
    return found[0] if len(found) == 1 else f"{', '.join(found[:-1])} or {found[-1]}"


def network(name: str, role: Role | None = None) -> Network:
    entry = NETWORKS.get(name)
    if entry is None or (role is not None and role not in entry.roles):
        what = f"{role} architecture" if role else "architecture"
        raise ValueError(f"unknown {what} {name!r}; choose {choices(role)}")
    return entry


def with_sizes(role: Role) -> Callable[[type[Section]], type[Section]]:
    """Class decorator of a config section (enhancers, train_sr): adds one field per network of
    ``role``, named as the network and holding its size model at the paper's defaults, so that a
    new registry entry is configurable (``--set enhancers.<name>.<option>=...``) without an edit there."""

    def add(section: type[Section]) -> type[Section]:
        fields: dict[str, Any] = {
            n.name: (n.size, Field(n.size(), description=f"{n.display} network options (defaults: the paper's)."))
            for n in _ENTRIES if role in n.roles
        }
        return create_model(section.__name__, __base__=section, __module__=section.__module__, __doc__=section.__doc__, **fields)

    return add
