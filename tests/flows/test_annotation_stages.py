"""Annotation in the pipeline: export, ingestion of our and the published layout's label files
with every kind of bad input, the proxy annotator, and the pause that waits for people."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from hggt.flows.annotate import annotate_export_flow, annotate_flow, annotate_ingest_flow
from hggt.flows.build_dataset import build_dataset_flow
from hggt.core import manifests
from hggt.core.annotation.published import format_label_file
from hggt.core.images import encode_png
from hggt.tasks.annotation import store_for
from tests.flows.conftest import TINY, write_good_photos
from tests.photos import textured

START = dt.datetime(2023, 5, 1, 9, 0, 0)


@pytest.fixture(scope="module")
def selected(tmp_path_factory):
    photos = tmp_path_factory.mktemp("photos")
    write_good_photos(photos, count=2, size=(200, 260))
    root = tmp_path_factory.mktemp("ds")
    build_dataset_flow(input=str(photos), out=str(root), preset="demo", overrides=[*TINY, "select.top_n=6"], until="select")
    return root


def _copy(selected: Path, dest: Path) -> Path:
    import shutil

    shutil.copytree(selected, dest)
    return dest


def test_export_assigns_balanced_work_and_writes_the_published_layout(selected, tmp_path):
    root = _copy(selected, tmp_path / "ds")
    overrides = [*TINY, 'annotation.annotators=["ann1","ann2","ann3","ann4"]', "annotation.batch_size=4"]
    summary = annotate_export_flow(out=str(root), preset="demo", overrides=overrides)
    assert summary["created"] and set(summary["tokens"]) == {"ann1", "ann2", "ann3", "ann4"}
    rows = manifests.read(str(root), "assignments").to_pylist()
    per_set = Counter(r["set_id"] for r in rows)
    assert set(per_set.values()) == {3} and len(per_set) == 6
    loads = Counter(r["annotator"] for r in rows)
    assert max(loads.values()) - min(loads.values()) <= 1 and sum(loads.values()) == 18
    assert {r["batch"] for r in rows} == {0, 1}
    layout = root / "annotation" / "images" / "0000"
    assert sorted(p.name for p in layout.iterdir()) == ["01", "02", "03", "04", "original"]
    assert len(list((layout / "02").glob("*_02.png"))) == 4
    tokens = (root / "annotation" / "tokens.txt")
    assert oct(tokens.stat().st_mode & 0o777) == "0o600" and summary["tokens"]["ann2"] in tokens.read_text()
    again = annotate_export_flow(out=str(root), preset="demo", overrides=overrides)
    assert not again["created"] and store_for(str(root)).annotator_for_token(summary["tokens"]["ann1"]) == "ann1"


def _label(set_id, labels):
    return format_label_file(set_id, labels, START, START + dt.timedelta(seconds=30), 30.0)


def _published_dataset(folder: Path, sets: int) -> list[str]:
    ids = [f"0{i:03d}-0-0" for i in range(sets)]
    for set_id in ids:
        for f in ("original", "01", "02", "03", "04"):
            d = folder / "images" / "0001-1000" / f
            d.mkdir(parents=True, exist_ok=True)
            name = f"{set_id}.png" if f == "original" else f"{set_id}_{f}.png"
            (d / name).write_bytes(encode_png(textured(16, 16, seed=len(name))))
    return ids


def test_published_dataset_import_reports_every_bad_file_and_ingests_the_rest(tmp_path):
    src, out = tmp_path / "HGGT", tmp_path / "ds"
    ids = _published_dataset(src, 4)
    (src / "images" / "0001-1000" / "03" / f"{ids[3]}_03.png").unlink()  # an incomplete set
    labels = src / "labels" / "0001-1000"
    plan = {"01": "Positive", "02": "Negative", "03": "Similar", "04": "Positive"}
    for annotator in "ABC":
        (labels / annotator).mkdir(parents=True)
        for set_id in ids[:2]:
            (labels / annotator / f"{set_id}.json").write_bytes(_label(set_id, plan))
    (labels / "A" / f"{ids[2]}.json").write_bytes(_label(ids[2], plan))  # set 2: one annotator only
    bad = {
        "B/0002-0-0.json": b"{ nope",
        "C/0002-0-0.json": json.dumps({"Picture_1": {}}).encode(),
        "D/0000-0-0.json": _label(ids[0], {**plan, "02": "Meh"}),
        "D/0001-0-0.json": _label(ids[1], plan).replace(b"0001-0-0_04.png", b"0009-0-0_04.png"),
        "E/9999-0-0.json": _label("9999-0-0", plan),
    }
    for rel, data in bad.items():
        (labels / rel).parent.mkdir(parents=True, exist_ok=True)
        (labels / rel).write_bytes(data)
    (src / "labels" / "A").mkdir(parents=True)
    (src / "labels" / "A" / f"{ids[0]}.json").write_bytes(_label(ids[0], plan))  # A voted on set 0 twice

    summary = annotate_ingest_flow(out=str(out), labels=str(src), preset="demo")
    assert sorted(manifests.read(str(out), "sets").column("set_id").to_pylist()) == ids[:3]
    reasons = dict(summary["reasons"])
    assert "not JSON" in reasons["labels/0001-1000/B/0002-0-0.json"]
    assert "missing Picture_2" in reasons["labels/0001-1000/C/0002-0-0.json"]
    assert "unknown label 'Meh'" in reasons["labels/0001-1000/D/0000-0-0.json"]
    assert "does not match File" in reasons["labels/0001-1000/D/0001-0-0.json"]
    assert "unknown set 9999-0-0" in reasons["labels/0001-1000/E/9999-0-0.json"]
    assert "duplicate vote: annotator A already labelled set 0000-0-0" in reasons["labels/A/0000-0-0.json"]
    assert "lacks its 03 image" in reasons["images/0003-0-0"]
    assert "fewer than 3 annotators" in reasons["0002-0-0"]
    votes = manifests.read(str(out), "votes").to_pylist()
    assert len(votes) == (3 * 2 + 1) * 4 and {v["source"] for v in votes} == {"published"}
    assert all(v["seconds"] == 30.0 for v in votes)
    labels_rows = manifests.read(str(out), "labels").to_pylist()
    assert {(r["set_id"], r["version"]): r["effective_label"] for r in labels_rows} == {
        (s, v): lab for s in ids[:2] for v, lab in plan.items()}
    assert all(r["vote_count"] == 3 and r["usable"] and r["source"] == "human" for r in labels_rows)
    report = summary["report"]["human"]
    assert report["fleiss_kappa"] == pytest.approx(1.0) and report["dawid_skene"]["agreement_with_paper_rule"] == 1.0
    images = manifests.read(str(out), "set_images").to_pylist()  # a new dataset holds the sets' images itself
    assert len(images) == 15 and all((out / r["uri"]).is_file() for r in images)


def test_proxy_votes_are_labelled_as_such_and_never_mixed_with_human_ones(selected, tmp_path):
    root = _copy(selected, tmp_path / "ds")
    summary = annotate_flow(out=str(root), preset="demo", overrides=TINY)
    assert summary["proxy"] and summary["sources"] == ["proxy"]
    rows = manifests.read(str(root), "labels").to_pylist()
    assert len(rows) == 24 and {r["source"] for r in rows} == {"proxy"}
    store = store_for(str(root))
    first = store.sets()[0]["set_id"]
    for name in ("A", "B", "C"):
        store.record(name, first, {"1": "Positive", "2": "Positive", "3": "Similar", "4": "Negative"}, 9.0)
    summary = annotate_ingest_flow(out=str(root), preset="demo", overrides=TINY)
    by_set = {r["set_id"]: r["source"] for r in manifests.read(str(root), "labels").to_pylist()}
    assert by_set[first] == "human" and Counter(by_set.values()) == {"proxy": 5, "human": 1}
    assert ("proxy votes ignored: the set has human votes") in dict(summary["reasons"])[first]
    assert (root / "labels" / "B" / f"{first}.json").is_file()  # app votes also as published label files


def test_build_dataset_waits_for_people_and_resumes(selected, tmp_path, prefect_server):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterState, FlowRunFilterStateName
    from prefect.flow_runs import resume_flow_run

    root = _copy(selected, tmp_path / "ds")
    overrides = [*TINY, "annotation.mode=human", "annotation.per_set=2", 'annotation.annotators=["A","B"]']
    result = {}

    def run():
        result["summary"] = annotate_flow(out=str(root), preset="demo", overrides=overrides)

    thread = threading.Thread(target=run)
    thread.start()
    paused = None
    deadline = time.monotonic() + 120
    with get_client(sync_client=True) as client:
        while paused is None:
            assert time.monotonic() < deadline and thread.is_alive(), "the flow never paused"
            runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(state=FlowRunFilterState(name=FlowRunFilterStateName(any_=["Paused"]))))
            paused = next((r for r in runs if r.name and str(root) in str(r.parameters.get("out", ""))), None)
            time.sleep(0.5)
    store = store_for(str(root))
    for annotator in ("A", "B"):
        for q in store.queue(annotator):
            store.record(annotator, q["set_id"], {"1": "Positive", "2": "Negative", "3": "Negative", "4": "Similar"}, 5.0)
    resume_flow_run(paused.id, run_input={"proceed": True})
    thread.join(timeout=180)
    assert not thread.is_alive()
    assert result["summary"]["sources"] == ["human"] and result["summary"]["sets"] == 6
    assert {r["source"] for r in manifests.read(str(root), "votes").to_pylist()} == {"app"}
