"""What a sharded stage is, apart from how it is run: its items, what is done to one item, and what
its merge keeps. hggt.tasks.sharded makes a stage's plan, shard and merge tasks from one of these; the
stages' own are in hggt.core.stage_work."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa

from hggt.core import stages
from hggt.core.config import HGGTConfig
from hggt.core.shard_engine.work import ItemOutput, ShardWork, shard_items


def no_folders(cfg: HGGTConfig) -> tuple[str, ...]:
    return ()


@dataclass(frozen=True)
class ShardedStage:
    stage: str  # its row in the stage table (hggt.core.stages): what it reads and writes
    name: str  # its item records' folder, seed stream and shard keys (synthesize-lr's: "lr_test")
    manifest: str  # the manifest its merge writes
    sections: tuple[str, ...]  # the config sections its output depends on: the shards' config hash
    shard_size: Callable[[HGGTConfig], int]
    items: Callable[[str, HGGTConfig, str | None], list[dict]]  # (dataset, config, input dataset) -> items
    process: Callable[[dict, str, HGGTConfig], ItemOutput]  # (item, dataset, config) -> its rows and files
    artifact_dirs: Callable[[HGGTConfig], tuple[str, ...]] = no_folders  # folders the merge tidies
    extra: Callable[[pa.Table], dict] | None = None  # counts its summary adds, from the merged manifest

    @property
    def reads(self) -> tuple[str, ...]:
        return stages.BY_NAME[self.stage].reads

    @property
    def writes(self) -> tuple[str, ...]:
        return stages.BY_NAME[self.stage].writes

    def works(self, root: str, cfg: HGGTConfig, code: str, source: str | None = None) -> list[ShardWork]:
        """The stage's shards of the dataset at ``root`` (``source``: the dataset it reads, where
        that may be another one); ``code``: the stage's code version."""
        config_hash = cfg.section_hash(*self.sections)
        return [ShardWork(self.name, self.manifest, root, key, config_hash, code, chunk)
                for key, chunk in shard_items(self.name, self.items(root, cfg, source), self.shard_size(cfg))]
