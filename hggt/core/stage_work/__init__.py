"""What one item of each sharded stage does, as a contract the shard engine runs
(hggt.core.shard_engine.contract.ShardedStage): patches, degrade and synthesize-lr, enhance, maps.
Each module lists its stage's items and processes one; hggt.tasks.sharded turns the contract into
Prefect tasks."""
