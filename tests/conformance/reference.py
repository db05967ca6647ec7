"""Import the authors' code (``HGGT_REFERENCE``, their unmodified repository) module by module.

Their ``basicsr`` packages import compiled ops, lmdb, loggers and every sibling module from
``__init__``; none of that is needed to run one class or function. So each package of their tree
is registered as an empty package whose ``__path__`` is the real folder (its ``__init__`` is never
run) and only the missing pieces their modules name are stubbed here. Their files are never
copied or edited: the tests run them as they are.
"""

from __future__ import annotations

import ast
import importlib
import logging
import os
import sys
import types
from pathlib import Path

import torch.nn as nn

TREES = ("PosNegGTSR", "ImageEnhancement")


def reference_root() -> Path | None:
    path = os.environ.get("HGGT_REFERENCE")
    return Path(path) if path and Path(path, "PosNegGTSR", "basicsr").is_dir() else None


def _package(name: str, folder: Path | None) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__path__ = [str(folder)] if folder else []
    module.__package__ = name
    sys.modules[name] = module
    return module


class _MissingOp(nn.Module):
    def __init__(self, *args, **kwargs):
        raise RuntimeError("the reference's compiled deformable-convolution op is not available in the tests")


def _stub_torchvision_functional_tensor() -> None:
    # torchvision 0.17 removed transforms.functional_tensor; their degradations import
    # rgb_to_grayscale from it, which transforms.functional still provides.
    if "torchvision.transforms.functional_tensor" not in sys.modules:
        import torchvision.transforms.functional as tvf

        shim = types.ModuleType("torchvision.transforms.functional_tensor")
        shim.rgb_to_grayscale = tvf.rgb_to_grayscale
        sys.modules["torchvision.transforms.functional_tensor"] = shim


def _lazy_exports(package: types.ModuleType, folder: Path) -> None:
    """Their package ``__init__`` re-exports names of its submodules (``from .img_util import
    imfromfile``) and defines registry helpers that import every sibling (``build_network``). The
    former are imported from their own submodule on first use; the latter raise when called."""
    tree = ast.parse((folder / "__init__.py").read_text(encoding="utf-8"))
    source = {a.asname or a.name: node.module for node in tree.body
              if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module for a in node.names if a.name != "*"}
    defined = {node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))}

    def unavailable(name: str):
        def call(*args, **kwargs):
            raise RuntimeError(f"{package.__name__}.{name} (their package __init__) is not available in the tests")

        return call

    def __getattr__(name: str):
        if name in source:
            return getattr(importlib.import_module(f"{package.__name__}.{source[name]}"), name)
        if name in defined:
            return unavailable(name)
        raise AttributeError(f"module {package.__name__!r} has no attribute {name!r}")

    package.__getattr__ = __getattr__


class Reference:
    """``Reference(root, "PosNegGTSR").module("basicsr.archs.swinir_arch")``: their module, imported
    from their file. Two trees both call their package ``basicsr``: :meth:`activate` swaps the
    one in ``sys.modules`` (modules already returned keep working)."""

    def __init__(self, root: Path, tree: str = "PosNegGTSR"):
        if tree not in TREES:
            raise ValueError(tree)
        self.root, self.tree = Path(root), tree
        self.base = self.root / tree / "basicsr"
        self._modules: dict[str, types.ModuleType] = {}

    def activate(self) -> None:
        for name in [n for n in sys.modules if n == "basicsr" or n.startswith("basicsr.")]:
            del sys.modules[name]
        sys.modules.update(self._modules)
        if "basicsr" in self._modules:
            return
        _stub_torchvision_functional_tensor()
        top = _package("basicsr", self.base)
        for sub in sorted(p for p in self.base.iterdir() if p.is_dir() and (p / "__init__.py").exists()):
            setattr(top, sub.name, _package(f"basicsr.{sub.name}", sub))
            _lazy_exports(getattr(top, sub.name), sub)
        ops = _package("basicsr.ops", None)
        dcn = _package("basicsr.ops.dcn", None)
        dcn.ModulatedDeformConvPack = _MissingOp
        dcn.modulated_deform_conv = None
        ops.dcn = dcn
        utils = sys.modules["basicsr.utils"]
        utils.get_root_logger = lambda *a, **k: logging.getLogger("hggt-reference")
        self._snapshot()

    def _snapshot(self) -> None:
        self._modules = {n: m for n, m in sys.modules.items() if n == "basicsr" or n.startswith("basicsr.")}

    def module(self, name: str) -> types.ModuleType:
        """Their module ``name`` (e.g. ``basicsr.losses.loss_util``), imported from their file."""
        self.activate()
        module = importlib.import_module(name)
        self._snapshot()
        return module

    def path(self, *parts: str) -> Path:
        return self.root.joinpath(self.tree, *parts)
