"""A stage's code version: the source of every hggt module its task module imports, followed
through imports (function-level ones too) across hggt.core and tasks, so no edit that can change
a stage's outputs leaves its cache keys as they were.

The imports are read from the source (ast), not from sys.modules: what a process has imported
depends on what ran before, and a module imported inside a function only when it runs counts as
well. Modules are named and read relative to their package, so a moved checkout or an installed
wheel give the same versions.
"""

from __future__ import annotations

import ast
import hashlib
from collections.abc import Callable, Iterable, Iterator
from functools import cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from importlib.util import resolve_name

import hggt.core

PACKAGES = ("hggt.core", "hggt.tasks")
# How a stage runs, not what it computes: shards, item records, retries, run records, progress,
# fault injection, the DDP launcher. A change here recomputes nothing. The list errs safely: a
# module missing from it only widens the keys.
ORCHESTRATION = ("hggt.tasks.caching", "hggt.tasks.code_closure", "hggt.tasks.faults", "hggt.tasks.progress", "hggt.tasks.retries",
                 "hggt.core.stage_runs", "hggt.core.shard_engine", "hggt.tasks.sharded", "hggt.tasks.stopping", "hggt.tasks.torchrun")


def is_orchestration(name: str) -> bool:
    return any(name == o or name.startswith(o + ".") for o in ORCHESTRATION)


@cache
def _files() -> dict[str, Traversable]:
    # One walk of the packages: cheaper than a lookup per imported name, most of which are no module.
    found: dict[str, Traversable] = {}

    def walk(folder: Traversable, prefix: str) -> None:
        for entry in folder.iterdir():
            if entry.is_dir():
                walk(entry, f"{prefix}.{entry.name}")
            elif entry.name.endswith(".py"):
                found[prefix if entry.name == "__init__.py" else f"{prefix}.{entry.name[:-3]}"] = entry

    for top in PACKAGES:
        walk(files(top), top)
    return found


def source_file(name: str) -> Traversable | None:
    """The file of hggt module ``name`` (its __init__.py for a package); None if no such module."""
    return _files().get(name)


@cache
def source(name: str) -> bytes:
    return source_file(name).read_bytes()


def _with_parents(name: str) -> list[str]:
    # Importing a.b.c runs a/__init__ and a/b/__init__ first.
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def _statements(body: list) -> Iterator[ast.AST]:
    # Imports are statements: walking statement bodies alone skips the expressions, most of a tree.
    for node in body:
        yield node
        for field in ("body", "orelse", "finalbody", "handlers", "cases"):
            yield from _statements(getattr(node, field, ()))


@cache
def imports(name: str) -> frozenset[str]:
    """The hggt modules that module ``name`` imports anywhere in its source."""
    package = name if source_file(name).name == "__init__.py" else name.rpartition(".")[0]
    named: set[str] = set()
    for node in _statements(ast.parse(source(name)).body):
        if isinstance(node, ast.Import):
            named.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = resolve_name("." * node.level + (node.module or ""), package) if node.level else node.module
            # `from package import name` imports the submodule when name is one.
            named.update([base, *(f"{base}.{alias.name}" for alias in node.names)])
    return frozenset(n for n in named if n != name and source_file(n) is not None)


def reach(roots: Iterable[str], follow: Callable[[str], Iterable[str]]) -> set[str]:
    """``roots`` and every module ``follow`` leads to from them, short of orchestration."""
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        for name in _with_parents(todo.pop()):
            if name not in seen and not is_orchestration(name) and source_file(name) is not None:
                seen.add(name)
                todo.extend(follow(name))
    return seen


@cache
def closure(*roots: str) -> tuple[str, ...]:
    """``roots`` and every hggt module they import, directly or not, short of orchestration; sorted."""
    unknown = [r for r in roots if source_file(r) is None]
    if unknown:
        raise ValueError(f"no hggt module {unknown}")
    return tuple(sorted(reach(roots, imports)))


@cache
def code_version_of(*roots: str) -> str:
    """The code version of a stage whose work is ``roots`` (its task module, and the networks it
    builds, which the registry loads by name and no import statement shows)."""
    digest = hashlib.sha256(hggt.core.__version__.encode())
    for name in closure(*roots):
        digest.update(f"\0{name}\0".encode())
        digest.update(source(name))
    return digest.hexdigest()[:16]
