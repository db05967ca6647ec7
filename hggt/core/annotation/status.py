"""Where a running campaign stands, for its coordinator: per annotator and per batch progress,
agreement so far and quality control, computed from the store alone (read-only, no Prefect)."""

from __future__ import annotations

import datetime as dt
import statistics
from collections import Counter, defaultdict

from hggt.core.annotation.agreement import annotator_report, fleiss_kappa, quality, vote_matrix
from hggt.core.annotation.labels import aggregate
from hggt.core.annotation.qc import flags, label_use, repeat_consistency, robust_agreement
from hggt.core.annotation.store import AnnotationStore

DEFAULT_MIN_SECONDS = 3.0


def _iso(ts: float | None) -> str | None:
    return None if ts is None else dt.datetime.fromtimestamp(ts, dt.timezone.utc).isoformat(timespec="seconds")


def _share(counts: tuple[int, int] | None) -> float | None:
    return counts[0] / counts[1] if counts and counts[1] else None


def campaign_status(store: AnnotationStore) -> dict:
    votes = [v for v in store.votes() if v["source"] != "proxy"]
    repeat_votes, repeats, assignments = store.repeat_votes(), store.repeats(), store.assignments()
    min_seconds = float(store.settings().get("min_seconds", DEFAULT_MIN_SECONDS))

    versions = {s["set_id"]: len(s["display_order"]) for s in store.sets()}  # a set has 2 to 8 versions
    per_answer: Counter = Counter((v["annotator"], v["set_id"]) for v in votes)
    complete = {k for k, n in per_answer.items() if n == versions.get(k[1])}
    repeat_count: Counter = Counter(v["key"] for v in repeat_votes)
    assigned_to: dict[str, set[str]] = defaultdict(set)
    for a in assignments:
        assigned_to[a["set_id"]].add(a["annotator"])
    finished = {s for s, names in assigned_to.items() if all((n, s) in complete for n in names)}

    # Agreement so far: the paper's rule over the sets every assigned annotator has finished.
    required = Counter(len(n) for n in assigned_to.values()).most_common(1)[0][0] if assigned_to else 0
    counted = [v for v in votes if v["set_id"] in finished and len(assigned_to[v["set_id"]]) == required
               and (v["annotator"], v["set_id"]) in complete and v["annotator"] in assigned_to[v["set_id"]]]
    labels, _ = aggregate(counted, required) if counted else ([], [])
    items = sorted({(r["set_id"], r["version"]) for r in labels})
    kappa = fleiss_kappa(vote_matrix(counted, items)) if items and required >= 2 else None
    agreement = {r["annotator"]: r for r in annotator_report(counted, labels)}
    qc = quality(votes, repeat_votes, min_seconds)

    names = sorted({a["annotator"] for a in assignments} | set(store.annotators()))
    last: dict[str, float] = {}
    seconds: dict[str, dict[str, float]] = defaultdict(dict)
    for v in votes + repeat_votes:
        if v.get("ended_at") is not None:
            last[v["annotator"]] = max(last.get(v["annotator"], 0.0), v["ended_at"])
    for v in votes:
        if v.get("seconds") is not None:
            seconds[v["annotator"]][v["set_id"]] = v["seconds"]
    others = robust_agreement(votes)  # every answer so far, finished sets or not
    repeated = repeat_consistency(votes, repeat_votes)
    habits = label_use(votes)
    revised = store.revised_sets()
    rows = []
    for name in names:
        mine = [a for a in assignments if a["annotator"] == name]
        reps = [r for r in repeats if r["annotator"] == name]
        done = sum((name, a["set_id"]) in complete for a in mine) + sum(repeat_count[r["key"]] == versions.get(r["set_id"]) for r in reps)
        q = qc.get(name, {})
        rows.append({
            "annotator": name, "done": done, "assigned": len(mine) + len(reps),
            "median_seconds_per_set": statistics.median(seconds[name].values()) if seconds[name] else None,
            "agreement_with_majority": agreement.get(name, {}).get("agreement_with_majority"),
            "last_activity": _iso(last.get(name)), "revised_sets": revised.get(name, 0),
            "too_fast": q.get("too_fast", 0), "too_fast_share": q.get("too_fast_share"),
            "repeats_answered": q.get("repeats_answered", 0), "repeats_assigned": len(reps),
            "self_consistency": q.get("self_consistency"),
            "agreement_with_others": _share(others.get(name)), "agreement_compared": (others.get(name) or (0, 0))[1],
            "repeat_consistency": _share(repeated.get(name)), "repeat_versions": (repeated.get(name) or (0, 0))[1],
        })
    completions = [r["done"] / r["assigned"] for r in rows if r["assigned"]]
    for r in rows:  # who is behind is relative to the others' pace
        completion = r["done"] / r["assigned"] if r["assigned"] else None
        pace = statistics.median(completions) if len(completions) > 1 else None
        r["flags"] = flags(others.get(r["annotator"]), repeated.get(r["annotator"]), r["too_fast_share"], completion, pace,
                           habits.get(r["annotator"]))
    batches: dict[int, set[str]] = defaultdict(set)
    for a in assignments:
        batches[a["batch"]].add(a["set_id"])
    batch_rows = [{"batch": b, "sets": len(s), "finished": len(s & finished), "completion": len(s & finished) / len(s)}
                  for b, s in sorted(batches.items())]
    return {
        "generated_at": _iso(dt.datetime.now(dt.timezone.utc).timestamp()),
        "sets": len(assigned_to), "finished_sets": len(finished), "annotators_per_set": required,
        "answers_done": sum(r["done"] for r in rows), "answers_assigned": sum(r["assigned"] for r in rows),
        "fleiss_kappa": kappa, "kappa_items": len(items), "min_seconds": min_seconds,
        "annotators": rows, "batches": batch_rows, "flagged": [r["annotator"] for r in rows if r["flags"]],
    }
