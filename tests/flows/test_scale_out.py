"""The same flows on other task runners: a local Dask cluster on 127.0.0.1 and a process pool give
the manifests of the default thread pool. The runner is chosen one way, the environment a flow run
starts in (hggt.flows.runners.execution sets it as the CLI's options do)."""

from __future__ import annotations

import pytest

from hggt.flows.runners import execution
from hggt.flows.degrade import degrade_flow
from hggt.flows.patches import patches_flow
from hggt.core import manifests
from tests.flows.conftest import write_good_photos


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    photos = tmp_path_factory.mktemp("photos")
    write_good_photos(photos, count=4)
    root = str(tmp_path_factory.mktemp("threads"))
    patches_flow(out=root, input=str(photos), preset="demo")
    degrade_flow(source=root, out=root, preset="demo")
    return photos, root


def _same(a: str, b: str) -> None:
    for name in ("patches", "degradations"):
        assert manifests.read(a, name).equals(manifests.read(b, name)), name
    ia, ib = manifests.read(a, "images").drop_columns(["uri"]), manifests.read(b, "images").drop_columns(["uri"])
    assert ia.equals(ib)


def test_patches_and_degradations_on_a_local_dask_cluster(reference, tmp_path):
    from distributed import LocalCluster

    photos, ref = reference
    out = str(tmp_path / "dask")
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None) as cluster:
        with execution("dask", cluster.scheduler_address):
            patches_flow(out=out, input=str(photos), preset="demo")
            degrade_flow(source=out, out=out, preset="demo")
    _same(ref, out)


def test_patches_and_degradations_in_a_process_pool(reference, tmp_path):
    photos, ref = reference
    out = str(tmp_path / "processes")
    with execution("processes", workers=2):
        patches_flow(out=out, input=str(photos), preset="demo")
        degrade_flow(source=out, out=out, preset="demo")
    _same(ref, out)


def test_a_build_on_dask_starts_one_cluster_for_all_its_stages(reference, tmp_path, monkeypatch):
    import distributed

    from hggt.flows.build_dataset import build_dataset_flow

    photos, ref = reference
    started = []
    real = distributed.LocalCluster

    def counted(*args, **kwargs):
        started.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(distributed, "LocalCluster", counted)
    monkeypatch.setenv("HGGT_WORKERS", "2")
    monkeypatch.setenv("HGGT_TASK_RUNNER", "dask")  # as a deployment's job variables set it
    out = str(tmp_path / "build")
    build_dataset_flow(input=str(photos), out=out, preset="demo", until="degrade")
    assert len(started) == 1  # ingest, patches and degrade shared it (each stage used to start its own)
    _same(ref, out)


def test_a_wrong_runner_fails_before_any_flow_run(monkeypatch):
    monkeypatch.delenv("HGGT_TASK_RUNNER", raising=False)
    with pytest.raises(ValueError, match="unknown task runner 'gpu'; choose one of threads, processes, dask"):
        with execution("gpu"):
            pass
    import os

    assert "HGGT_TASK_RUNNER" not in os.environ  # the environment is restored
