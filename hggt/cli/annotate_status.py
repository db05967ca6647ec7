"""`hggt annotate status`: the coordinator's figures as tables (the admin page shows the same)."""

from __future__ import annotations

import json

from rich.console import Console
from rich.table import Table


def _pct(x) -> str:
    return "-" if x is None else f"{100 * x:.0f}%"


def _num(x, fmt: str = "{:.1f}") -> str:
    return "-" if x is None else fmt.format(x)


def print_status(store, console: Console, as_json: bool = False) -> dict:
    from hggt.core.annotation.status import campaign_status

    status = campaign_status(store)
    if as_json:
        console.print_json(json.dumps(status))
        return status
    kappa = _num(status["fleiss_kappa"], "{:.3f}")
    console.print(f"{status['finished_sets']} of {status['sets']} sets finished by all {status['annotators_per_set']} of their "
                  f"annotators; {status['answers_done']} of {status['answers_assigned']} answers given; "
                  f"Fleiss' kappa so far {kappa} over {status['kappa_items']} versions")
    table = Table(title="Annotators")
    for col in ("annotator", "done / assigned", "median s/set", "agrees with the others", f"too fast (< {status['min_seconds']:g} s)",
                "repeats", "repeat consistency", "revised", "last activity (UTC)"):
        table.add_column(col, justify="left" if col.startswith(("annotator", "last")) else "right")
    for r in status["annotators"]:
        table.add_row(r["annotator"], f"{r['done']} / {r['assigned']}", _num(r["median_seconds_per_set"]),
                      f"{_pct(r['agreement_with_others'])} of {r['agreement_compared']}", f"{r['too_fast']} ({_pct(r['too_fast_share'])})",
                      f"{r['repeats_answered']} / {r['repeats_assigned']}", f"{_pct(r['repeat_consistency'])} of {r['repeat_versions']}",
                      str(r["revised_sets"]), r["last_activity"] or "-")
    console.print(table)
    for r in status["annotators"]:  # who needs a look, and why
        for reason in r["flags"]:
            console.print(f"[yellow]{r['annotator']}[/]: {reason}", soft_wrap=True)
    batches = Table(title="Batches")
    for col in ("batch", "sets", "finished", "completion"):
        batches.add_column(col, justify="right")
    for b in status["batches"]:
        batches.add_row(str(b["batch"]), str(b["sets"]), str(b["finished"]), _pct(b["completion"]))
    console.print(batches)
    return status
