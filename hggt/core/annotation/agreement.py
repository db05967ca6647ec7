"""Agreement between annotators: Fleiss' kappa, each annotator's agreement with the effective
label, time per set, label proportions, and a Dawid-Skene aggregation as a second opinion.

Dawid-Skene is written here (EM over per-annotator confusion matrices): the maintained library
that has it (crowd-kit) pulls in transformers and nltk, which is too much for one estimator.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict

import numpy as np

from hggt.core.annotation.labels import LABELS


def fleiss_kappa(counts: np.ndarray) -> float:
    """Fleiss' kappa of an (items, categories) matrix of vote counts, the same number of votes per item."""
    counts = np.asarray(counts, dtype=np.float64)
    n = counts.sum(axis=1)
    if len(counts) == 0 or not np.all(n == n[0]) or n[0] < 2:
        raise ValueError("Fleiss' kappa needs the same number (>= 2) of votes for every item")
    n = n[0]
    p_item = ((counts * counts).sum(axis=1) - n) / (n * (n - 1))
    p_cat = counts.sum(axis=0) / counts.sum()
    p_bar, p_e = p_item.mean(), (p_cat * p_cat).sum()
    return float((p_bar - p_e) / (1 - p_e)) if p_e < 1 else 1.0


def vote_matrix(votes: list[dict], items: list[tuple[str, str]]) -> np.ndarray:
    index = {label: i for i, label in enumerate(LABELS)}
    by_item: dict[tuple[str, str], list[int]] = defaultdict(list)
    for v in votes:
        by_item[(v["set_id"], v["version"])].append(index[v["label"]])
    out = np.zeros((len(items), len(LABELS)))
    for row, item in enumerate(items):
        for j in by_item[item]:
            out[row, j] += 1
    return out


def annotator_report(votes: list[dict], labels: list[dict]) -> list[dict]:
    """Per annotator: votes, share equal to the effective label (where that label has a majority),
    and the median seconds per set."""
    effective = {(r["set_id"], r["version"]): r for r in labels}
    stats: dict[str, dict] = defaultdict(lambda: {"votes": 0, "compared": 0, "agree": 0, "seconds": {}})
    for v in votes:
        s = stats[v["annotator"]]
        s["votes"] += 1
        if v.get("seconds") is not None:
            s["seconds"][v["set_id"]] = v["seconds"]
        e = effective.get((v["set_id"], v["version"]))
        if e is not None and e["vote_count"] >= 2:
            s["compared"] += 1
            s["agree"] += v["label"] == e["effective_label"]
    return [
        {
            "annotator": name, "votes": s["votes"],
            "agreement_with_majority": s["agree"] / s["compared"] if s["compared"] else None,
            "median_seconds_per_set": statistics.median(s["seconds"].values()) if s["seconds"] else None,
        }
        for name, s in sorted(stats.items())
    ]


def label_proportions(labels: list[dict]) -> dict[str, float]:
    counts = Counter(r["effective_label"] for r in labels)
    total = sum(counts.values()) or 1
    return {label: counts[label] / total for label in LABELS}


def dawid_skene(votes: list[dict], iterations: int = 50, tol: float = 1e-6) -> dict[tuple[str, str], str]:
    """Most probable label of each (set, version) under the Dawid-Skene model, initialised from
    vote shares."""
    items = sorted({(v["set_id"], v["version"]) for v in votes})
    workers = sorted({v["annotator"] for v in votes})
    item_ix = {it: i for i, it in enumerate(items)}
    worker_ix = {w: i for i, w in enumerate(workers)}
    k = len(LABELS)
    obs = np.array([(item_ix[(v["set_id"], v["version"])], worker_ix[v["annotator"]], LABELS.index(v["label"])) for v in votes])
    if len(obs) == 0:
        return {}
    t = np.zeros((len(items), k))
    np.add.at(t, (obs[:, 0], obs[:, 2]), 1.0)
    t /= t.sum(axis=1, keepdims=True)
    for _ in range(iterations):
        prior = t.mean(axis=0) + 1e-9
        conf = np.full((len(workers), k, k), 1e-6)  # conf[w, true, given]
        np.add.at(conf, (obs[:, 1], slice(None), obs[:, 2]), t[obs[:, 0]])
        conf /= conf.sum(axis=2, keepdims=True)
        log_t = np.tile(np.log(prior), (len(items), 1))
        np.add.at(log_t, obs[:, 0], np.log(conf[obs[:, 1], :, obs[:, 2]]))
        new = np.exp(log_t - log_t.max(axis=1, keepdims=True))
        new /= new.sum(axis=1, keepdims=True)
        done = np.abs(new - t).max() < tol
        t = new
        if done:
            break
    return {item: LABELS[int(np.argmax(t[i]))] for item, i in item_ix.items()}


def quality(votes: list[dict], repeat_votes: list[dict], min_seconds: float) -> dict[str, dict]:
    """Per annotator: sets answered faster than ``min_seconds`` (repeats included, each answer once)
    and self-consistency, the share of versions a repeated set got the same label as the first time
    (over repeats answered completely, and whose first answer is complete)."""
    first: dict[tuple[str, str], dict[str, str]] = defaultdict(dict)
    answers: dict[str, dict[tuple, float | None]] = defaultdict(dict)
    for v in votes:
        first[(v["annotator"], v["set_id"])][v["version"]] = v["label"]
        answers[v["annotator"]][("set", v["set_id"])] = v.get("seconds")
    again: dict[tuple[str, str], dict[str, str]] = defaultdict(dict)
    for v in repeat_votes:
        again[(v["annotator"], v["set_id"])][v["version"]] = v["label"]
        answers[v["annotator"]][("repeat", v["set_id"])] = v.get("seconds")
    out = {}
    for name in sorted(answers):
        pairs = [(first[k], labels) for k, labels in again.items()
                 if k[0] == name and len(labels) == len(first[k]) == 4]
        same = sum(a[ver] == b[ver] for a, b in pairs for ver in b)
        timed = [s for s in answers[name].values() if s is not None]
        fast = sum(s < min_seconds for s in timed)
        out[name] = {
            "answers": len(answers[name]), "too_fast": fast, "too_fast_share": fast / len(timed) if timed else None,
            "repeats_answered": len(pairs), "self_consistency": same / (4 * len(pairs)) if pairs else None,
        }
    return out
