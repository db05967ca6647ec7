"""Content-keyed task caching.

A shard task's cache key is built from what determines its output: the content fingerprint of
its input shard, the stage config hash, the dataset root and the stage's code version
(hggt.tasks.code_closure: the source of every module its task module imports; TASK_SOURCE only covers
the task function itself). Prefect's default policy would include the flow run id and never hit
across separate runs.
"""

from __future__ import annotations

from typing import Any

from prefect.cache_policies import TASK_SOURCE, CacheKeyFnPolicy, CachePolicy

from hggt.core.fingerprint import fingerprint


def _shard_key(_context: Any, parameters: dict[str, Any]) -> str:
    work = parameters["work"]
    return fingerprint([work.stage, work.root, work.shard_key, work.config_hash, work.code_version])


SHARD_CACHE: CachePolicy = TASK_SOURCE + CacheKeyFnPolicy(cache_key_fn=_shard_key)


def _explicit_key(_context: Any, parameters: dict[str, Any]) -> str:
    return parameters["cache_key"]


# For tasks whose caller computes the key from everything the output depends on.
KEYED_CACHE: CachePolicy = TASK_SOURCE + CacheKeyFnPolicy(cache_key_fn=_explicit_key)
