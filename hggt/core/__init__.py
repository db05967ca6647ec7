"""hggt core: the science and the data contracts of HGGT, free of orchestration."""

__version__ = "0.1.0"
