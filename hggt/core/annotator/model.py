"""A multinomial logistic regression in numpy: standardised features, L2 on the weights, fitted by
Newton's method with backtracking. The objective is strictly convex, so the fit is unique and the
same data give the same coefficients (to rounding) on any machine: no seeds, no scikit-learn.

Targets may be soft (each row a distribution over the classes, e.g. the shares of an item's votes),
so the model learns how likely a person is to give each label, not just the majority. A temperature
(hggt.core.annotator.calibration) divides the logits before the softmax: 1 until one is fitted."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from hggt.core.annotation.labels import LABELS

FORMAT = "hggt-annotator-logreg/2"  # /2 adds the temperature; a /1 file reads with temperature 1
_FORMATS = ("hggt-annotator-logreg/1", FORMAT)
DIGITS = 6  # coefficients are stored rounded: a few KB, and BLAS rounding differences do not show


@dataclass(frozen=True)
class LogReg:
    features: tuple[str, ...]
    mean: np.ndarray  # (F,) standardisation of the training features
    scale: np.ndarray  # (F,)
    weights: np.ndarray  # (F, K)
    bias: np.ndarray  # (K,)
    classes: tuple[str, ...] = LABELS
    temperature: float = 1.0  # divides the logits: >1 tempers over-confident probabilities

    def logits(self, x: np.ndarray) -> np.ndarray:
        """(N, K) uncalibrated logits of an (N, F) feature matrix in :attr:`features` order."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != len(self.features):
            raise ValueError(f"the model takes {len(self.features)} features ({', '.join(self.features)}), got shape {x.shape}")
        if not np.isfinite(x).all():
            raise ValueError("non-finite feature values (a blank or corrupt image?)")
        return ((x - self.mean) / self.scale) @ self.weights + self.bias

    def proba(self, x: np.ndarray) -> np.ndarray:
        """(N, K) calibrated class probabilities of an (N, F) feature matrix."""
        return softmax(self.logits(x) / self.temperature)

    def to_dict(self, **provenance) -> dict:
        r = lambda a: [rounded(v) for v in np.ravel(a)]  # noqa: E731
        return {"format": FORMAT, "classes": list(self.classes), "features": list(self.features), "mean": r(self.mean),
                "scale": r(self.scale), "weights": [r(row) for row in self.weights], "bias": r(self.bias),
                "temperature": rounded(self.temperature), **provenance}

    def to_json(self, **provenance) -> bytes:
        return (json.dumps(self.to_dict(**provenance), indent=1) + "\n").encode()

    @classmethod
    def from_dict(cls, data: dict, where: str = "model") -> LogReg:
        if data.get("format") not in _FORMATS:
            raise ValueError(f"{where}: not an hggt learned annotator (format {data.get('format')!r}, expected {FORMAT!r})")
        try:
            features = tuple(data["features"])
            f, k = len(features), len(data["classes"])
            temperature = float(data["temperature"] if data["format"] == FORMAT else 1.0)
            model = cls(features, np.array(data["mean"], float).reshape(f), np.array(data["scale"], float).reshape(f),
                        np.array(data["weights"], float).reshape(f, k), np.array(data["bias"], float).reshape(k), tuple(data["classes"]),
                        temperature)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{where}: malformed learned annotator ({exc})") from None
        if model.classes != LABELS:
            raise ValueError(f"{where}: classes {model.classes} are not {LABELS}")
        if not (np.isfinite(temperature) and temperature > 0):
            raise ValueError(f"{where}: temperature {temperature} is not a positive number")
        return model

    @classmethod
    def from_json(cls, data: bytes, where: str = "model") -> LogReg:
        try:
            return cls.from_dict(json.loads(data), where)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{where}: not JSON ({exc.msg} at line {exc.lineno})") from None


def rounded(v: float) -> float:
    return float(f"{v:.{DIGITS}g}")


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _loss(z: np.ndarray, t: np.ndarray, w: np.ndarray, l2: float) -> float:
    zmax = z.max(axis=1, keepdims=True)
    log_p = z - zmax - np.log(np.exp(z - zmax).sum(axis=1, keepdims=True))
    return float(-(t * log_p).sum(axis=1).mean() + 0.5 * l2 * (w * w).sum())


def fit(x: np.ndarray, targets: np.ndarray, features: tuple[str, ...], l2: float = 1e-3, iterations: int = 50,
        tol: float = 1e-9) -> tuple[LogReg, dict]:
    """Fit on (N, F) features and (N, K) target distributions. Returns the model and a fit record
    (iterations used, final training loss)."""
    x, t = np.asarray(x, np.float64), np.asarray(targets, np.float64)
    n, f = x.shape
    k = t.shape[1]
    if n == 0:
        raise ValueError("no training items")
    if not np.isfinite(x).all():
        raise ValueError("non-finite feature values in the training data")
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale = np.where(scale > 1e-12, scale, 1.0)  # a constant feature stays 0 after standardising
    z = np.hstack([(x - mean) / scale, np.ones((n, 1))])
    theta = np.zeros((f + 1, k))
    penalty = np.ones(f + 1)
    penalty[-1] = 1e-6  # the bias is barely penalised: only enough to make the softmax's redundant direction unique
    l2_diag = l2 * penalty

    def objective(th: np.ndarray) -> float:
        return _loss(z @ th, t, th * np.sqrt(penalty)[:, None], l2)

    current, used = objective(theta), 0
    for used in range(1, iterations + 1):
        p = softmax(z @ theta)
        grad = z.T @ (p - t) / n + l2_diag[:, None] * theta
        hess = np.zeros((f + 1, k, f + 1, k))
        for a in range(k):
            for b in range(k):
                w = p[:, a] * ((a == b) - p[:, b])
                hess[:, a, :, b] = (z * w[:, None]).T @ z / n
        hess = hess.reshape((f + 1) * k, (f + 1) * k) + np.diag(np.repeat(l2_diag, k))
        step = np.linalg.solve(hess, grad.reshape(-1)).reshape(f + 1, k)
        size, accepted = 1.0, False
        while size > 1e-8 and not accepted:
            candidate = theta - size * step
            value = objective(candidate)
            accepted = value <= current
            size *= 0.5
        if not accepted:  # at the optimum to machine precision
            break
        done = current - value < tol
        theta, current = candidate, value
        if done:
            break
    model = LogReg(tuple(features), mean, scale, theta[:-1], theta[-1])
    return model, {"iterations": used, "train_loss": current}
