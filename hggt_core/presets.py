"""Named presets and how a config is resolved: preset, then a config file's sections, then
``section.key=value`` overrides, with unknown keys named (and the closest real one suggested)."""

from __future__ import annotations

import difflib
import json
from typing import Any

from pydantic import ValidationError

from hggt_core.config import HGGTConfig
from hggt_core.networks import ENHANCER, GENERATOR, demo_sizes

# The demo preset scales the paper's geometry by 1/4 so that scikit-image's small photos
# (300 to 1400 px) yield a few dozen candidates and the demo finishes in minutes on 2 CPUs.
_PRESETS: dict[str, dict[str, Any]] = {
    "paper": {},
    "demo": {
        "patches": {
            "crop_size": 128,
            "step": 72,
            "jitter": 4,
            "offset_rules": [
                {"min_length": 0, "max_offset": 8},
                {"min_length": 300, "max_offset": 16},
                {"min_length": 600, "max_offset": 32},
            ],
            "shard_size": 4,
        },
        "ingest": {"shard_size": 8},
        "degrade": {"shard_size": 64},
        # Tiny enhancers for a few dozen iterations at a high learning rate, without the VGG
        # perceptual term (no weights are downloaded): the demo shows the pipeline, not the
        # paper's image quality.
        "enhancers": {
            # The shipped tiny enhancers (make demo-enhancers trains them with the schedule below, longer),
            # at the registry's demo sizes.
            "pretrained": "demo",
            **demo_sizes(ENHANCER),
            "train": {
                "iterations": 60, "milestones": [45], "batch_size": 2, "gt_size": 64, "pool_size": 8, "lr": 1e-3,
                "perceptual_weight": 0.0, "checkpoint_every": 30, "log_every": 10, "image_buffer": 4,
                "discriminator_channels": 16,
            },
        },
        "enhance": {"tile": 256, "overlap": 16, "shard_size": 3},
        "train_sr": {
            # The demo's undertrained enhancers make indication maps over most pixels, where the
            # paper's weight 300 would drown every other term; its own data is not like that.
            "negative_weight": 30.0,
            "clamp_negative": True,  # undertrained enhancers' maps cover most pixels: the unbounded term would diverge
            # Every per-architecture schedule of the paper off: each demo generator trains on the demo's `train`.
            "arch_train": dict.fromkeys(HGGTConfig().train_sr.arch_train),
            **demo_sizes(GENERATOR),  # the registry's demo sizes
            # ema_warmup: with the paper's constant 0.999 the EMA of a 100-iteration run would be 90%
            # its starting weights (0.999^100 = 0.90), random ones in the demo's psnr runs.
            "train": {
                "iterations": 100, "milestones": [75], "batch_size": 4, "gt_size": 64, "pool_size": 8, "lr": 2e-3,
                "perceptual_weight": 0.0, "checkpoint_every": 50, "log_every": 10, "image_buffer": 8,
                "discriminator_channels": 16, "ema_warmup": True,
            },
        },
        # Nobody annotates the demo: a proxy annotator votes, and the demo says so.
        "annotation": {"mode": "proxy", "batch_size": 100},
        "split": {"test_sets": 4},
    },
}


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def load_config(preset: str = "paper", overrides: dict[str, Any] | None = None) -> HGGTConfig:
    """Resolve a preset plus nested overrides (e.g. ``{"patches": {"step": 256}}``)."""
    if preset not in _PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(_PRESETS)}")
    if overrides and "preset" in overrides:
        raise ValueError("the preset is chosen with --preset, not overridden")
    # Overrides land on the complete defaults, so a nested section keeps the values it does not
    # name (train_sr.train defaults differ from a bare TrainConfig's).
    data = _merge(_merge(HGGTConfig().model_dump(mode="json"), _PRESETS[preset]), overrides or {})
    data["preset"] = preset
    try:
        return HGGTConfig.model_validate(data)
    except ValidationError as exc:
        unknown = [".".join(map(str, e["loc"])) for e in exc.errors() if e["type"] == "extra_forbidden"]
        if unknown:
            raise ValueError(unknown_key_message(unknown[0])) from None
        raise


def _dotted_keys(node: Any, prefix: str = "") -> list[str]:
    if not isinstance(node, dict):
        return []
    keys = []
    for key, value in node.items():
        keys.append(prefix + str(key))
        keys += _dotted_keys(value, f"{prefix}{key}.")
    return keys


def unknown_key_message(key: str) -> str:
    """One line naming the unknown config key and the closest real one (patches.stpe -> patches.step)."""
    close = difflib.get_close_matches(key, _dotted_keys(HGGTConfig().model_dump(mode="json")), n=1, cutoff=0.6)
    return f"unknown config key {key!r}" + (f"; did you mean {close[0]!r}?" if close else "")


def parse_override(text: str) -> dict[str, Any]:
    """Turn ``patches.step=256`` into ``{"patches": {"step": 256}}`` (value parsed as JSON when it can be)."""
    if "=" not in text:
        raise ValueError(f"override {text!r} must look like section.key=value")
    dotted, raw = text.split("=", 1)
    try:
        value: Any = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    out: dict[str, Any] = {}
    node = out
    parts = dotted.strip().split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return out


def config_from_options(preset: str, overrides: list[str] | None = None, base: dict[str, Any] | None = None) -> HGGTConfig:
    """Preset, then ``base`` (a config file's nested overrides), then ``section.key=value`` overrides."""
    merged: dict[str, Any] = dict(base or {})
    for text in overrides or []:
        merged = _merge(merged, parse_override(text))
    return load_config(preset, merged)


def resolve_config(preset: str, overrides: list[str] | None, config_file: str | None) -> HGGTConfig:
    """The config a command or flow runs with: preset, config file (which may name its own preset), overrides."""
    if not config_file:
        return config_from_options(preset, overrides)
    data = read_config_file(config_file)
    return config_from_options(data.pop("preset", preset), overrides, data)


def read_config_file(config_file: str) -> dict[str, Any]:
    """A YAML/JSON config file's nested sections (and its own ``preset``, if it names one)."""
    import yaml

    from hggt_core import storage

    data = yaml.safe_load(storage.read_bytes(config_file)) or {}
    if not isinstance(data, dict):
        raise ValueError(f"config file {config_file} must hold a mapping of sections")
    return data
