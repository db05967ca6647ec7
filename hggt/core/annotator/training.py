"""Fitting the learned annotator on a campaign's votes, train side of the split only, and the
configuration and identity it is recorded under. The weights are fitted twice: without a held-back
part of the train sets, to fit the temperature on sets they did not see, then on every train set
(a fifth fewer items would cost accuracy; the temperature carries over)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from hggt.core.annotation.labels import LABELS
from hggt.core.annotator import calibration as cal
from hggt.core.annotator.evidence import chance_warning
from hggt.core.annotator.features import FEATURE_SETS, feature_matrix
from hggt.core.annotator.model import FORMAT, LogReg, fit, rounded, softmax
from hggt.core.annotator.scoring import Item, vote_targets
from hggt.core.splits import TRAIN

VOTE_SOURCES = ("human", "proxy")


class AnnotatorConfig(BaseModel):
    """What a learned annotator's coefficients depend on besides its data."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    features: Literal["full", "proxy"] = Field("full", description="full: residual statistics too; proxy: the proxy annotator's two.")
    votes: Literal["human", "proxy"] = Field("human", description="Learn from people's votes, or (no people yet) the proxy's.")
    l2: float = Field(1e-3, gt=0, description="L2 penalty on the standardised weights.")
    iterations: int = Field(50, gt=0, description="Most Newton steps (it converges in about ten).")

    def to_json(self) -> str:
        return json.dumps({**self.model_dump(mode="json"), "format": FORMAT}, sort_keys=True, separators=(",", ":"))

    @property
    def hash(self) -> str:
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:16]

    @property
    def feature_names(self) -> tuple[str, ...]:
        return FEATURE_SETS[self.features]


def source_votes(votes: Iterable[Mapping], source: str) -> list[Mapping]:
    """Human votes (app, label files, the published dataset) or proxy votes."""
    if source not in VOTE_SOURCES:
        raise ValueError(f"unknown vote source {source!r}; choose one of {', '.join(VOTE_SOURCES)}")
    return [v for v in votes if (v["source"] == "proxy") == (source == "proxy")]


def train_votes(votes: Iterable[Mapping], splits: Iterable[Mapping], source: str) -> list[Mapping]:
    """The votes of ``source`` on sets of the train side: held-out photos never reach the model."""
    train = {r["set_id"] for r in splits if r["split"] == TRAIN}
    return [v for v in source_votes(votes, source) if v["set_id"] in train]


def data_fingerprint(votes: Iterable[Mapping]) -> str:
    key = sorted((v["set_id"], v["version"], v["annotator"], v["label"]) for v in votes)
    return hashlib.sha256(json.dumps(key, separators=(",", ":")).encode()).hexdigest()[:16]


def annotator_id(cfg: AnnotatorConfig, fingerprint: str) -> str:
    return f"logreg-{cfg.features}-{hashlib.sha256((cfg.hash + fingerprint).encode()).hexdigest()[:10]}"


def _temperature(items: list[Item], x: np.ndarray, targets: np.ndarray, cfg: AnnotatorConfig) -> dict:
    """Fit the weights without the held-back sets, then the temperature on those: its record, with
    ECE and NLL (per vote) there before and after; temperature 1 and why when the train side is too small."""
    sets = sorted({s for s, _ in items})
    why = cal.too_few_sets(len(sets))
    if why:
        return {"temperature": 1.0, "sets": 0, "note": why}
    held = cal.calibration_sets(sets)
    part = np.array([s in held for s, _ in items])
    partial, _ = fit(x[~part], targets[~part], cfg.feature_names, cfg.l2, cfg.iterations)
    logits = partial.logits(x[part])
    t = rounded(cal.fit_temperature(logits, targets[part]))
    checked = cal.summary(softmax(logits), softmax(logits / t), targets[part], t)
    # Rounded like the coefficients, so that the model file stays the same bytes on any machine.
    return {**{k: rounded(v) if isinstance(v, float) else v for k, v in checked.items()}, "sets": len(held), "share": cal.CALIBRATION_SHARE}


def train(votes: list[Mapping], features: Mapping[Item, Mapping[str, float]], cfg: AnnotatorConfig) -> tuple[LogReg, dict]:
    """Fit on every voted item (soft targets: its vote shares), with a temperature fitted on held-back
    train sets. ``features`` must cover each item. The record says how it fitted, its calibration and
    a warning when its training accuracy is no better than always answering the commonest label."""
    items, targets = vote_targets(votes)
    if not items:
        raise ValueError(f"no {cfg.votes} votes on the train side to learn from: annotate (or `hggt annotate ingest`) "
                         "and run `hggt split` first")
    lacking = [i for i in items if i not in features]
    if lacking:
        raise ValueError(f"no features for set {lacking[0][0]} version {lacking[0][1]} ({len(lacking)} items lack them)")
    x = feature_matrix([features[i] for i in items], cfg.feature_names)
    calibrated = _temperature(items, x, targets, cfg)
    model, record = fit(x, targets, cfg.feature_names, cfg.l2, cfg.iterations)
    model = dataclasses.replace(model, temperature=calibrated["temperature"])
    accuracy = float(np.mean(_effective(targets) == model.proba(x).argmax(axis=1)))
    common, share = majority(targets)
    warning = chance_warning(accuracy, share, common, len(items))
    record.update({"items": len(items), "sets": len({s for s, _ in items}), "votes": len(votes), "train_accuracy": accuracy,
                   "majority_label": common, "majority_share": share, "calibration": calibrated,
                   "warnings": [w for w in (warning, calibrated.get("note")) if w]})
    return model, record


def _effective(targets: np.ndarray) -> np.ndarray:
    """Each item's label by the paper's rule from its vote shares: the most voted, Similar on a tie."""
    out = targets.argmax(axis=1)
    out[np.isclose(targets, targets.max(axis=1, keepdims=True)).sum(axis=1) > 1] = LABELS.index("Similar")
    return out


def majority(targets: np.ndarray) -> tuple[str, float]:
    """The commonest effective label and the share of items that have it: the accuracy of always answering it."""
    counts = np.bincount(_effective(targets), minlength=len(LABELS))
    return LABELS[int(counts.argmax())], float(counts.max() / max(len(targets), 1))


def predict(model: LogReg, items: list[Item], features: Mapping[Item, Mapping[str, float]]) -> np.ndarray:
    return model.proba(feature_matrix([features[i] for i in items], model.features)) if items else np.zeros((0, len(LABELS)))
