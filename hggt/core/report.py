"""A self-contained HTML report of a dataset: everything inline (styles, plots and pictures as
data URIs, no URL of any kind), so it can be mailed or archived as one file. The task reads the
manifests and files into :class:`ReportInputs`; everything shown is computed here."""

from __future__ import annotations

import base64
import html
import re

from hggt.core import report_plots as rp
from hggt.core.evaluation import BICUBIC, paper_caveat
from hggt.core.figures import heat_stops
from hggt.core.report_sections import (
    DECLARED, NA, ExampleSet, ReportInputs, counts, enhancer_origin, latest_stage_runs, missing, runs_table, table3_with_reasons, thresholds_note, weights_note,
)

__all__ = ["ExampleSet", "NA", "ReportInputs", "render", "table"]

STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1320px;padding:0 16px;color:#222}
h1{margin-bottom:2px}h2{border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:36px}h3{margin:18px 0 6px}
nav{margin:10px 0 0;font-size:13px}nav a{margin-right:12px;color:#245;text-decoration:none}
table{border-collapse:collapse;margin:8px 0;font-size:13px}td,th{border:1px solid #ddd;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#f4f4f4}td.n{text-align:right;font-variant-numeric:tabular-nums}.muted{color:#777}.why{display:block;color:#8a6d00;font-size:11px}
.row{display:flex;gap:32px;flex-wrap:wrap;align-items:flex-start}td.id{white-space:nowrap}.row h3{margin-top:8px}.tw{overflow-x:auto;max-width:100%}
.missing{background:#fff6e0;border-left:4px solid #e0a800;padding:6px 10px}.missing p,.missing ul{margin:4px 0}
.caveat{background:#eef3fb;border-left:4px solid #4c72b0;padding:6px 10px;max-width:1100px}
.mapfig{display:inline-block;max-width:100%}.mapfig img.fig{display:block;margin:6px 0 0}
.cbar{display:flex;align-items:center;gap:8px;font-size:12px;margin:3px 0 14px 50.2%}.cbar .ramp{flex:1;height:12px;border:1px solid #999}.notes{font-size:12px;color:#555}
.plots{display:grid;grid-template-columns:repeat(auto-fill,minmax(560px,1fr));gap:12px 20px}.plots>div{min-width:0}
img.plot{width:100%;height:auto;display:block}img.plot.wide{width:auto;max-width:100%}
.set{display:flex;gap:8px;margin:4px 0 16px;align-items:flex-start}.set figure{margin:0;width:160px;text-align:center;font-size:12px}
.set img{width:160px;height:160px;image-rendering:pixelated}.Positive{color:#1d7a44;font-weight:bold}
.Negative{color:#b0302a;font-weight:bold}.Similar{color:#8a6d00}img.fig{max-width:100%;margin:6px 0}
"""

_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://\S*?([^/\s]+)(?=[\s)]|$)", re.I)


def text(v: object) -> str:
    """Escaped text with every URL cut down to its last part (a weight file's download address
    becomes its file name): the report must not point anywhere."""
    return html.escape(_URL.sub(r"\1", str(v)))


def _cell(v: object, digits: int = 4) -> str:
    if isinstance(v, NA):
        return f'<td title="{text(v.full)}">n/a<span class="why">{text(v.short)}</span></td>'
    if isinstance(v, bool):
        return f"<td>{'yes' if v else 'no'}</td>"
    if isinstance(v, float):
        return f'<td class="n">{v:.4g}</td>' if abs(v) >= 1e5 or 0 < abs(v) < 1e-3 else f'<td class="n">{v:,.{digits}f}</td>'
    if isinstance(v, int):
        return f'<td class="n">{v:,}</td>'
    s = "—" if v is None else str(v)
    return f"<td class='id'>{text(s)}</td>" if " " not in s and len(s) < 40 else f"<td>{text(s)}</td>"


def table(rows: list[dict], columns: list[str] | None = None, digits: int = 4) -> str:
    if not rows:
        return '<p class="muted">none</p>'
    columns = columns or list(rows[0])
    head = "".join(f"<th>{text(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(_cell(r.get(c), digits) for c in columns) + "</tr>" for r in rows)
    notes = sorted({v.full for r in rows for v in r.values() if isinstance(v, NA)})
    foot = "<ul class='notes'>" + "".join(f"<li>n/a: {text(n)}</li>" for n in notes) + "</ul>" if notes else ""
    return f"<div class='tw'><table><tr>{head}</tr>{body}</table></div>{foot}"


def _img(data: bytes, alt: str, cls: str = "") -> str:
    kind = "jpeg" if data[:2] == b"\xff\xd8" else "svg+xml" if data.lstrip()[:1] == b"<" else "png"
    return f'<img class="{cls}" alt="{text(alt)}" src="data:image/{kind};base64,{base64.b64encode(data).decode()}">'


def _plot(svg: bytes, alt: str, wide: bool = False) -> str:
    return f"<div>{_img(svg, alt, 'plot wide' if wide else 'plot')}</div>"


def _missing(d: ReportInputs, *names: str) -> str:
    return "".join(f'<p class="missing">{text(m)}</p>' for m in missing(d, names))


def _section(key: str, title: str, body: str) -> str:
    return f'<section id="{key}"><h2>{text(title)}</h2>{body}</section>'


def _overview(d: ReportInputs) -> str:
    runs = table(latest_stage_runs(d), digits=1) if d.tables.get("stage_runs") else _missing(d, "stage_runs")
    return (f"<div class='row'><div>{table([{'what': k, 'count': v} for k, v in counts(d)])}</div>"
            f"<div><h3>Stage runs (latest of each stage)</h3>{runs}</div></div>")


def _crops(d: ReportInputs) -> str:
    plots = []
    if d.tables.get("patches"):
        p = d.tables["patches"]
        t = d.thresholds
        plots.append(_plot(rp.plot_histogram({"crops": [r["gray_std"] for r in p]}, "Texture: std of the gray crop", "gray_std",
                                             {"min_gray_std": t["min_gray_std"]}), "gray_std histogram"))
        plots.append(_plot(rp.plot_histogram({"crops": [r["lap_var"] for r in p]}, "Texture: variance of the Laplacian",
                                             "lap_var (log scale)", {"min_laplacian_var": t["min_laplacian_var"]}, log=True), "lap_var histogram"))
    if d.tables.get("enhanced"):
        by_version: dict[str, list[float]] = {}
        for r in d.tables["enhanced"]:
            by_version.setdefault(r["version"], []).append(r["mean_abs_diff"])
        plots.append(_plot(rp.plot_histogram(dict(sorted(by_version.items())), "How far each version moves from the original",
                                             "mean_abs_diff (8-bit levels)"), "mean_abs_diff histogram"))
    note = f'<p class="notes">{text(thresholds_note(d))}</p>' if d.tables.get("patches") else ""
    return _missing(d, "patches", "enhanced") + note + (f"<div class='plots'>{''.join(plots)}</div>" if plots else "")


def _labels(d: ReportInputs) -> str:
    labels, votes = d.tables.get("labels"), d.tables.get("votes")
    parts = [_missing(d, "labels", "votes")]
    plots = []
    if labels:
        plots.append(_plot(rp.plot_label_proportions(rp.label_counts(labels)), "label proportions per version"))
    if votes:
        by = rp.votes_by_annotator(votes)
        plots.append(_plot(rp.plot_stacked_counts(by, f"Votes per annotator ({len(by)})", "votes"), "votes per annotator"))
        secs = rp.seconds_per_set(votes)
        if secs:
            plots.append(_plot(rp.plot_histogram({"sets": secs}, "Time per set (one per set and annotator)", "seconds"), "time per set"))
        else:
            proxy = all(v["source"] == "proxy" for v in votes)
            plots.append(f'<div><p class="muted">Time per set: no times recorded{" (proxy votes)" if proxy else ""}.</p></div>')
    parts.append(f"<div class='plots'>{''.join(plots)}</div>")
    if labels:
        props = rp.label_proportions(labels)
        parts.append("<h3>Shares per version</h3>" + table([{"version": v, **p} for v, p in props.items()]))
        for source, report in sorted(d.agreement.items()):
            ds = report.get("dawid_skene", {}).get("agreement_with_paper_rule")
            parts.append(f"<h3>Agreement of the {text(source)} votes</h3>" + table([
                {"Fleiss' kappa": report.get("fleiss_kappa"), "Dawid-Skene agrees with the paper's rule": ds, "items": report.get("items")}]))
            parts.append(table(report.get("annotators", [])))
            quality = report.get("quality")
            if quality:  # repeated sets and too-fast answers of a human campaign (annotation/agreement.json)
                parts.append("<h4>Quality control: self-consistency on repeated sets, answers faster than the minimum time</h4>"
                             + table([{k: v for k, v in quality.items() if not isinstance(v, (dict, list))}]))
    return "".join(parts)


def _split(d: ReportInputs) -> str:
    splits = d.tables.get("splits")
    if not splits:
        return _missing(d, "splits") or '<p class="muted">splits.parquet holds no sets.</p>'
    return ("<p>Sets of one source photo are all on one side; runs train on the train side and are scored on the test side.</p>"
            + table(rp.split_summary(splits)))


def _examples(d: ReportInputs) -> str:
    if not d.examples:
        return _missing(d, "labels", "set_images") or '<p class="muted">no usable labelled set</p>'
    parts = []
    for ex in d.examples:
        figs = [f"<figure>{_img(ex.images['original'], 'original')}<figcaption>original</figcaption></figure>"]
        for v in sorted(f for f in ex.images if f != "original"):  # the set's versions, 2 to 8
            label, votes = ex.labels.get(v, ("?", 0))
            diff = f" · diff {ex.diffs[v]:.1f}" if v in ex.diffs else ""
            figs.append(f"<figure>{_img(ex.images[v], v)}<figcaption>{v}: <span class='{text(label)}'>{text(label)}</span><br>"
                        f"<span class='muted'>{votes} votes{diff}</span></figcaption></figure>")
        parts.append(f"<p><b>{text(ex.set_id)}</b> <span class='muted'>photo {text(ex.photo)} · {text(ex.category)}</span></p>"
                     f"<div class='set'>{''.join(figs)}</div>")
    return ('<p class="muted">Chosen to show the range: sets with a positive and a negative, positives only, negatives only and all '
            "similar in turn, from different photos. diff: mean absolute difference from the original (8-bit levels).</p>" + "".join(parts))


def _maps(d: ReportInputs) -> str:
    maps = d.tables.get("maps")
    if not maps:
        return _missing(d, "maps") or '<p class="muted">no set has an annotated negative, so there are no maps</p>'
    paired = [r for r in maps if r["pos_version"] != "original"]
    parts = ["<div class='plots'>" + _plot(rp.plot_histogram({"maps": [r["nonzero_fraction"] for r in maps]},
                                                             "Share of indicated pixels per map (M_ind > 0)", "share of pixels"),
                                          "indicated share") + "</div>"]
    if not paired:
        parts.append('<p class="muted">No set has both a positive and a negative: these maps use the original as the positive.</p>')
    parts.append("<p class='muted'>Each picture: original, positive, negative, M_neg, M_pos, M_ind.</p>")
    if d.map_figures:
        parts.append(f"<p class='notes'>{text(MAP_MEANING)}</p>")
    parts += [f"<p><b>{text(s)}</b> <span class='muted'>{text(caption)}</span></p>"
              f"<div class='mapfig'>{_img(data, s, 'fig')}{_colour_bar(d.map_tops.get(s))}</div>" for s, caption, data in d.map_figures]
    return "".join(parts)


MAP_MEANING = ("Colour scale of M_neg, M_pos and M_ind (one scale per picture, shared by its three maps): a map's value at a "
               "pixel is the vote-weighted local variance (3 x 3) of the residual between the original and that version, "
               "raised to 3/4 ((votes/3) * V(|original - version|)^(3/4)), so 0 (black) is no change in local texture and "
               "larger values a stronger one. M_ind is M_neg where it exceeds M_pos, else 0: the pixels the negative term of "
               "Pos+Neg training acts on. The scale runs from 0 to the 99th percentile of the picture's M_neg; larger values "
               "are drawn white-yellow.")


def _colour_bar(top: float | None) -> str:
    """The maps' colour scale under a picture's three maps (the right half of figures.map_figure's
    six panels): the picture's own colours (figures.heat) from 0 to its top."""
    gradient = ", ".join(heat_stops())
    end = f"&ge; {top:.3g}" if top is not None else "top"
    why = "" if top is not None else " <span class='muted'>(value unknown: the stored maps could not be read)</span>"
    return (f"<div class='cbar'><span>map value 0</span><span class='ramp' style='background:linear-gradient(to right, {gradient})'>"
            f"</span><span>{end}</span>{why}</div>")


def _curves(d: ReportInputs, prefix: str) -> str:
    """The loss curves of the runs (or enhancers) named ``prefix ...``, and why any are absent."""
    mine = {name: h for name, h in d.losses.items() if name.startswith(prefix)}
    curves = {name: rp.loss_series(h) for name, h in mine.items() if isinstance(h, list) and h}
    out = "<h3>Loss curves</h3>" + _plot(rp.plot_losses(curves), f"{prefix} loss curves", wide=True) if curves else ""
    absent = {name: why for name, why in mine.items() if isinstance(why, str)}
    if absent:
        out += "<ul class='notes'>" + "".join(f"<li>{text(n)}: {text(w)}</li>" for n, w in absent.items()) + "</ul>"
    return out


def _enhancers(d: ReportInputs) -> str:
    rows = d.tables.get("enhancers")
    if not rows:
        return _missing(d, "enhancers") or '<p class="muted">none</p>'
    keep = ("version", "origin", "arch", "setting", "iterations", "parameters", "final_l1", "final_perceptual", "final_gan", "seconds", "source")
    shown = [{**r, "origin": enhancer_origin(r), **({"iterations": None} if r.get("kind") == DECLARED else {})}
             for r in sorted(rows, key=lambda r: r["version"])]
    return table([{k: r.get(k) for k in keep} for r in shown]) + _curves(d, "enhancer ")


def _runs(d: ReportInputs) -> str:
    parts = [_missing(d, "runs")]
    if d.tables.get("runs"):
        parts.append(table(runs_table(d)) + _curves(d, "run "))
    tables = table3_with_reasons(d)
    for test_set, rows in tables.items():
        parts.append(f"<h3>Table 3 on test set {text(test_set)}</h3>"
                     f'<p class="caveat">{text(paper_caveat(rows))}</p>' + table(rows))
        if all(r["run"] != BICUBIC for r in rows):
            parts.append('<p class="notes">No bicubic baseline row: these runs were evaluated before hggt scored one; '
                         "re-run `hggt evaluate` for any of them to add it.</p>")
    note = weights_note(d) if tables else None
    if note:
        head, files, then = note
        parts.append(f'<div class="missing"><p>{text(head)}</p><ul>{"".join(f"<li>{text(f)}</li>" for f in files)}</ul>'
                     f"<p>{text(then)}</p></div>")
    if not tables:
        parts.append(_missing(d, "metrics") or '<p class="muted">no evaluated runs yet (`hggt evaluate --run RUN_ID`)</p>')
    return "".join(parts)


def _annotator(d: ReportInputs) -> str:
    from hggt.core.report_annotator import annotator_summary

    a = annotator_summary(d.tables)
    if a is None:
        return '<p class="muted">no learned annotator yet (`hggt annotator train`, then `hggt annotator evaluate`)</p>'
    parts = ["<h3>Models</h3>" + table(a["models"])]
    if a["raters"]:
        parts.append(f"<h3>{text(a['evaluated'])} on held-out sets (every set of the test photos), beside the baselines and people</h3>"
                     + table(a["raters"]) + "<h3>What --skip-confident P would cost on those sets</h3>" + table(a["skip_curve"]))
    if a["triage"]:
        why = f" <span class='muted'>(hours: {text(a['why_no_hours'])})</span>" if a["why_no_hours"] else ""
        parts.append(f"<h3>Triage recorded at export</h3>{why}" + table([a["triage"]]))
    return "".join(parts)


def _rejected(d: ReportInputs) -> str:
    rows = d.tables.get("rejected")
    if rows is None:
        return _missing(d, "rejected")
    return f"<p>{len(rows):,} items, grouped by stage and reason.</p>" + table(rp.group_rejections(rows))


SECTIONS = (
    ("overview", "Counts per stage", _overview), ("crops", "Candidate crops and enhanced versions", _crops),
    ("labels", "Labels and agreement", _labels), ("split", "Held-out split", _split), ("examples", "Example sets", _examples),
    ("maps", "Indication maps", _maps), ("enhancers", "Enhancers", _enhancers), ("runs", "Runs trained on this dataset", _runs),
    ("annotator", "Learned annotator", _annotator), ("rejected", "Rejected and unscored items", _rejected),
)


def render(d: ReportInputs) -> str:
    title = f"HGGT dataset {d.name}"
    parts = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{text(title)}</title>",
             f"<style>{STYLE}</style></head><body><h1>{text(title)}</h1><p class='muted'>built at {text(d.root)}</p>",
             "<nav>" + "".join(f"<a href='#{k}'>{text(t)}</a>" for k, t, _ in SECTIONS) + "</nav>"]
    parts += [f'<p class="muted">{text(n)}</p>' for n in d.notes]
    parts += [_section(k, t, fn(d)) for k, t, fn in SECTIONS]
    return "".join(parts) + "</body></html>"
