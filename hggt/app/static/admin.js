// The coordinator's page: the campaign's figures, refreshed every 15 s. Read-only.
"use strict";

const $ = (sel) => document.querySelector(sel);
const pct = (x) => (x === null || x === undefined ? "–" : `${(100 * x).toFixed(0)}%`);
const num = (x, d = 1) => (x === null || x === undefined ? "–" : x.toFixed(d));

function readToken() {
  const hash = new URLSearchParams(location.hash.slice(1));
  if (hash.get("admin")) {
    sessionStorage.setItem("hggt-admin", hash.get("admin"));
    history.replaceState(null, "", location.pathname);
  }
  return sessionStorage.getItem("hggt-admin");
}

function gate(text) {
  document.body.classList.add("gated");
  $("#gate-text").textContent = text;
  $("#gate").hidden = false;
}

function row(table, cells, flags = []) {
  const tr = document.createElement("tr");
  cells.forEach((c, i) => {
    const td = document.createElement("td");
    td.textContent = c;
    if (flags[i]) td.className = "flag";
    tr.appendChild(td);
  });
  $(`#${table} tbody`).appendChild(tr);
}

function render(s) {
  $("#summary").textContent = `${s.finished_sets} / ${s.sets} sets finished · Fleiss' kappa ${num(s.fleiss_kappa, 3)}`;
  $("#updated").textContent = `figures of ${s.generated_at.replace("T", " ").replace("+00:00", " UTC")}`;
  const totals = { "sets": s.sets, "finished by all their annotators": s.finished_sets, "annotators per set": s.annotators_per_set,
                   "answers given / assigned": `${s.answers_done} / ${s.answers_assigned}`,
                   "Fleiss' kappa so far": `${num(s.fleiss_kappa, 3)} (${s.kappa_items} versions)`,
                   "flagged as too fast below": `${s.min_seconds} s` };
  $("#totals").replaceChildren(...Object.entries(totals).flatMap(([k, v]) => {
    const dt = document.createElement("dt"), dd = document.createElement("dd");
    dt.textContent = k;
    dd.textContent = v;
    return [dt, dd];
  }));
  $("#fast-head").textContent = `too fast (< ${s.min_seconds} s)`;
  $("#annotators tbody").replaceChildren();
  for (const a of s.annotators) {
    // Shares with the number of versions they rest on; the flags come from the server (hggt/core/annotation/qc.py).
    const flagged = (word) => a.flags.some((f) => f.includes(word));
    row("annotators", [a.annotator, `${a.done} / ${a.assigned}`, pct(a.assigned ? a.done / a.assigned : null),
      num(a.median_seconds_per_set), `${pct(a.agreement_with_others)} of ${a.agreement_compared}`, `${a.too_fast} (${pct(a.too_fast_share)})`,
      `${a.repeats_answered} / ${a.repeats_assigned}`, `${pct(a.repeat_consistency)} of ${a.repeat_versions}`, a.revised_sets,
      a.last_activity ? a.last_activity.replace("T", " ").replace("+00:00", "") : "–", a.flags.join("; ") || "–"],
    [false, false, flagged("behind"), false, flagged("agrees with the others"), flagged("faster"), false, flagged("repeated"), false, false,
     a.flags.length > 0]);
  }
  $("#batches tbody").replaceChildren();
  for (const b of s.batches) row("batches", [b.batch, b.sets, b.finished, pct(b.completion)]);
}

async function refresh(token) {
  const response = await fetch("/api/admin/status", { headers: { Authorization: `Bearer ${token}` } });
  if (response.status === 401) { gate("This coordinator link is not valid (any more): `hggt annotate tokens --admin` issues a new one."); return false; }
  if (response.ok) render(await response.json());
  return true;
}

async function start() {
  const token = readToken();
  if (!token) { gate("Open the coordinator's link printed by `hggt annotate export` (it ends in #admin=…)."); return; }
  if (await refresh(token)) setInterval(() => refresh(token).catch(() => {}), 15000);
}

start();
