"""Every stage's code version covers the code the stage runs: checked against the imports that a
fresh interpreter executes (a spy on __import__, sharing nothing with the ast walk), and by
editing a module in a copy of the source."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from hggt.core import networks
from hggt.core.networks import ENHANCER, GENERATOR
from hggt.tasks import code_closure
from hggt.tasks.code_closure import closure, code_version_of, reach
from tests.source_tree import REPO, copy_packages, edit_module, python_in

STAGES = sorted(f"hggt.tasks.{p.stem}" for p in (REPO / "hggt" / "tasks").glob("*.py")
                if re.search(r"^CODE = code_version_of\(", p.read_text(), re.M))
# What each stage builds: the registry loads a network's module by name, which no import shows.
BUILDS = {"hggt.tasks.enhance": ENHANCER, "hggt.tasks.enhancers": ENHANCER, "hggt.tasks.evaluate": GENERATOR, "hggt.tasks.train_sr": GENERATOR}

# Every import statement executed, as importer -> imported (with `from X import Y` also X.Y):
# __import__ runs for each one, even when the module is already in sys.modules.
SPY = r"""
import builtins, importlib, json, sys
from importlib.util import resolve_name

PACKAGES, edges, real = ("hggt.core", "hggt.tasks"), {}, builtins.__import__

def spy(name, globals=None, locals=None, fromlist=(), level=0):
    module = real(name, globals, locals, fromlist, level)
    importer = (globals or {}).get("__name__") or ""
    if importer.startswith(tuple(p + "." for p in PACKAGES)) or importer in PACKAGES:
        target = resolve_name("." * level + name, globals["__package__"]) if level else name
        edges.setdefault(importer, set()).update([target, *(f"{target}.{f}" for f in fromlist or ())])
    return module

builtins.__import__ = spy
loaded = {name: importlib.import_module(name) for name in sys.argv[1:]}
ours = {n for n in sys.modules if n in PACKAGES or n.startswith(tuple(p + "." for p in PACKAGES))}
print(json.dumps({"edges": {k: sorted(v & ours) for k, v in edges.items() if k in ours},
                  "codes": {n: m.CODE for n, m in loaded.items() if hasattr(m, "CODE")}}))
"""

VERSIONS = ("import json, sys, hggt.tasks.code_closure as c\n"
            "print(json.dumps({'file': c.__file__, **{s: c.code_version_of(*r) for s, r in json.loads(sys.argv[1]).items()}}))")


def roots(stage: str) -> tuple[str, ...]:
    return (stage, *networks.modules(BUILDS[stage])) if stage in BUILDS else (stage,)


@pytest.fixture(scope="module")
def executed() -> dict:
    modules = [*STAGES, *(n.module for n in networks.NETWORKS.values())]
    proc = subprocess.run([sys.executable, "-c", SPY, *modules], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_the_stages_are_found():
    assert {"hggt.tasks.degradations", "hggt.tasks.patches", "hggt.tasks.enhance", "hggt.tasks.annotation", "hggt.tasks.split"} <= set(STAGES)
    assert set(BUILDS) <= set(STAGES)


def test_a_stage_version_is_that_of_its_roots(executed):
    assert executed["codes"] == {s: code_version_of(*roots(s)) for s in STAGES}


def test_a_stage_version_covers_every_module_the_stage_imports(executed):
    edges = executed["edges"]
    missing = {s: sorted(reach(roots(s), lambda n: edges.get(n, ())) - set(closure(*roots(s)))) for s in STAGES}
    assert {s: m for s, m in missing.items() if m} == {}


def test_function_level_relative_and_submodule_imports_count(tmp_path, monkeypatch):
    fake = tmp_path / "fake.py"
    fake.write_text("from . import storage\nfrom .shard_engine import work\nfrom hggt.core.degradation import poisson\n\n"
                    "def later():\n    import hggt.core.maps as m\n    try:\n        from hggt.core import splits, seeding\n"
                    "    except ImportError:\n        pass\n")
    files = {**code_closure._files(), "hggt.core.fake": fake}
    monkeypatch.setattr(code_closure, "_files", lambda: files)
    assert code_closure.imports("hggt.core.fake") == {
        "hggt.core.storage", "hggt.core.shard_engine", "hggt.core.shard_engine.work", "hggt.core.degradation",
        "hggt.core.degradation.poisson", "hggt.core.maps", "hggt.core", "hggt.core.splits", "hggt.core.seeding"}


def test_an_edit_changes_the_versions_of_exactly_the_stages_that_import_it(tmp_path):
    tree, stages = copy_packages(tmp_path), json.dumps({s: roots(s) for s in STAGES})
    moved = python_in(tree, VERSIONS, stages)
    assert moved.pop("file").startswith(str(tree))
    assert moved == {s: code_version_of(*roots(s)) for s in STAGES}  # a moved checkout keeps its versions
    edit_module(tree, "hggt.core.degradation.poisson")
    edited = python_in(tree, VERSIONS, stages)
    edited.pop("file")
    changed = {s for s in STAGES if edited[s] != moved[s]}
    assert changed == {s for s in STAGES if "hggt.core.degradation.poisson" in closure(*roots(s))}
    assert "hggt.tasks.degradations" in changed and "hggt.tasks.patches" not in changed


def test_the_shard_engine_imports_no_orchestrator():
    """Its logger, stop event and per-item hook are passed in (hggt.tasks.sharded.engine_hooks)."""
    probe = "import sys, hggt.core.shard_engine; print(sorted({m.split('.')[0] for m in sys.modules} & {'prefect', 'dask', 'torch'}))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "[]"
