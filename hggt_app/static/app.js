// hggt annotation client: no framework, no network access beyond this server.
"use strict";

const LABELS = ["Positive", "Similar", "Negative"];
const SLOTS = ["1", "2", "3", "4"];
const state = { token: null, queue: [], index: 0, set: null, labels: {}, selected: "1", shownAt: 0,
                view: { scale: 1, cx: 0, cy: 0 }, natural: null, urls: [], ready: false };

const $ = (sel) => document.querySelector(sel);

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
  if (response.status === 401) throw new Error("This link's token is not valid. Ask for a new link.");
  if (!response.ok) throw new Error((await response.json().catch(() => ({}))).detail || response.statusText);
  return response;
}

function say(text) { $("#message").textContent = text || ""; }

function updateProgress(done, assigned) {
  $("#progress").textContent = `${done} / ${assigned} sets done`;
  $("#bar").max = Math.max(assigned, 1);
  $("#bar").value = done;
}

async function loadSet(index) {
  if (!state.queue.length) { say("No sets are assigned to you."); return; }
  state.ready = false;  // keys wait until the set is on screen, so no label lands on the wrong set
  state.index = Math.max(0, Math.min(index, state.queue.length - 1));
  const entry = state.queue[state.index];
  const info = await (await api(`/api/sets/${encodeURIComponent(entry.set_id)}`)).json();
  state.set = info.set_id;
  state.labels = Object.fromEntries(Object.entries(info.labels).filter(([, v]) => v));
  state.selected = SLOTS.find((s) => !state.labels[s]) || "1";
  $("#setname").textContent = "";
  $("#setname").dataset.pending = `set ${state.index + 1} of ${state.queue.length}: ${info.set_id}${entry.done ? " (done, you can revise it)" : ""}`;
  state.urls.forEach((u) => URL.revokeObjectURL(u));
  state.urls = [];
  const slots = ["original", ...SLOTS];
  const blobs = await Promise.all(slots.map(async (slot) =>
    (await api(`/api/sets/${encodeURIComponent(info.set_id)}/images/${slot}`)).blob()));
  await Promise.all(slots.map((slot, i) => new Promise((resolve) => {
    const img = document.querySelector(`[data-slot="${slot}"] img`);
    const url = URL.createObjectURL(blobs[i]);
    state.urls.push(url);
    img.onload = () => resolve();
    img.src = url;
  })));
  const first = document.querySelector('[data-slot="original"] img');
  state.natural = { w: first.naturalWidth, h: first.naturalHeight };
  $("#setname").textContent = $("#setname").dataset.pending;
  fit();
  render();
  state.shownAt = performance.now();
  state.ready = true;
  say("");
}

function render() {
  for (const slot of SLOTS) {
    const cell = document.querySelector(`.cell[data-slot="${slot}"]`);
    cell.classList.toggle("selected", slot === state.selected);
    cell.querySelectorAll("button").forEach((b) => b.classList.toggle("on", state.labels[slot] === b.dataset.label));
  }
  $("#submit").disabled = !SLOTS.every((s) => state.labels[s]);
  $("#prev").disabled = state.index === 0;
  $("#next").disabled = state.index >= state.queue.length - 1;
}

// One zoom level (screen px per image px) and one centre (in image px) for all five views, which
// differ in size: each view shows the same image point at its centre at the same magnification.
function placement(view) {
  const { scale, cx, cy } = state.view;
  return { tx: view.clientWidth / 2 - cx * scale, ty: view.clientHeight / 2 - cy * scale };
}

function applyView() {
  const { scale } = state.view;
  document.querySelectorAll(".view").forEach((view) => {
    const { tx, ty } = placement(view);
    const img = view.querySelector("img");
    img.style.transform = `translate(${tx}px, ${ty}px) scale(${scale})`;
    img.classList.toggle("pixelated", scale > 1.5);
  });
}

function centre(scale) {
  state.view = { scale, cx: state.natural.w / 2, cy: state.natural.h / 2 };
  applyView();
}

function fit() {
  if (!state.natural) return;
  const views = [...document.querySelectorAll(".view")];
  centre(Math.min(...views.map((v) => Math.min(v.clientWidth / state.natural.w, v.clientHeight / state.natural.h))));
}

function oneToOne() {
  if (state.natural) centre(1 / window.devicePixelRatio);
}

function zoomAt(view, clientX, clientY, factor) {
  const rect = view.getBoundingClientRect();
  const px = clientX - rect.left, py = clientY - rect.top;
  const { tx, ty } = placement(view);
  const v = state.view;
  const ix = (px - tx) / v.scale, iy = (py - ty) / v.scale;  // the image point under the cursor stays there
  const scale = Math.min(64, Math.max(0.05, v.scale * factor));
  state.view = { scale, cx: ix - (px - view.clientWidth / 2) / scale, cy: iy - (py - view.clientHeight / 2) / scale };
  applyView();
}

function setLabel(slot, label) {
  state.labels[slot] = label;
  const next = SLOTS.find((s) => !state.labels[s]);
  if (next) state.selected = next;
  render();
}

async function submit() {
  if (!state.ready) return;
  if (!SLOTS.every((s) => state.labels[s])) { say("Label all four versions first."); return; }
  const seconds = (performance.now() - state.shownAt) / 1000;
  const response = await api(`/api/sets/${encodeURIComponent(state.set)}/votes`, {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ labels: state.labels, seconds }),
  });
  const { done, assigned } = await response.json();
  state.queue[state.index].done = true;
  updateProgress(done, assigned);
  const next = state.queue.findIndex((q, i) => i > state.index && !q.done);
  const fallback = state.queue.findIndex((q) => !q.done);
  if (next >= 0 || fallback >= 0) await loadSet(next >= 0 ? next : fallback);
  else { render(); say("All your sets are done. Thank you! You can still go back and revise."); }
}

function wire() {
  for (const slot of SLOTS) {
    const box = document.querySelector(`.cell[data-slot="${slot}"] .labels`);
    box.innerHTML = `<span class="slot">${slot}</span>`;
    for (const label of LABELS) {
      const b = document.createElement("button");
      b.textContent = label;
      b.dataset.label = label;
      b.addEventListener("click", () => { state.selected = slot; setLabel(slot, label); });
      box.appendChild(b);
    }
    document.querySelector(`.cell[data-slot="${slot}"] .view`).addEventListener("click", () => { state.selected = slot; render(); });
  }
  document.querySelectorAll(".view").forEach((view) => {
    view.addEventListener("wheel", (e) => { e.preventDefault(); zoomAt(view, e.clientX, e.clientY, e.deltaY < 0 ? 1.2 : 1 / 1.2); }, { passive: false });
    let drag = null;
    view.addEventListener("pointerdown", (e) => { drag = { x: e.clientX, y: e.clientY }; view.setPointerCapture(e.pointerId); view.classList.add("dragging"); });
    view.addEventListener("pointermove", (e) => {
      if (!drag) return;
      state.view.cx -= (e.clientX - drag.x) / state.view.scale;
      state.view.cy -= (e.clientY - drag.y) / state.view.scale;
      drag = { x: e.clientX, y: e.clientY };
      applyView();
    });
    const end = () => { drag = null; view.classList.remove("dragging"); };
    view.addEventListener("pointerup", end);
    view.addEventListener("pointercancel", end);
  });
  $("#prev").addEventListener("click", () => loadSet(state.index - 1).catch((e) => say(e.message)));
  $("#next").addEventListener("click", () => loadSet(state.index + 1).catch((e) => say(e.message)));
  $("#fit").addEventListener("click", fit);
  $("#one").addEventListener("click", oneToOne);
  $("#submit").addEventListener("click", () => submit().catch((e) => say(e.message)));
  window.addEventListener("resize", applyView);
  document.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey || !state.ready) return;
    const key = e.key.toLowerCase();
    if (SLOTS.includes(key)) { state.selected = key; render(); }
    else if (key === "p" || key === "s" || key === "n") setLabel(state.selected, { p: "Positive", s: "Similar", n: "Negative" }[key]);
    else if (key === "enter") { e.preventDefault(); submit().catch((err) => say(err.message)); }
    else if (key === "backspace") { e.preventDefault(); if (state.index > 0) loadSet(state.index - 1).catch((err) => say(err.message)); }
    else return;
  });
}

async function start() {
  state.token = readToken();
  if (!state.token) { say("Open this page with the link you were given (it ends in #token=…)."); return; }
  wire();
  try {
    const me = await (await api("/api/me")).json();
    $("#who").textContent = me.annotator;
    state.queue = me.queue;
    updateProgress(me.done, me.assigned);
    await loadSet(me.resume_at);
  } catch (e) { say(e.message); }
}

start();
