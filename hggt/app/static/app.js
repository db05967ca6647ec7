// hggt annotation client: no framework, no network access beyond this server.
"use strict";

import { activeSeconds, dropDraft, loadDraft, restartClock, saveDraft, watchActivity } from "/static/drafts.js";
import { apply, fit, flicker, oneToOne, pan, setLayout, show, view, wireView, wireViews, zoomBy } from "/static/view.js";

const LABELS = ["Positive", "Similar", "Negative"];
// A set has 2 to 8 versions (the paper's four by default): slots "1".."n", taken from the set itself.
let SLOTS = [];
const slotNames = () => ["original", ...SLOTS];
// labels: on screen; submitted: what the server holds for a done set (a change to it is a revision)
const state = { token: null, who: "", queue: [], index: 0, set: null, labels: {}, submitted: {}, selected: "1",
                urls: [], ready: false, busy: false, prefetched: null, nag: false };

const $ = (sel) => document.querySelector(sel);

class LinkError extends Error {}

function readToken() {
  const hash = new URLSearchParams(location.hash.slice(1));
  if (hash.get("token")) {
    sessionStorage.setItem("hggt-token", hash.get("token"));
    history.replaceState(null, "", location.pathname);  // keep the token out of the address bar
  }
  return sessionStorage.getItem("hggt-token");
}

async function api(path, options = {}) {
  const headers = { Authorization: `Bearer ${state.token}`, ...(options.headers || {}) };
  let response;
  try {
    response = await fetch(path, { ...options, headers });
  } catch {  // the browser's own "Failed to fetch" says nothing to an annotator
    throw new Error("The annotation server does not answer. Your labels are kept in this browser: try again in a moment, or tell the person who runs the annotation.");
  }
  if (response.status === 401) throw new LinkError("This link's token is not valid (any more).");
  if (!response.ok) {
    const detail = (await response.json().catch(() => ({}))).detail;
    throw new Error(Array.isArray(detail) ? detail.join("; ") : detail || response.statusText);
  }
  return response;
}

function gate(title, text) {
  document.body.classList.add("gated");
  $("#gate-title").textContent = title;
  $("#gate-text").textContent = text;
  $("#gate").hidden = false;
}

function fail(error) {
  if (error instanceof LinkError) gate("This link does not work", `${error.message} Ask the person who runs the annotation for a new link.`);
  else say(error.message);
}

function say(text) {
  $("#message").textContent = text || "";
  $("#message").title = text || "";  // the whole text on hover when the bar is too narrow for it
  state.nag = false;
}

function finished(text) {
  document.body.classList.toggle("finished", Boolean(text));
  $("#banner").textContent = text || "";
  $("#banner").hidden = !text;
}

function updateProgress(done, assigned) {
  $("#progress").textContent = `${done} / ${assigned} sets done`;
  $("#bar").max = Math.max(assigned, 1);
  $("#bar").value = done;
}

const imagesOf = (key, names) => Promise.all(names.map(async (slot) =>
  (await api(`/api/sets/${encodeURIComponent(key)}/images/${slot}`)).blob()));

// The versions' panels for a set of n versions, laid out in two rows beside the original and the
// keys (grid), or as n label bars under original | picked version (pair). Rebuilt only when the
// count changes, so zoom, position and selection survive from set to set.
function ensureCells(n) {
  const main = $("#work");
  if (SLOTS.length === n && main.querySelectorAll(".cell").length === n) return;
  main.querySelectorAll(".cell").forEach((c) => c.remove());
  SLOTS = Array.from({ length: n }, (_, i) => String(i + 1));
  const top = Math.ceil(n / 2);
  const row = (first, cells) => [first, ...cells, ...Array(top - cells.length).fill(".")].join(" ");
  main.style.setProperty("--grid-columns", `repeat(${top + 1}, minmax(0, 1fr))`);
  main.style.setProperty("--grid-areas", `"${row("o", SLOTS.slice(0, top).map((s) => `c${s}`))}" "${row("i", SLOTS.slice(top).map((s) => `c${s}`))}"`);
  // pair: label bars in rows of at most four, so eight versions fit at 1366 px (one row overflowed)
  const perRow = Math.min(n, 4), bars = [];
  for (let i = 0; i < n; i += perRow) {
    const row = SLOTS.slice(i, i + perRow).map((s) => `b${s} b${s}`);
    bars.push(`"${[...row, ...Array(perRow - row.length).fill(". .")].join(" ")}"`);
  }
  main.style.setProperty("--pair-columns", `repeat(${2 * perRow}, minmax(0, 1fr))`);
  main.style.setProperty("--pair-rows", `minmax(0, 1fr) repeat(${bars.length}, auto)`);
  main.style.setProperty("--pair-areas", `"${Array(perRow).fill("o").join(" ")} ${Array(perRow).fill("s").join(" ")}" ${bars.join(" ")}`);
  for (const slot of SLOTS) {
    const cell = document.createElement("section");
    cell.className = "panel cell";
    cell.dataset.slot = slot;
    cell.style.gridArea = `c${slot}`;
    cell.innerHTML = `<div class="view"><img alt="version ${slot}"><span class="badge">ORIGINAL</span>` +
      `<span class="tag">Version ${slot}</span></div><div class="labels"></div>`;
    main.appendChild(cell);
    const box = cell.querySelector(".labels");
    box.style.gridArea = `b${slot}`;
    box.innerHTML = `<span class="slot">${slot}</span>`;
    for (const label of LABELS) {
      const b = document.createElement("button");
      b.textContent = label;
      b.dataset.label = label;
      b.tabIndex = -1;  // keys act on the page, never on a focused button (Enter would click it too)
      b.addEventListener("click", () => { if (state.ready && !state.busy) { state.selected = slot; setLabel(slot, label); } });
      box.appendChild(b);
    }
    const pane = cell.querySelector(".view");
    pane.addEventListener("click", () => { state.selected = slot; render(); });
    wireView(pane);
  }
  $("#last-key").textContent = String(n);
}

function nextUnfinished(after) {
  const later = state.queue.findIndex((q, i) => i > after && !q.done);
  return later >= 0 ? later : state.queue.findIndex((q) => !q.done);
}

// The next set's images load while the annotator works on this one.
function prefetch() {
  const i = nextUnfinished(state.index);
  if (i < 0 || i === state.index) return;
  const key = state.queue[i].set_id, names = slotNames();  // most likely as many versions as this set
  state.prefetched = { key, count: names.length, blobs: imagesOf(key, names).catch(() => null) };
}

function describe() {
  const n = state.queue.length, entry = state.queue[state.index];
  const left = state.queue.filter((q) => !q.done).length;
  const parts = [`Set ${state.index + 1} of ${n}`];
  if (state.index === n - 1) parts.push("the last set");
  if (entry.done) parts.push(dirty() ? "changed: Revise to keep the change" : "done: change a label to revise it");
  else if (left === 1) parts.push("your last unfinished set");
  $("#setname").textContent = parts.join(" · ");
  $("#setname").classList.toggle("last", state.index === n - 1 || (!entry.done && left === 1));
}

async function loadSet(index, note = "") {
  if (!state.queue.length) { say("No sets are assigned to you."); return; }
  state.ready = false;  // keys wait until the set is on screen, so no label lands on the wrong set
  flicker(false);
  try {
    state.index = Math.max(0, Math.min(index, state.queue.length - 1));
    const key = state.queue[state.index].set_id;
    const pending = state.prefetched && state.prefetched.key === key ? state.prefetched : null;
    const [info, early] = await Promise.all([api(`/api/sets/${encodeURIComponent(key)}`).then((r) => r.json()), pending && pending.blobs]);
    const count = Object.keys(info.labels).length;
    const blobs = early && early.length === count + 1 ? early : await imagesOf(key, ["original", ...Object.keys(info.labels).sort((a, b) => a - b)]);
    ensureCells(count);
    state.set = info.set_id;
    state.submitted = Object.fromEntries(Object.entries(info.labels).filter(([, v]) => v));
    const draft = loadDraft(state.who, info.set_id);
    state.labels = { ...state.submitted, ...Object.fromEntries(SLOTS.filter((s) => LABELS.includes(draft[s])).map((s) => [s, draft[s]])) };
    state.selected = SLOTS.find((s) => !state.labels[s]) || "1";
    const urls = blobs.map((b) => URL.createObjectURL(b));
    await Promise.all(slotNames().map((slot, i) => new Promise((resolve) => {
      const img = document.querySelector(`[data-slot="${slot}"] img`);
      img.onload = img.onerror = () => resolve();
      img.src = urls[i];
    })));
    state.urls.forEach((u) => URL.revokeObjectURL(u));
    state.urls = urls;
    const first = document.querySelector('[data-slot="original"] img');
    show({ w: first.naturalWidth, h: first.naturalHeight });
    describe();
    render();
    say(note);
    restartClock();
  } finally {
    state.ready = true;
  }
  prefetch();
}

function render() {
  for (const slot of SLOTS) {
    const cell = document.querySelector(`.cell[data-slot="${slot}"]`);
    cell.classList.toggle("selected", slot === state.selected);
    cell.querySelectorAll("button").forEach((b) => b.classList.toggle("on", state.labels[slot] === b.dataset.label));
  }
  const complete = SLOTS.every((s) => state.labels[s]), done = state.queue[state.index]?.done;
  if (state.nag && complete) say("");  // "Label all n versions first." is answered
  // a done set submits again only as an explicit revision, once a label has changed
  $("#submit").disabled = state.busy || !complete || (done && !dirty());
  $("#submit").textContent = done ? "Revise ⏎" : "Submit ⏎";
  $("#prev").disabled = state.busy || state.index === 0;
  $("#next").disabled = state.busy || state.index >= state.queue.length - 1;
  document.body.classList.toggle("busy", state.busy);
  if (view.layout === "pair" && view.natural) apply();  // the picked version's view was hidden until now
}

// After a label the selection moves on, on a new set and on a revisited one alike: to the next
// unlabelled version, else to the next version.
function setLabel(slot, label) {
  state.labels[slot] = label;
  saveDraft(state.who, state.set, state.labels);
  const i = SLOTS.indexOf(slot);
  const ring = [...SLOTS.slice(i + 1), ...SLOTS.slice(0, i)];
  state.selected = ring.find((s) => !state.labels[s]) || SLOTS[Math.min(i + 1, SLOTS.length - 1)];
  if (state.queue[state.index].done) describe();
  render();
}

const dirty = () => SLOTS.some((s) => state.labels[s] !== state.submitted[s]);

async function submit() {
  if (!state.ready || state.busy) return;  // one submission at a time: a second Enter is ignored
  if (!SLOTS.every((s) => state.labels[s])) {
    say(`Label all ${SLOTS.length} versions first.`);
    state.nag = true;
    return;
  }
  const index = state.index, key = state.set, revise = Boolean(state.queue[index].done);  // the set actually submitted
  if (revise && !dirty()) { say("This set is already submitted: change a label to revise it."); return; }
  const seconds = activeSeconds();
  state.busy = true;
  render();
  try {
    const response = await api(`/api/sets/${encodeURIComponent(key)}/votes`, {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ labels: state.labels, seconds, revise }),
    });
    const { done, assigned } = await response.json();
    dropDraft(state.who, key);
    state.queue[index].done = true;
    state.submitted = { ...state.labels };
    updateProgress(done, assigned);
    const next = revise ? -1 : nextUnfinished(index);
    if (next >= 0) {
      await loadSet(next, next < index ? `Back to set ${next + 1}: you had left it unfinished.` : "");
    } else {
      describe();
      say(revise ? `Set ${index + 1} revised.` : "");
      restartClock();
      if (done === assigned) finished(`All ${assigned} sets are done. Thank you! You can close this page. To revise a set, go back to it (◀ Prev or Backspace), change a label and press Revise.`);
    }
  } finally {
    state.busy = false;
    render();
  }
}

const run = (promise) => promise.catch(fail);
const go = (index) => { if (!state.busy && state.ready) run(loadSet(index)); };

function wire() {
  document.querySelectorAll("header button").forEach((b) => { b.tabIndex = -1; });
  wireViews();
  $("#prev").addEventListener("click", () => go(state.index - 1));
  $("#next").addEventListener("click", () => go(state.index + 1));
  $("#fit").addEventListener("click", fit);
  $("#one").addEventListener("click", oneToOne);
  $("#layout").addEventListener("click", () => setLayout(view.layout === "grid" ? "pair" : "grid"));
  $("#submit").addEventListener("click", () => run(submit()));
  const step = () => Math.max(40, Math.min(window.innerWidth, window.innerHeight) / 8);
  const actions = {
    enter: () => run(submit()), backspace: () => { if (state.index > 0) go(state.index - 1); },
    "+": () => zoomBy(1.25), "=": () => zoomBy(1.25), "-": () => zoomBy(0.8), 0: oneToOne, f: fit,
    arrowleft: () => pan(-step(), 0), arrowright: () => pan(step(), 0), arrowup: () => pan(0, -step()), arrowdown: () => pan(0, step()),
    l: () => setLayout(view.layout === "grid" ? "pair" : "grid"),
  };
  document.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const key = e.key.toLowerCase();
    if (key === " ") { e.preventDefault(); if (state.ready && !state.busy) flicker(true, state.selected); return; }
    if (!(key in actions) && !SLOTS.includes(key) && !"psn".includes(key)) return;
    e.preventDefault();
    if (!state.ready || state.busy) return;  // a set is loading or being submitted
    if (SLOTS.includes(key)) { flicker(false); state.selected = key; render(); }
    else if (key.length === 1 && "psn".includes(key)) setLabel(state.selected, { p: "Positive", s: "Similar", n: "Negative" }[key]);
    else actions[key]();
  });
  document.addEventListener("keyup", (e) => { if (e.key === " ") { e.preventDefault(); flicker(false); } });
}

async function start() {
  state.token = readToken();
  if (!state.token) {
    gate("This page needs your link", "Open the link you were given (it ends in #token=…). Ask the person who runs the annotation if you have none.");
    return;
  }
  wire();
  watchActivity();
  try {
    const me = await (await api("/api/me")).json();
    $("#who").textContent = state.who = me.annotator;
    state.queue = me.queue;
    updateProgress(me.done, me.assigned);
    if (me.done === me.assigned && me.assigned) finished("All your sets are done. Thank you! To revise one, change a label and press Revise.");
    await loadSet(me.resume_at);
  } catch (e) { fail(e); }
}

start();
