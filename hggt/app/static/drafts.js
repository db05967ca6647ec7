// What survives in this browser between a click and its submission: the labels given to a set but
// not yet submitted (per annotator and set, until submitted: Back/Next, a reload or a server
// outage loses no click), and the set's active time, which stops counting after two idle minutes
// and while the page is hidden (a set left open over a weekend is not a weekend's work).
"use strict";

const PREFIX = "hggt-draft:";
const keyOf = (who, set) => `${PREFIX}${who}:${set}`;

export function loadDraft(who, set) {
  try {
    const draft = JSON.parse(localStorage.getItem(keyOf(who, set)) || "null");
    return draft && typeof draft === "object" ? draft : {};
  } catch {
    return {};  // storage unavailable or a damaged entry: start the set afresh
  }
}

export function saveDraft(who, set, labels) {
  try { localStorage.setItem(keyOf(who, set), JSON.stringify(labels)); } catch { /* storage full or off: labels live on screen only */ }
}

export function dropDraft(who, set) {
  try { localStorage.removeItem(keyOf(who, set)); } catch { /* nothing was kept */ }
}

export const IDLE_MS = 120000;
export const MAX_SECONDS = 3600;  // the server's limit (hggt/core/annotation/store_writes.py)
let active = 0, last = performance.now();

function tick() {
  const now = performance.now();
  if (!document.hidden) active += Math.min(now - last, IDLE_MS);
  last = now;
}

export function restartClock() {
  active = 0;
  last = performance.now();
}

export function activeSeconds() {
  tick();
  return Math.min(active / 1000, MAX_SECONDS - 1);
}

export function watchActivity() {
  for (const type of ["keydown", "pointerdown", "pointermove", "wheel"]) {
    document.addEventListener(type, tick, { passive: true, capture: true });
  }
  document.addEventListener("visibilitychange", () => {
    const now = performance.now();
    if (document.hidden) active += Math.min(now - last, IDLE_MS);  // the stretch before it was hidden counts
    last = now;
  });
}
