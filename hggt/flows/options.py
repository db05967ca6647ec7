"""Typed stage options and the config field each one sets, written once: the CLI validates and
passes them by these names, the flows apply them through :func:`apply_options` (after the user's
overrides, so an explicit option wins). Prefect-free, so the CLI can check them before Prefect starts.
"""

from __future__ import annotations

import json
from typing import Any

# option name (a flow parameter, and the CLI option's Python name) -> dotted config field
STAGE_OPTIONS: dict[str, str] = {
    "seed": "seed",
    "settings": "degrade.settings",
    "samples_per_patch": "degrade.samples_per_patch",
    "top_n": "select.top_n",
    "min_diff": "select.min_diff",
    "annotators": "annotation.annotators",
    "per_set": "annotation.per_set",
    "batch_size": "annotation.batch_size",
    "host": "annotation.host",
    "port": "annotation.port",
}


def apply_options(overrides: list[str] | None, **options: Any) -> list[str]:
    """The overrides with each given option (None: not given) appended as ``field=<json>``."""
    unknown = sorted(set(options) - set(STAGE_OPTIONS))
    if unknown:
        raise TypeError(f"not stage options: {unknown}; known: {sorted(STAGE_OPTIONS)}")
    extra = [f"{STAGE_OPTIONS[name]}={json.dumps(value)}" for name, value in options.items() if value is not None]
    return [*(overrides or []), *extra]


def options_in(params: dict[str, Any]) -> dict[str, Any]:
    """The stage options among a flow's parameters."""
    return {k: v for k, v in params.items() if k in STAGE_OPTIONS}
