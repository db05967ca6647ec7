"""Pictures for the dashboard and the dataset report."""

from __future__ import annotations

import cv2
import numpy as np


def _panel(img: np.ndarray, size: int, title: str) -> np.ndarray:
    out = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
    bar = np.full((22, size, 3), 32, np.uint8)
    cv2.putText(bar, title, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (235, 235, 235), 1, cv2.LINE_AA)
    return np.vstack([bar, out])


def heat(m: np.ndarray, top: float) -> np.ndarray:
    """A map as an RGB heat image, 0 black, ``top`` and above white-yellow (inferno)."""
    scaled = np.clip(m / top if top > 0 else np.zeros_like(m), 0, 1)
    return cv2.cvtColor(cv2.applyColorMap((scaled * 255).astype(np.uint8), cv2.COLORMAP_INFERNO), cv2.COLOR_BGR2RGB)


def map_top(m_neg: np.ndarray) -> float:
    """The top of a map picture's colour scale: the 99th percentile of its M_neg (its maximum where
    that is 0); values at or above it are drawn white-yellow."""
    return float(np.percentile(m_neg, 99)) or float(m_neg.max())


def heat_stops(n: int = 11) -> list[str]:
    """``n`` evenly spaced colours of :func:`heat`'s scale from 0 to the top, as #rrggbb (a colour
    bar drawn beside the pictures uses exactly their colours)."""
    rgb = heat(np.linspace(0, 1, n, dtype=np.float32)[None], 1.0)[0]
    return [f"#{r:02x}{g:02x}{b:02x}" for r, g, b in rgb.tolist()]


def map_figure(
    ori: np.ndarray, pos: np.ndarray, neg: np.ndarray, m_neg: np.ndarray, m_pos: np.ndarray, m_ind: np.ndarray,
    pos_title: str = "positive", neg_title: str = "negative", size: int = 192,
) -> np.ndarray:
    """Supplement Figure 3's row: original, positive, negative, M_neg, M_pos, M_ind; the three maps
    share one colour scale (the 99th percentile of M_neg)."""
    top = map_top(m_neg)
    panels = [
        _panel(ori, size, "original"), _panel(pos, size, pos_title), _panel(neg, size, neg_title),
        _panel(heat(m_neg, top), size, "M_neg"), _panel(heat(m_pos, top), size, "M_pos"), _panel(heat(m_ind, top), size, "M_ind"),
    ]
    gap = np.full((size + 22, 4, 3), 16, np.uint8)
    row = [panels[0]]
    for p in panels[1:]:
        row += [gap, p]
    return np.hstack(row)


def sample_grid(rows: list[list[np.ndarray]], titles: list[str], size: int = 160) -> np.ndarray:
    """Rows of equally titled panels (e.g. bicubic | SR | GT per training sample)."""
    gap = np.full((size + 22, 4, 3), 16, np.uint8)
    lines = []
    for images in rows:
        panels = [_panel(img, size, title) for img, title in zip(images, titles)]
        line = [panels[0]]
        for p in panels[1:]:
            line += [gap, p]
        lines.append(np.hstack(line))
    return np.vstack(lines)
