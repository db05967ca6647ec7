"""A self-contained HTML report of a dataset: everything inline (styles, images as data URIs), so
it can be mailed or archived as one file."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field

STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1200px;color:#222}
h1{margin-bottom:0}h2{border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:32px}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f4f4f4}td.n{text-align:right}.muted{color:#777}
.set{display:flex;gap:6px;margin:10px 0;align-items:flex-start}.set figure{margin:0;text-align:center;font-size:12px}
.set img{width:140px;height:140px;image-rendering:pixelated}.Positive{color:#1d7a44;font-weight:bold}
.Negative{color:#b0302a;font-weight:bold}.Similar{color:#8a6d00}img.fig{max-width:100%;margin:6px 0}
"""


@dataclass
class ExampleSet:
    set_id: str
    images: dict[str, bytes]  # file -> PNG/JPEG bytes: original, 01..04
    labels: dict[str, tuple[str, int]]  # version -> (effective label, votes)


@dataclass
class ReportData:
    title: str
    counts: list[tuple[str, object]]
    stage_runs: list[dict]
    rejected: list[dict]
    rejected_total: int
    label_proportions: dict[str, dict[str, float]]
    agreement: dict[str, dict]
    examples: list[ExampleSet]
    map_figures: list[tuple[str, bytes]]
    metric_tables: dict[str, list[dict]]
    notes: list[str] = field(default_factory=list)


def _cell(v: object) -> str:
    if isinstance(v, float):
        return f'<td class="n">{v:.4f}</td>'
    if isinstance(v, int):
        return f'<td class="n">{v:,}</td>'
    return f"<td>{html.escape('n/a' if v is None else str(v))}</td>"


def table(rows: list[dict], columns: list[str] | None = None) -> str:
    if not rows:
        return '<p class="muted">none</p>'
    columns = columns or list(rows[0])
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(_cell(r.get(c)) for c in columns) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _img(data: bytes, alt: str, cls: str = "") -> str:
    kind = "jpeg" if data[:2] == b"\xff\xd8" else "png"
    return f'<img class="{cls}" alt="{html.escape(alt)}" src="data:image/{kind};base64,{base64.b64encode(data).decode()}">'


def render(d: ReportData) -> str:
    parts = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(d.title)}</title>",
             f"<style>{STYLE}</style></head><body><h1>{html.escape(d.title)}</h1>"]
    parts += [f'<p class="muted">{html.escape(n)}</p>' for n in d.notes]
    parts.append("<h2>Counts per stage</h2>" + table([{"what": k, "count": v} for k, v in d.counts]))
    parts.append("<h2>Stage runs</h2>" + table(d.stage_runs))
    groups: dict[tuple[str, str], int] = {}
    for r in d.rejected:
        key = (r["stage"], r["reason"].split(":")[0])
        groups[key] = groups.get(key, 0) + 1
    summary = [{"stage": s, "reason": why, "items": n} for (s, why), n in sorted(groups.items())]
    shown = f" (first {min(len(d.rejected), 50)} of {d.rejected_total})" if d.rejected_total > 50 else ""
    parts.append("<h2>Rejected and unscored items</h2>" + table(summary))
    parts.append(f"<h3>Details{shown}</h3>" + table(d.rejected[:50], ["stage", "item_id", "reason"]))
    parts.append("<h2>Labels and agreement</h2>")
    for source, props in d.label_proportions.items():
        parts.append(f"<h3>{html.escape(source)} votes</h3>" + table([{"label": k, "share": v} for k, v in props.items()]))
        report = d.agreement.get(source)
        if report:
            ds = report.get("dawid_skene", {}).get("agreement_with_paper_rule")
            parts.append(table([{"Fleiss' kappa": report.get("fleiss_kappa"), "Dawid-Skene agrees with the paper's rule": ds,
                                 "items": report.get("items")}]))
            parts.append(table(report.get("annotators", [])))
    parts.append("<h2>Example sets</h2>")
    for ex in d.examples:
        figs = [f"<figure>{_img(ex.images['original'], 'original')}<figcaption>original</figcaption></figure>"]
        for v in ("01", "02", "03", "04"):
            label, votes = ex.labels.get(v, ("?", 0))
            figs.append(f"<figure>{_img(ex.images[v], v)}<figcaption>{v}: <span class='{label}'>{label}</span> ({votes})</figcaption></figure>")
        parts.append(f"<p><b>{html.escape(ex.set_id)}</b></p><div class='set'>{''.join(figs)}</div>")
    parts.append("<h2>Indication maps</h2><p class='muted'>original, positive, negative, M_neg, M_pos, M_ind</p>")
    parts += [f"<p><b>{html.escape(s)}</b></p>{_img(data, s, 'fig')}" for s, data in d.map_figures] or ['<p class="muted">none</p>']
    parts.append("<h2>Runs trained on this dataset</h2>")
    for test_set, rows in d.metric_tables.items():
        parts.append(f"<h3>Table 3 on test set {html.escape(test_set)}</h3>" + table(rows))
    if not d.metric_tables:
        parts.append('<p class="muted">no evaluated runs yet (`hggt train-sr`, then `hggt evaluate`)</p>')
    return "".join(parts) + "</body></html>"
