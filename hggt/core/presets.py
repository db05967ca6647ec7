"""Named presets and how a config is resolved: preset, then a config file's sections, then
``section.key=value`` overrides, with unknown keys named (and the closest real one suggested)."""

from __future__ import annotations

import difflib
import json
from typing import Any

from pydantic import ValidationError

from hggt.core.config import HGGTConfig
from hggt.core import networks
from hggt.core.networks import ENHANCER, GENERATOR, demo_sizes
from hggt.core.sizes import DECLARED_SUFFIXES

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
        raise ConfigError(config_problems(exc, data)) from None


class ConfigError(ValueError):
    """A config that does not validate, as one readable line per problem (``problems``): no
    pydantic dump, no input_value=..., no link to pydantic's site."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


# What a versions entry of each kind takes, and what to write in each of its fields.
_VERSION_NAME = "NAME (1-16 letters, digits, '-' or '_'; it names the version's folder)"
ENTRY_FIELDS: dict[str, dict[str, str]] = {
    "declared": {
        "version": _VERSION_NAME,
        "model": f"PATH or URL of a {', '.join(DECLARED_SUFFIXES[:-1])} or {DECLARED_SUFFIXES[-1]} file that exists",
        "scale": "the model's factor, 1 to 8 (e.g. scale: 4), or leave scale out to use the one Spandrel detects",
    },
    "trained": {
        "version": _VERSION_NAME,
        "arch": f"{networks.choices(ENHANCER)}",
        "setting": "'1' or '2' (the Table 1 setting it trains on)",
    },
}


def _entry_problem(e: dict, data: dict) -> str:
    """One line for an error inside ``enhancers.versions[i]``: the enhancer (its version, or its
    place in the list), its kind, the field, what is wrong and what to write instead."""
    i, kind, *rest = e["loc"][2:]
    entries = ((data.get("enhancers") or {}).get("versions") or [])
    entry = entries[i] if isinstance(i, int) and i < len(entries) and isinstance(entries[i], dict) else {}
    version = entry.get("version")
    name = f"enhancer {version}" if isinstance(version, str) and version else f"enhancer #{i + 1}"
    who = name + (f" ({kind}, entry {i + 1} of enhancers.versions)" if kind in ENTRY_FIELDS else "")
    fields = ENTRY_FIELDS.get(kind, {})
    msg = str(e["msg"]).removeprefix("Value error, ").removeprefix(f"{name}: ")  # a validator's message may name it already
    field = str(rest[0]) if rest else ("model" if "model file" in msg else None)
    if e["type"] == "extra_forbidden":
        close = difflib.get_close_matches(field or "", list(fields), n=1, cutoff=0.5)
        return (f"{who}: unknown field {field!r}; {f'did you mean {close[0]!r}? ' if close else ''}"
                f"a {kind} enhancer takes {', '.join(fields)}")
    if e["type"] == "missing":
        return f"{who}: {field} is missing; write {field}: {fields.get(field, '...')}"
    msg = msg[:1].lower() + msg[1:]
    given = e.get("input")
    wrote = f" (you wrote {given!r})" if field in entry and not isinstance(given, (dict, list)) and repr(given) not in msg else ""
    fix = f"; write {field}: {fields[field]}" if field in fields else (
        f"; write {{{', '.join(f'{k}: ...' for k in fields)}}}" if fields else "")
    return f"{who}: {field + ': ' if field and not msg.startswith(('model file', field)) else ''}{msg}{wrote}{fix}"


def config_problems(exc: ValidationError, data: dict) -> list[str]:
    """Every error of a config as one line: an enhancer's entry by its version and field (with what
    to write there), an unknown key with the closest real one, any other by its dotted key."""
    out = []
    for e in exc.errors():
        loc = e["loc"]
        dotted = ".".join(map(str, loc))
        if loc[:2] == ("enhancers", "versions") and len(loc) >= 4:
            line = _entry_problem(e, data)
        elif e["type"] == "extra_forbidden":
            line = unknown_key_message(dotted)
        else:
            msg = str(e["msg"]).removeprefix("Value error, ")
            wrote = "" if e["type"].endswith("_validator") or isinstance(e.get("input"), (dict, list, tuple)) else f" (you wrote {e['input']!r})"
            line = msg if dotted in msg or e["type"] == "value_error" and len(loc) <= 1 and msg.startswith(("enhancer", loc[0] if loc else "")) \
                else f"{dotted}: {msg}{wrote if e['type'] != 'value_error' else ''}"
        if line not in out:
            out.append(line)
    return out


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

    from hggt.core import storage

    data = yaml.safe_load(storage.read_bytes(config_file)) or {}
    if not isinstance(data, dict):
        raise ValueError(f"config file {config_file} must hold a mapping of sections")
    return data
