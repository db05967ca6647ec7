"""How a dataset was built: the preset and the overrides of the command that created it.

Later commands on the dataset start from them, so ``hggt train-sr --out DS`` on a demo-built
dataset trains the demo's networks without ``--preset demo`` (issue 26). A command that names a
different preset is refused in one line: its networks, crops and degradations would not fit the
dataset's. Datasets made before the record existed are read from their first stage run's config.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, NamedTuple

from hggt.core import catalog, manifests, storage
from hggt.core.config import HGGTConfig
from hggt.core.presets import _merge, config_from_options, load_config, parse_override, read_config_file

DEFAULT_PRESET = "paper"


class BuildRecord(NamedTuple):
    preset: str
    overrides: dict[str, Any]  # nested, as a config file holds them
    source: str  # "record" or "stage run" (a dataset older than the record)


def read_build(root: str) -> BuildRecord | None:
    """The dataset's recorded build, or None for a new folder. A record counts once a stage has
    finished on the dataset: a first command that failed (a typo in its input) binds nothing."""
    runs = manifests.read_or_empty(root, "stage_runs")
    if runs.num_rows == 0:
        return None
    url = storage.join(root, catalog.BUILD_RECORD)
    if storage.exists(url):
        data = json.loads(storage.read_bytes(url))
        return BuildRecord(data["preset"], data.get("overrides") or {}, "record")
    first = runs.sort_by([("started_at", "ascending")]).slice(0, 1).to_pylist()[0]
    return BuildRecord(json.loads(first["config_json"])["preset"], {}, "stage run")


def _nested(overrides: list[str] | None, config_file: str | None) -> tuple[str | None, dict[str, Any]]:
    """(the config file's own preset, the nested overrides of a config file and --set options)."""
    file_preset, merged = (None, {})
    if config_file:
        data = read_config_file(config_file)
        file_preset, merged = data.pop("preset", None), data
    for text in overrides or []:
        merged = _merge(merged, parse_override(text))
    return file_preset, merged


def resolve_for_dataset(
    root: str, preset: str | None, overrides: list[str] | None, config_file: str | None,
) -> tuple[HGGTConfig, BuildRecord | None]:
    """The config a command on ``root`` runs with: the recorded build's preset and overrides, then
    the command's own config file and overrides. ``preset`` None means "as recorded" (paper for
    a new dataset); a preset that differs from the recorded one is an error."""
    file_preset, nested = _nested(overrides, config_file)
    asked = preset or file_preset
    record = read_build(root)
    if record is None:
        return config_from_options(asked or DEFAULT_PRESET, None, nested), None
    if asked and asked != record.preset:
        raise ValueError(
            f"{root} was built with --preset {record.preset}; this command asks for --preset {asked}. "
            f"Leave --preset out to use the dataset's, or build a new dataset with --preset {asked}"
        )
    return load_config(record.preset, _merge(record.overrides, nested)), record


def record_build(root: str, preset: str, overrides: list[str] | None, config_file: str | None) -> None:
    """Write the build record of a new dataset (one no stage has finished on; never replaces the
    record of a dataset that has stage runs)."""
    url = storage.join(root, catalog.BUILD_RECORD)
    if read_build(root) is not None:
        return
    file_preset, nested = _nested(overrides, config_file)
    load_config(preset or file_preset or DEFAULT_PRESET, nested)  # only a valid config is recorded
    payload = {"preset": preset or file_preset or DEFAULT_PRESET, "overrides": nested,
               "recorded_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    storage.atomic_write(url, json.dumps(payload, indent=2, sort_keys=True).encode())
