"""A copy of hggt's packages to edit and run: what code versions and cached re-runs see of a
source change, proven from the source rather than by patching a module's CODE."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def copy_packages(dest: Path) -> Path:
    """A copy of the package: a fresh interpreter with ``dest`` on its path imports all of hggt
    from it, not from the checkout's editable install."""
    shutil.copytree(REPO / "hggt", dest / "hggt", ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def edit_module(tree: Path, module: str) -> None:
    """A code change, not a comment: one more statement at the end of ``module``."""
    path = tree.joinpath(*module.split(".")).with_suffix(".py")
    path.write_text(path.read_text() + "\nEDITED = True\n")


def python_in(tree: Path, code: str, *args: str, **env: str) -> dict:
    """Run ``code`` with ``args`` in a fresh interpreter that imports hggt from ``tree`` (the
    checkout's editable install is only found after it); its last line of output, as JSON."""
    proc = subprocess.run([sys.executable, "-c", code, *args], cwd=tree, env={**os.environ, "PYTHONPATH": str(tree), **env},
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])
