"""hggt: human-guided ground-truth datasets for real-world image super-resolution (CVPR 2023 HGGT).

``import hggt`` needs neither torch nor Prefect: it gives the version and the dataset library
(:func:`open_dataset`, :class:`HGGTDataset`). The pipeline lives in ``hggt.flows`` (Prefect flows),
``hggt.tasks`` and ``hggt.core``; ``import hggt.spandrel`` teaches Spandrel hggt's pixel-shuffle RRDB.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("hggt")
except PackageNotFoundError:  # a source tree that is not installed
    __version__ = "0+unknown"

__all__ = ["HGGTDataset", "__version__", "open_dataset"]


def __getattr__(name: str):
    # The dataset library loads on first use, so `import hggt` stays cheap.
    if name in ("open_dataset", "HGGTDataset"):
        from hggt.core import dataset

        return getattr(dataset, name)
    raise AttributeError(f"module 'hggt' has no attribute {name!r}")
