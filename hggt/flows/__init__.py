"""hggt's Prefect flows, one per stage of the paper's pipeline (see build_dataset.py).

Importing a flow module has no side effect on the process: the allocator tuning, Prefect's
heartbeat fix and OpenCV's threading are set by :func:`flows.startup.startup` as a flow run starts.
"""
