"""Every path of a dataset is named once, in hggt/core/catalog.py: no module spells one inline
(a literal "annotation/agreement.json", a join of "reports" and a file name, an f-string under
"runs/"), so a writer and its readers cannot drift apart. Read from the source with ast."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("hggt",)  # folders
# Folders a dataset holds (catalog.py names them); a literal under one of them is a dataset path.
DIRS = ("annotation", "annotators", "enhancers", "runs", "evaluations", "reports", "maps", "manifests", "lq",
        "lr_test", "images", "exports", "original")
UNDER = re.compile(rf"(^|/)({'|'.join(DIRS)})/")
FILE = re.compile(r"^[\w.-]+\.(json|sqlite|txt|parquet|npz|csv|html|pt|jpg|png)$")
# Modules whose file names belong to another layout than a dataset's, each with why.
OTHER_LAYOUTS = {
    "hggt/core/catalog.py": "the dataset's layout itself",
    "hggt/core/annotation/published.py": "the published HGGT dataset's layout (an input)",
    "hggt/core/published_import.py": "the published HGGT dataset's layout (an input)",
    "hggt/core/annotation/export_layout.py": "the published layout hggt exports to",
    "hggt/core/sample_photos.py": "scikit-image's sample files",
    "hggt/core/annotator/__init__.py": "the package's shipped model",
    "hggt/core/metrics.py": "DISTS_pytorch's packaged weights",
    "hggt/app/server.py": "the app's own pages in the package",
    "hggt/cli/local_server.py": "files in the Prefect home",
}


def _inline_paths(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and " " not in node.value and len(node.value) < 80:
            if UNDER.search(node.value) or FILE.match(node.value):
                found.append(f"{node.lineno}: {node.value!r}")
        parts = []
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "join":
            parts = node.args
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            parts = [node.left, node.right]
        found += [f"{node.lineno}: joins {p.value!r}" for p in parts if isinstance(p, ast.Constant) and p.value in DIRS]
    return found


def test_no_module_spells_a_dataset_path_outside_the_catalog():
    inline = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            rel = path.relative_to(REPO).as_posix()
            if rel not in OTHER_LAYOUTS and (found := _inline_paths(path)):
                inline[rel] = found
    assert not inline, f"name these paths in hggt/core/catalog.py: {inline}"


def test_the_check_sees_each_way_of_spelling_a_path(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text('import posixpath\nfrom pathlib import Path\n'
                      'a = "annotation/agreement.json"\n'
                      'b = posixpath.join(root, "reports", name)\n'
                      'c = Path(root) / "enhancers" / v\n'
                      'd = f"runs/{run_id}/model.pt"\n'
                      'e = "tokens.txt"\n'
                      'f = "a sentence about runs/ and manifests/ in a message"\n')
    assert sorted(int(line.split(":")[0]) for line in _inline_paths(sample)) == [3, 4, 5, 6, 7]
