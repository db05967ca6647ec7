// hggt annotation client: no framework, no network access beyond this server.
"use strict";

import { apply, fit, flicker, oneToOne, pan, setLayout, show, view, wireView, wireViews, zoomBy } from "/static/view.js";

const LABELS = ["Positive", "Similar", "Negative"];
// A set has 2 to 8 versions (the paper's four by default): slots "1".."n", taken from the set itself.
let SLOTS = [];
const slotNames = () => ["original", ...SLOTS];
const state = { token: null, queue: [], index: 0, set: null, labels: {}, selected: "1", shownAt: 0,
                urls: [], ready: false, busy: false, prefetched: null };

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
  const response = await fetch(path, { ...options, headers });
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

function say(text) { $("#message").textContent = text || ""; }

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
  main.style.setProperty("--pair-columns", `repeat(${2 * n}, minmax(0, 1fr))`);
  main.style.setProperty("--pair-areas", `"${Array(n).fill("o").join(" ")} ${Array(n).fill("s").join(" ")}" "${SLOTS.map((s) => `b${s} b${s}`).join(" ")}"`);
  for (const slot of SLOTS) {
    const cell = document.createElement("section");
    cell.className = "panel cell";
    cell.dataset.slot = slot;
    cell.style.gridArea = `c${slot}`;
    cell.innerHTML = `<div class="view"><img alt="version ${slot}"><span class="badge">ORIGINAL</span></div><div class="labels"></div>`;
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
  if (entry.done) parts.push("done: labelling again revises it");
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
    state.labels = Object.fromEntries(Object.entries(info.labels).filter(([, v]) => v));
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
    state.shownAt = performance.now();
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
  $("#submit").disabled = state.busy || !SLOTS.every((s) => state.labels[s]);
  $("#prev").disabled = state.busy || state.index === 0;
  $("#next").disabled = state.busy || state.index >= state.queue.length - 1;
  document.body.classList.toggle("busy", state.busy);
  if (view.layout === "pair" && view.natural) apply();  // the picked version's view was hidden until now
}

// After a label the selection moves on, on a new set and on a revisited one alike: to the next
// unlabelled version, else to the next version.
function setLabel(slot, label) {
  state.labels[slot] = label;
  const i = SLOTS.indexOf(slot);
  const ring = [...SLOTS.slice(i + 1), ...SLOTS.slice(0, i)];
  state.selected = ring.find((s) => !state.labels[s]) || SLOTS[Math.min(i + 1, SLOTS.length - 1)];
  render();
}

async function submit() {
  if (!state.ready || state.busy) return;  // one submission at a time: a second Enter is ignored
  if (!SLOTS.every((s) => state.labels[s])) { say(`Label all ${SLOTS.length} versions first.`); return; }
  const index = state.index, key = state.set;  // move on from the set actually submitted
  const seconds = (performance.now() - state.shownAt) / 1000;
  state.busy = true;
  render();
  try {
    const response = await api(`/api/sets/${encodeURIComponent(key)}/votes`, {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ labels: state.labels, seconds }),
    });
    const { done, assigned } = await response.json();
    state.queue[index].done = true;
    updateProgress(done, assigned);
    const next = nextUnfinished(index);
    if (next >= 0) {
      await loadSet(next, next < index ? `Back to set ${next + 1}: you had left it unfinished.` : "");
    } else {
      describe();
      document.body.classList.add("finished");
      say(`All ${assigned} sets are done. Thank you! Backspace or ◀ Prev to revise one.`);
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
  try {
    const me = await (await api("/api/me")).json();
    $("#who").textContent = me.annotator;
    state.queue = me.queue;
    updateProgress(me.done, me.assigned);
    if (me.done === me.assigned && me.assigned) document.body.classList.add("finished");
    await loadSet(me.resume_at, me.done === me.assigned && me.assigned ? "All your sets are done. Thank you! You can still revise them." : "");
  } catch (e) { fail(e); }
}

start();
