"""The distribution as a researcher installs it: one import name (hggt) in site-packages, and a
core install that reads a dataset with neither torch nor Prefect."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tomllib
import venv
import zipfile

import pytest

from hggt.core.dataset import open_dataset
from tests.flows.test_published_ingest import _hggt, _published
from tests.source_tree import REPO


def test_every_package_folder_is_in_the_distribution():
    setuptools = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    found = {".".join(init.parent.relative_to(REPO).parts) for init in (REPO / "hggt").rglob("__init__.py")}
    data = {name for name in setuptools["package-data"] if name not in found}  # folders of data files only
    assert sorted(setuptools["packages"]) == sorted(found | data)


def _site_size(env) -> int:
    return sum(f.stat().st_size for f in next((env / "lib").glob("python3*/site-packages")).rglob("*") if f.is_file())


@pytest.mark.slow
def test_the_core_wheel_reads_a_dataset_without_torch_or_prefect(tmp_path):
    src, out = tmp_path / "HGGT", tmp_path / "ds"
    _published(src)
    _hggt("annotate", "ingest", "--input", str(src), "--out", str(out), "--preset", "demo")
    here = open_dataset(str(out))
    expected = {"sets": len(here.sets()), "versions": list(here.versions()), "labels": len(here.table("labels"))}

    source, dist = tmp_path / "source", tmp_path / "dist"  # a copy: building writes build/ and egg-info beside the sources
    for name in ("pyproject.toml", "README.md", "LICENSE", "hggt"):
        source.mkdir(exist_ok=True)
        (shutil.copytree if (REPO / name).is_dir() else shutil.copyfile)(REPO / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(dist), str(source)],
                   check=True, capture_output=True, timeout=300)
    (wheel,) = dist.glob("hggt-*.whl")
    with zipfile.ZipFile(wheel) as z:  # nothing generic (tasks, flows) at the top of site-packages
        assert {name.split("/")[0] for name in z.namelist()} == {"hggt", wheel.name.split("-py")[0] + ".dist-info"}

    env = tmp_path / "core"
    venv.create(env, with_pip=True)
    python = env / "bin" / "python"
    # Run from elsewhere than the checkout, whose hggt/ folder would shadow the installed package.
    install = subprocess.run([python, "-m", "pip", "install", "--quiet", "-c", REPO / "constraints.txt", wheel], capture_output=True,
                             text=True, timeout=900, cwd=tmp_path)
    assert install.returncode == 0, install.stderr[-3000:]
    code = ("import importlib.util, json, sys, hggt\n"
            "ds = hggt.open_dataset(sys.argv[1])\n"
            "print(json.dumps({'sets': len(ds.sets()), 'versions': list(ds.versions()), 'labels': len(ds.table('labels')),\n"
            "                  'absent': [m for m in ('torch', 'prefect', 'cv2', 'dask') if importlib.util.find_spec(m) is None],\n"
            "                  'version': hggt.__version__}))")
    read = subprocess.run([python, "-c", code, str(out)], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert read.returncode == 0, read.stderr[-3000:]
    got = json.loads(read.stdout.strip().splitlines()[-1])
    assert got.pop("absent") == ["torch", "prefect", "cv2", "dask"]
    assert got.pop("version") == wheel.name.split("-")[1]
    assert got == expected and expected["sets"] > 0
    print(f"core install: {_site_size(env) / 2**20:.0f} MiB of site-packages")
