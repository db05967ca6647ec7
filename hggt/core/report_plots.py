"""What the dataset report plots, computed from manifest rows, and the plots themselves (matplotlib
without pyplot, so no global backend or figure state): each plot is SVG bytes for an <img>."""

from __future__ import annotations

import io
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping

import numpy as np
from matplotlib.figure import Figure

from hggt.core.annotation.labels import LABELS
from hggt.core.summary import label_counts, label_proportions  # noqa: F401 - the report's label statistics
from hggt.core.training.history import TERM_NAMES

COLOURS = {"Positive": "#2e8b57", "Similar": "#c9a227", "Negative": "#c0392b"}
VERSION_COLOURS = {"01": "#1f77b4", "02": "#ff7f0e", "03": "#2ca02c", "04": "#9467bd"}
SPLITS = ("train", "test", "excluded")


# ---- data ------------------------------------------------------------------------------------

def votes_by_annotator(votes: Iterable[Mapping]) -> dict[str, dict[str, int]]:
    """Votes each annotator gave, per label, annotators sorted by name."""
    out: dict[str, Counter] = defaultdict(Counter)
    for v in votes:
        out[v["annotator"]][v["label"]] += 1
    return {a: {lab: out[a][lab] for lab in LABELS} for a in sorted(out)}


def seconds_per_set(votes: Iterable[Mapping]) -> list[float]:
    """One time per (set, annotator): every vote of a set carries the set's time."""
    times = {(v["set_id"], v["annotator"]): v["seconds"] for v in votes if v.get("seconds") is not None}
    return [times[k] for k in sorted(times)]


def set_category(versions: Mapping[str, str]) -> str:
    pos, neg = "Positive" in versions.values(), "Negative" in versions.values()
    return {(True, True): "positive and negative", (True, False): "positives only", (False, True): "negatives only",
            (False, False): "all similar"}[(pos, neg)]


CATEGORIES = ("positive and negative", "positives only", "negatives only", "all similar")


def choose_examples(labels_by_set: Mapping[str, Mapping[str, str]], photo_of: Mapping[str, str], n: int) -> list[str]:
    """Up to ``n`` sets that show the range: taking one set of each category in turn (with a
    positive and a negative, positives only, negatives only, all similar), each time from a
    source photo not shown yet where one is left. Deterministic: sets in name order."""
    buckets = {c: sorted(s for s, v in labels_by_set.items() if set_category(v) == c) for c in CATEGORIES}
    chosen: list[str] = []
    shown: set[str] = set()
    while len(chosen) < n and any(buckets.values()):
        for c in CATEGORIES:
            if len(chosen) == n or not buckets[c]:
                continue
            pick = next((s for s in buckets[c] if photo_of.get(s, s) not in shown), buckets[c][0])
            buckets[c].remove(pick)
            chosen.append(pick)
            shown.add(photo_of.get(pick, pick))
    return chosen


def group_rejections(rows: Iterable[Mapping], examples: int = 3) -> list[dict]:
    """Rejected items grouped by stage and kind of reason (the text before a ':'), largest group
    first, each with its count and the first few items (with their full reason where it says more)."""
    groups: dict[tuple[str, str], list[Mapping]] = defaultdict(list)
    for r in rows:
        groups[(r["stage"], r["reason"].split(":")[0].strip())].append(r)
    out = []
    for (stage, kind), items in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        items = sorted(items, key=lambda r: r["item_id"])
        shown = [r["item_id"] + (f" ({r['reason']})" if r["reason"].strip() != kind else "") for r in items[:examples]]
        more = f", and {len(items) - examples:,} more" if len(items) > examples else ""
        out.append({"stage": stage, "reason": kind, "items": len(items), "examples": ", ".join(shown) + more})
    return out


def split_summary(splits: Iterable[Mapping]) -> list[dict]:
    """Sets, usable sets, sets with a positive and source photos on each side of the split."""
    rows = list(splits)
    out = []
    for side in [*SPLITS, *sorted({r["split"] for r in rows} - set(SPLITS))]:
        mine = [r for r in rows if r["split"] == side]
        photos = sorted({r["image_id"] for r in mine})
        out.append({"side": side, "sets": len(mine), "usable": sum(bool(r["usable"]) for r in mine),
                    "with a positive": sum(r["positives"] > 0 for r in mine), "photos": len(photos),
                    "which photos": ", ".join(photos[:12]) + (f", ... ({len(photos) - 12} more)" if len(photos) > 12 else "")})
    return out


NOT_LOSSES = frozenset({"iteration", "lr"})  # logged beside the losses, on another scale


def loss_series(history: Iterable[Mapping]) -> dict[str, tuple[list[int], list[float]]]:
    """Each loss term's curve: {term: (iterations, values)}, terms in first-seen order."""
    out: dict[str, tuple[list[int], list[float]]] = {}
    for r in history:
        for k, v in r.items():
            if k not in NOT_LOSSES and v is not None:
                its, vals = out.setdefault(TERM_NAMES.get(k, k), ([], []))
                its.append(int(r["iteration"]))
                vals.append(float(v))
    if len(out) == 2 and "total" in out:  # a single-term objective: its total is the same curve
        del out["total"]
    return out


# ---- plots -------------------------------------------------------------------------------------

def _figure(width: float = 6.0, height: float = 3.0) -> Figure:
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    fig.set_facecolor("white")
    return fig


def _svg(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    # matplotlib's metadata credits it by URL: the report keeps to the drawing and names no site
    return re.sub(rb"<metadata>.*?</metadata>", b"", buf.getvalue(), flags=re.S)


def _style(ax, title: str, xlabel: str = "", ylabel: str = "") -> None:
    ax.set_title(title, fontsize=10, loc="left")
    ax.set_xlabel(xlabel, fontsize=9)
    ax.set_ylabel(ylabel, fontsize=9)
    ax.tick_params(labelsize=8)
    ax.spines[["top", "right"]].set_visible(False)


def plot_label_proportions(counts: Mapping[str, Mapping[str, int]]) -> bytes:
    """Stacked bars of Positive / Similar / Negative shares per version, with the counts in them."""
    fig = _figure()
    ax = fig.add_subplot()
    versions = list(counts)
    bottom = np.zeros(len(versions))
    totals = np.array([max(sum(counts[v].values()), 1) for v in versions], float)
    for lab in LABELS:
        n = np.array([counts[v].get(lab, 0) for v in versions], float)
        bars = ax.bar(versions, n / totals, bottom=bottom, color=COLOURS[lab], label=lab, width=0.6)
        ax.bar_label(bars, labels=[f"{s:.0%}" if s >= 0.06 else "" for s in n / totals], label_type="center", fontsize=8, color="white")
        bottom += n / totals
    ax.set_ylim(0, 1)
    ax.yaxis.set_major_formatter(lambda y, _: f"{y:.0%}")
    handles, names = ax.get_legend_handles_labels()
    ax.legend(handles[::-1], names[::-1], fontsize=8, loc="upper left", bbox_to_anchor=(1, 1), frameon=False)  # in stack order
    _style(ax, "Effective label per version (share of sets)", "enhanced version", "share of sets")
    return _svg(fig)


def plot_histogram(series: Mapping[str, Iterable[float]], title: str, xlabel: str, thresholds: Mapping[str, float] | None = None,
                   log: bool = False) -> bytes:
    """Histograms of one or more named series on shared bins, with labelled vertical thresholds."""
    fig = _figure()
    ax = fig.add_subplot()
    arrays = {k: np.asarray(list(v), float) for k, v in series.items()}
    every = np.concatenate([a for a in arrays.values() if a.size] or [np.zeros(1)])
    if log:
        every = every[every > 0] if (every > 0).any() else np.ones(1)
        bins = np.geomspace(every.min(), max(every.max(), every.min() * 1.01), 40)
        ax.set_xscale("log")
    else:
        bins = np.histogram_bin_edges(every, bins=min(40, max(5, int(np.sqrt(every.size)) * 2)))
    single = len(arrays) == 1
    for name, a in arrays.items():
        ax.hist(a[a > 0] if log else a, bins=bins, histtype="stepfilled" if single else "step", linewidth=1.5,
                color="#4c72b0" if single else VERSION_COLOURS.get(name), alpha=0.8 if single else 1, label=f"{name} (n={a.size:,})")
    for name, x in (thresholds or {}).items():
        ax.axvline(x, color="#c0392b", linestyle="--", linewidth=1.2)
        ax.annotate(f"{name} = {x:g}", (x, 1), xycoords=("data", "axes fraction"), xytext=(4, -2), textcoords="offset points",
                    fontsize=8, color="#c0392b", ha="left", va="top")
    if single:  # one series needs no legend: its size goes in the title
        a = next(iter(arrays.values()))
        zeros = f", {int((a <= 0).sum()):,} at 0 not shown" if log and (a <= 0).any() else ""
        title = f"{title} (n={a.size:,}{zeros})"
    else:
        ax.legend(fontsize=8, frameon=False, loc="upper right")
    _style(ax, title, xlabel, "count")
    return _svg(fig)


def plot_stacked_counts(counts: Mapping[str, Mapping[str, int]], title: str, xlabel: str) -> bytes:
    """Horizontal bars per row (e.g. votes per annotator) split by label."""
    names = list(counts)
    fig = _figure(6.0, min(1.2 + 0.28 * len(names), 6.0))
    ax = fig.add_subplot()
    left = np.zeros(len(names))
    for lab in LABELS:
        n = np.array([counts[k].get(lab, 0) for k in names], float)
        ax.barh(names, n, left=left, color=COLOURS[lab], label=lab, height=0.7)
        left += n
    ax.invert_yaxis()
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1, 1), frameon=False)
    _style(ax, title, xlabel)
    return _svg(fig)


# The loss terms in the order their panels are shown, with the name on their y axis: generator
# terms (blue) first, then the discriminator's (red); any other term follows, in grey.
LOSS_TERMS = {"l1": "L1 loss", "perceptual": "perceptual loss", "gan": "GAN loss (G)", "negative": "negative-GT term",
              "total": "G total loss", "d_real": "D loss on real", "d_fake": "D loss on fake"}
DISCRIMINATOR_TERMS = ("d_real", "d_fake")


def loss_figure(curves: Mapping[str, Mapping[str, tuple[list[int], list[float]]]]) -> Figure:
    """Small multiples: one row per training run, one column per loss term, every panel with its
    own y axis labelled with its term (an L1 of 0.07 and a discriminator loss of 0.7 each fill
    their panel); a term a run does not have leaves its cell empty, so a column is one term."""
    names = list(curves)
    seen: list[str] = []
    for c in curves.values():
        seen += [t for t in c if t not in seen]
    terms = [t for t in LOSS_TERMS if t in seen] + [t for t in seen if t not in LOSS_TERMS]
    fig = _figure(0.3 + 2.25 * len(terms), 0.2 + 1.9 * len(names))
    for sub, name in zip(fig.subfigures(len(names), 1, squeeze=False)[:, 0], names):
        sub.suptitle(name, x=0.005, ha="left", fontsize=10, fontweight="bold")
        for ax, term in zip(sub.subplots(1, len(terms), squeeze=False)[0], terms):
            if term not in curves[name]:
                ax.set_axis_off()
                ax.text(0.5, 0.5, f"no {LOSS_TERMS.get(term, term)}\nlogged for this run", ha="center", va="center", fontsize=8, color="#999",
                        transform=ax.transAxes)
                continue
            its, vals = curves[name][term]
            colour = "#c0392b" if term in DISCRIMINATOR_TERMS else "#4c72b0" if term in LOSS_TERMS else "#666"
            ax.plot(its, vals, linewidth=1.2, color=colour, marker="." if len(its) < 12 else None)
            ax.ticklabel_format(axis="y", style="plain", useOffset=False)
            _style(ax, "discriminator" if term in DISCRIMINATOR_TERMS else "generator", "iteration", LOSS_TERMS.get(term, term))
    return fig


def plot_losses(curves: Mapping[str, Mapping[str, tuple[list[int], list[float]]]]) -> bytes:
    """:func:`loss_figure` as SVG."""
    return _svg(loss_figure(curves))
