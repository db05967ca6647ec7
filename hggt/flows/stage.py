"""How every flow receives its dataset and config: the flat parameters (out, preset, overrides,
config_file, typed stage options) that deployments and the CLI pass, resolved once per flow run
into the normalised dataset root and the config."""

from __future__ import annotations

import importlib
import json
import posixpath
from typing import Any, NamedTuple

from hggt.flows.options import apply_options
from hggt.core import storage
from hggt.core.config import HGGTConfig
from hggt.core.build_record import record_build, resolve_for_dataset
from hggt.core.presets import read_config_file
from hggt.core.stages import StageEntry


class Stage(NamedTuple):
    root: str
    cfg: HGGTConfig

    @classmethod
    def open(cls, out: str, preset: str | None = None, overrides: list[str] | None = None, config_file: str | None = None,
             **options: Any) -> Stage:
        """``options`` are typed stage options (hggt.flows.options.STAGE_OPTIONS; None: not given). ``preset``
        None: the one the dataset was built with (:mod:`hggt.core.build_record`); a new dataset
        records the preset and overrides it is opened with."""
        root = storage.normalize_root(out)
        overrides = apply_options(overrides, **options)
        cfg, record = resolve_for_dataset(root, preset, overrides, config_file)
        if record is None:
            record_build(root, preset, overrides, config_file)
        return cls(root, cfg)


def flow_of(entry: StageEntry):
    """The Prefect flow a row of the stage table names."""
    module, _, name = entry.flow.partition(":")
    return getattr(importlib.import_module(module), name)


def dataset_params(out: str, preset: str | None, overrides: list[str] | None, config_file: str | None) -> dict:
    """The flat parameters a flow passes on to the sub-flows of the same dataset and config."""
    return {"out": out, "preset": preset, "overrides": overrides, "config_file": config_file}


def frozen_params(out: str, preset: str | None, overrides: list[str] | None, config_file: str | None) -> dict:
    """:func:`dataset_params` with the config file read once, here: its sections become the leading
    overrides (the command's own --set still win), so every stage of one build runs with the config
    the build started with, whatever happens to the file meanwhile (a build paused for annotation
    may wait for days while someone edits its YAML)."""
    if not config_file:
        return dataset_params(out, preset, overrides, None)
    sections = read_config_file(config_file)
    file_preset = sections.pop("preset", None)
    snapshot = [f"{name}={json.dumps(value, default=str)}" for name, value in sections.items()]
    return dataset_params(out, preset or file_preset, [*snapshot, *(overrides or [])], None)


def run_name() -> str:
    """A flow run's name in the dashboard and `prefect flow-run ls`: the stage and the dataset's
    folder name (plus arch/mode for training runs), not Prefect's random adjective-animal."""
    from prefect.runtime import flow_run

    params = flow_run.parameters or {}
    where = str(params.get("out") or "").rstrip("/")
    parts = [flow_run.flow_name, posixpath.basename(where) if where else ""]
    if params.get("arch") and params.get("mode"):
        parts.append(f"{params['arch']}/{params['mode']}")
    return " ".join(p for p in parts if p)
