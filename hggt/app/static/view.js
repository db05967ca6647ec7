// The five synchronised image views: one zoom level (screen px per image px) and one centre (in
// image px) for all of them, kept from set to set (annotators check every set at the same
// magnification), the flicker comparison with the original, and the two layouts.
"use strict";

const KEY = "hggt-view";
const saved = JSON.parse(localStorage.getItem(KEY) || "null");
export const view = {
  scale: 1, cx: 0, cy: 0,
  fitted: saved ? saved.fitted : true,  // until the annotator zooms, every set is fitted to its panels
  natural: null,
  layout: (saved && saved.layout) || "grid",
};
if (saved && !saved.fitted) Object.assign(view, { scale: saved.scale, cx: saved.cx, cy: saved.cy });

const views = () => [...document.querySelectorAll(".view")].filter((v) => v.clientWidth > 0);

function remember() {
  const { scale, cx, cy, fitted, layout } = view;
  localStorage.setItem(KEY, JSON.stringify({ scale, cx, cy, fitted, layout }));
}

function placement(el) {
  return { tx: el.clientWidth / 2 - view.cx * view.scale, ty: el.clientHeight / 2 - view.cy * view.scale };
}

export function apply() {
  for (const el of document.querySelectorAll(".view")) {
    const { tx, ty } = placement(el);
    const img = el.querySelector("img");
    img.style.transform = `translate(${tx}px, ${ty}px) scale(${view.scale})`;
    img.classList.toggle("pixelated", view.scale > 1.5);
  }
}

function clampCentre() {
  const { w, h } = view.natural;
  view.cx = Math.min(Math.max(view.cx, 0), w);
  view.cy = Math.min(Math.max(view.cy, 0), h);
}

export function fitScale() {
  const { w, h } = view.natural;
  return Math.min(...views().map((v) => Math.min(v.clientWidth / w, v.clientHeight / h)));
}

export function fit() {
  if (!view.natural) return;
  Object.assign(view, { scale: fitScale(), cx: view.natural.w / 2, cy: view.natural.h / 2, fitted: true });
  apply();
  remember();
}

function zoomTo(scale, cx = view.cx, cy = view.cy) {
  Object.assign(view, { scale: Math.min(64, Math.max(0.05, scale)), cx, cy, fitted: false });
  clampCentre();
  apply();
  remember();
}

export function oneToOne() {
  if (view.natural) zoomTo(1 / window.devicePixelRatio);
}

export function zoomBy(factor) {
  if (view.natural) zoomTo(view.scale * factor);
}

export function pan(dx, dy) {  // in screen pixels
  if (!view.natural) return;
  zoomTo(view.scale, view.cx + dx / view.scale, view.cy + dy / view.scale);
}

function zoomAt(el, clientX, clientY, factor) {
  const rect = el.getBoundingClientRect();
  const px = clientX - rect.left, py = clientY - rect.top;
  const { tx, ty } = placement(el);
  const ix = (px - tx) / view.scale, iy = (py - ty) / view.scale;  // the image point under the cursor stays there
  const scale = Math.min(64, Math.max(0.05, view.scale * factor));
  zoomTo(scale, ix - (px - el.clientWidth / 2) / scale, iy - (py - el.clientHeight / 2) / scale);
}

// A new set: keep the annotator's zoom and position (fitted stays fitted, whatever the image size).
export function show(natural) {
  view.natural = natural;
  if (view.fitted) fit();
  else { clampCentre(); apply(); }
}

export function setLayout(layout) {
  view.layout = layout;
  document.getElementById("work").className = layout;
  remember();
  if (view.natural) (view.fitted ? fit() : apply());
}

// Hold-to-compare: the picked version's view shows the original, same zoom and position.
let flickering = null;
export function flicker(on, slot) {
  if (on && !flickering) {
    const cell = document.querySelector(`.cell[data-slot="${slot}"]`);
    const img = cell.querySelector("img");
    flickering = { cell, img, src: img.src };
    img.src = document.querySelector('[data-slot="original"] img').src;
    cell.classList.add("flicker");
  } else if (!on && flickering) {
    flickering.img.src = flickering.src;
    flickering.cell.classList.remove("flicker");
    flickering = null;
  }
}

// One view's wheel zoom and drag (the versions' views are made per set count, after start-up).
export function wireView(el) {
  el.addEventListener("wheel", (e) => { e.preventDefault(); zoomAt(el, e.clientX, e.clientY, e.deltaY < 0 ? 1.2 : 1 / 1.2); }, { passive: false });
  let drag = null;
  el.addEventListener("pointerdown", (e) => { drag = { x: e.clientX, y: e.clientY }; el.setPointerCapture(e.pointerId); el.classList.add("dragging"); });
  el.addEventListener("pointermove", (e) => {
    if (!drag) return;
    pan(drag.x - e.clientX, drag.y - e.clientY);
    drag = { x: e.clientX, y: e.clientY };
  });
  const end = () => { drag = null; el.classList.remove("dragging"); };
  el.addEventListener("pointerup", end);
  el.addEventListener("pointercancel", end);
}

export function wireViews() {
  for (const el of document.querySelectorAll(".view")) wireView(el);
  window.addEventListener("resize", () => (view.fitted ? fit() : apply()));
  window.addEventListener("blur", () => flicker(false));
  setLayout(view.layout);
}
