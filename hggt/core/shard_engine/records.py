"""Running a shard item by item: each finished item leaves a record keyed by its inputs, config and
code, so a re-run computes only the items whose record is missing or whose artifacts changed."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable

from dataclasses import dataclass, field

from hggt.core import catalog, manifests, storage
from hggt.core.fingerprint import fingerprint
from hggt.core.shard_engine.integrity import artifact_problems, mtime
from hggt.core.shard_engine.work import ItemOutput, PartResult, ShardWork


def _record_url(work: ShardWork, item_id: str) -> str:
    return storage.join(work.root, catalog.item_record(work.stage, item_id))


def _item_key(work: ShardWork, item: dict) -> str:
    return fingerprint([portable(item, work.root), work.config_hash, work.code_version])


def portable(obj, root: str):
    """``obj`` with the dataset's own location written as "<root>", so that the key of an item whose
    inputs lie in the dataset (degrade, synthesize-lr) survives moving the dataset (cp -a, a copy
    to object storage); items that name no file of the dataset keep their key unchanged."""
    prefix = root.rstrip("/") + "/"
    if isinstance(obj, str):
        return "<root>/" + obj[len(prefix):] if obj.startswith(prefix) else obj
    if isinstance(obj, dict):
        return {k: portable(v, root) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [portable(v, root) for v in obj]
    return obj


@dataclass(frozen=True)
class ShardHooks:
    """What the engine needs from whoever runs it, passed in so that it imports no orchestrator:
    where to log, the event that stops a shard before its next item (a flow run ending), and what
    to call after each computed item (the crash tests' fault injection)."""

    logger: logging.Logger | logging.LoggerAdapter = field(default_factory=lambda: logging.getLogger("hggt"))
    stop: threading.Event = field(default_factory=threading.Event)
    after_item: Callable[[str], None] = lambda stage: None


def _load_record(work: ShardWork, item: dict, logger) -> ItemOutput | None:
    url = _record_url(work, item["item_id"])
    try:
        record = json.loads(storage.read_bytes(url))
        written_at = mtime(storage.url_to_fs(url)[0].info(storage.url_to_fs(url)[1]))
    except (FileNotFoundError, ValueError):
        return None
    if record.get("key") != _item_key(work, item):
        return None
    out = ItemOutput(record["rows"], record["rejected"], [tuple(a) + (None,) * (3 - len(a)) for a in record["artifacts"]])
    problems = artifact_problems(work.root, out.artifacts, written_at)
    for problem in problems:
        logger.warning("%s item %s will be recomputed: %s", work.stage, item["item_id"], problem)
    return None if problems else out


def _save_record(work: ShardWork, item: dict, out: ItemOutput) -> None:
    record = {"key": _item_key(work, item), "rows": out.rows, "rejected": out.rejected, "artifacts": out.artifacts}
    storage.atomic_write(_record_url(work, item["item_id"]), json.dumps(record, sort_keys=True).encode())


class ShardStopped(RuntimeError):
    pass


class ItemTally:
    """How many items each running shard of this process has finished, for live progress: the
    flow that submitted the shards reads it every second (shards run in its task threads; shards
    run by Dask workers in other processes show up as each shard ends)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._done: dict[tuple[str, str, str], int] = {}

    @staticmethod
    def key(work: ShardWork) -> tuple[str, str, str]:
        return work.root, work.stage, work.shard_key

    def tick(self, work: ShardWork) -> None:
        with self._lock:
            self._done[self.key(work)] = self._done.get(self.key(work), 0) + 1

    def done(self, work: ShardWork) -> int:
        with self._lock:
            return self._done.get(self.key(work), 0)

    def forget(self, works: list[ShardWork]) -> None:
        with self._lock:
            for work in works:
                self._done.pop(self.key(work), None)


TALLY = ItemTally()


def run_shard(work: ShardWork, process: Callable[[dict], ItemOutput], hooks: ShardHooks | None = None) -> PartResult:
    """``process`` each item of the shard that has no intact record, record it, and write the
    shard's part. Stops before the next item once ``hooks.stop`` is set (items done keep their records)."""
    hooks = hooks or ShardHooks()
    started = time.perf_counter()
    rows: list[dict] = []
    rejected: list[dict] = []
    computed, core = 0, 0.0
    for item in work.items:
        if hooks.stop.is_set():
            raise ShardStopped(f"{work.stage} shard {work.shard_key} stopped before item {item['item_id']}: its flow run is ending")
        out = _load_record(work, item, hooks.logger)
        if out is None:
            t0 = time.perf_counter()
            out = process(item)
            core += time.perf_counter() - t0
            _save_record(work, item, out)
            computed += 1
            hooks.after_item(work.stage.split("/")[0])
        rows.extend(out.rows)
        rejected.extend(out.rejected)
        TALLY.tick(work)
    part = storage.join(work.root, catalog.shard_part(work.stage, work.shard_key))
    written = manifests.write_table(part, work.manifest, manifests.to_table(work.manifest, rows))
    rejected_uri = None
    if rejected:
        rejected_uri = storage.join(work.root, catalog.shard_part(work.stage, work.shard_key, rejected=True))
        manifests.write_table(rejected_uri, "rejected", manifests.to_table("rejected", rejected))
    return PartResult(
        stage=work.stage,
        manifest=work.manifest,
        shard_key=work.shard_key,
        part_uri=part,
        part_sha256=written.sha256,
        rejected_uri=rejected_uri,
        rows=len(rows),
        rejected=len(rejected),
        items=len(work.items),
        computed=computed,
        seconds=time.perf_counter() - started,
        core_seconds=core,
    )
