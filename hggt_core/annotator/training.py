"""Fitting the learned annotator on a campaign's votes, train side of the split only, and the
configuration and identity it is recorded under."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from hggt_core.annotation.labels import LABELS
from hggt_core.annotator.features import FEATURE_SETS, feature_matrix
from hggt_core.annotator.model import FORMAT, LogReg, fit
from hggt_core.annotator.scoring import Item, vote_targets
from hggt_core.splits import TRAIN

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


def train(votes: list[Mapping], features: Mapping[Item, Mapping[str, float]], cfg: AnnotatorConfig) -> tuple[LogReg, dict]:
    """Fit on every voted item (soft targets: its vote shares). ``features`` must cover each item."""
    items, targets = vote_targets(votes)
    if not items:
        raise ValueError(f"no {cfg.votes} votes on the train side to learn from: annotate (or `hggt annotate ingest`) "
                         "and run `hggt split` first")
    lacking = [i for i in items if i not in features]
    if lacking:
        raise ValueError(f"no features for set {lacking[0][0]} version {lacking[0][1]} ({len(lacking)} items lack them)")
    x = feature_matrix([features[i] for i in items], cfg.feature_names)
    model, record = fit(x, targets, cfg.feature_names, cfg.l2, cfg.iterations)
    majority = [LABELS[int(i)] for i in targets.argmax(axis=1)]
    predicted = [LABELS[int(i)] for i in model.proba(x).argmax(axis=1)]
    record.update({"items": len(items), "sets": len({s for s, _ in items}), "votes": len(votes),
                   "train_accuracy": float(np.mean([a == b for a, b in zip(majority, predicted)]))})
    return model, record


def predict(model: LogReg, items: list[Item], features: Mapping[Item, Mapping[str, float]]) -> np.ndarray:
    return model.proba(feature_matrix([features[i] for i in items], model.features)) if items else np.zeros((0, len(LABELS)))
