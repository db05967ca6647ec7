"""The conformance suite: the authors' code and hggt's run side by side on the same inputs.

Every test here needs their repository (``HGGT_REFERENCE``; ``.ci/run`` sets it when
``../shared/reference/HGGT`` exists) and skips with a one-line reason otherwise.
"""

from __future__ import annotations

import pytest

from tests.conformance.reference import Reference, reference_root


def _root():
    root = reference_root()
    if root is None:
        pytest.skip("the authors' code is not available: set HGGT_REFERENCE to their HGGT folder")
    return root


@pytest.fixture(scope="session")
def ref() -> Reference:
    """Their PosNegGTSR tree (Real-ISR: archs, losses, datasets, models, metric scripts)."""
    return Reference(_root(), "PosNegGTSR")


@pytest.fixture(scope="session")
def ref_enhancement() -> Reference:
    """Their ImageEnhancement tree (RCAN and ELAN enhancers and their training)."""
    return Reference(_root(), "ImageEnhancement")
