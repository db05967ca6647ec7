"""The options that many `hggt` commands share, declared once.

A command names a group by a parameter annotated with its class (``dataset: DatasetConfig``,
``execution: Execution``); :func:`shared_options` shows typer the group's flat options at that
place and hands the command one object. Flags and help texts are the same on every command.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from typing import Annotated, Any, Optional

import typer

Out = Annotated[str, typer.Option("--out", "-o", help="Dataset folder or fsspec URL (memory://, s3://...) to write to.")]
Input = Annotated[str, typer.Option("--input", "-i", help="Folder, glob or fsspec URL of the HR photos.")]
Preset = Annotated[
    Optional[str],
    typer.Option("--preset", "-p", help="Config preset: 'paper' (the paper's values) or 'demo' (small crops, fast). "
                                        "Default: the preset the dataset was built with; paper for a new dataset."),
]
Overrides = Annotated[
    Optional[list[str]],
    typer.Option("--set", "-s", help="Override a config value, e.g. --set patches.step=256 (repeatable)."),
]
ConfigFile = Annotated[Optional[str], typer.Option("--config", "-c", help="YAML/JSON file of config overrides.")]
Workers = Annotated[Optional[int], typer.Option("--workers", "-w", help="Parallel tasks (default: CPU count).")]
Runner = Annotated[Optional[str], typer.Option("--task-runner", help="Where shards run: threads (default), processes or dask.")]
DaskAddress = Annotated[Optional[str], typer.Option("--dask-address", help="An existing Dask scheduler, e.g. tcp://10.0.0.5:8786.")]


@dataclasses.dataclass(frozen=True)
class DatasetConfig:
    """--preset, --set, --config: the config a stage runs with (flow parameters of the same names)."""

    preset: Preset = None
    overrides: Overrides = None
    config_file: ConfigFile = None

    def params(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class Execution:
    """--workers, --task-runner, --dask-address: where a stage's shards run."""

    workers: Workers = None
    task_runner: Runner = None
    dask_address: DaskAddress = None


GROUPS = (DatasetConfig, Execution)


def shared_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The command with each group parameter shown to typer as the group's own options."""
    signature = inspect.signature(command, eval_str=True)
    shown: list[inspect.Parameter] = []
    groups: dict[str, type] = {}
    for p in signature.parameters.values():
        if p.annotation in GROUPS:
            groups[p.name] = p.annotation
            hints = inspect.get_annotations(p.annotation, eval_str=True)
            shown += [inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default, annotation=hints[f.name])
                      for f in dataclasses.fields(p.annotation)]
        else:
            shown.append(p.replace(kind=inspect.Parameter.KEYWORD_ONLY))

    def run(**kwargs: Any) -> Any:
        for name, group in groups.items():
            kwargs[name] = group(**{f.name: kwargs.pop(f.name) for f in dataclasses.fields(group)})
        return command(**kwargs)

    run.__name__, run.__qualname__, run.__doc__, run.__module__ = command.__name__, command.__qualname__, command.__doc__, command.__module__
    run.__signature__ = signature.replace(parameters=shown)  # type: ignore[attr-defined]
    run.__annotations__ = {p.name: p.annotation for p in shown}
    return run
