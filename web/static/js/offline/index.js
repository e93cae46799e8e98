// Offline listening: registers the service worker, saves and removes tracks from their
// buttons, marks the saved ones on every page and fills the library's saved list.

import { renderSavedList } from "./library.js";
import { OfflineError, removeTrack, savedTracks, saveTrack } from "./store.js";

const SAVE = '[data-action="save-offline"]';
const REMOVE = '[data-action="remove-offline"]';
const supported = "caches" in window && "serviceWorker" in navigator;

// Track URIs being saved: a second press is ignored, and their buttons show progress (also on
// a page swapped in meanwhile) rather than the saved state.
const saving = new Set();

function announce(message) {
  const live = document.getElementById("live");
  if (live) live.textContent = message;
}

function trackOf(element) {
  try {
    return JSON.parse(element.closest("[data-track]")?.dataset.track ?? "null");
  } catch {
    return null;
  }
}

function saveButtonsFor(uri) {
  return [...document.querySelectorAll(SAVE)].filter((button) => trackOf(button)?.uri === uri);
}

function setLabel(button, text) {
  button.dataset.label ??= button.textContent.trim();
  button.textContent = text;
}

function showProgress(uri, fraction) {
  const percent = Math.round(fraction * 100);
  for (const button of saveButtonsFor(uri)) {
    setLabel(button, `Saving ${percent} %`);
    button.classList.replace("is-refused", "is-saving") || button.classList.add("is-saving");
    button.removeAttribute("title");
    button.style.setProperty("--offline-progress", `${percent}%`);
    button.setAttribute("aria-busy", "true");
  }
}

function showRefusal(uri, message) {
  for (const button of saveButtonsFor(uri)) {
    setLabel(button, "Can't save");
    button.classList.add("is-refused");
    button.title = message;
  }
}

/** Brings every track element on the page in line with what is saved. */
async function decorate() {
  const records = await savedTracks();
  const saved = new Set(records.map((record) => record.track.uri));
  for (const element of document.querySelectorAll("[data-track]")) {
    const uri = trackOf(element)?.uri;
    if (!uri || saving.has(uri)) continue;
    element.classList.toggle("is-saved", saved.has(uri));
    for (const button of element.querySelectorAll(SAVE)) {
      if (button.closest("[data-track]") !== element) continue;
      button.classList.remove("is-saving");
      button.removeAttribute("aria-busy");
      button.setAttribute("aria-pressed", String(saved.has(uri)));
      if (saved.has(uri)) setLabel(button, "Saved");
      else if (button.dataset.label && !button.classList.contains("is-refused")) {
        button.textContent = button.dataset.label;
      }
    }
  }
  const section = document.querySelector("[data-offline-list]");
  if (section) await renderSavedList(section, records);
}

async function save(track, pageUrl) {
  if (saving.has(track.uri)) return;
  saving.add(track.uri);
  try {
    await saveTrack(track, { pageUrl, onProgress: (f) => showProgress(track.uri, f) });
    announce(`Saved “${track.title}” on this device.`);
  } catch (error) {
    const message = error instanceof OfflineError ? error.message : "Saving failed.";
    showRefusal(track.uri, message);
    announce(`“${track.title}” was not saved. ${message}`);
    if (!(error instanceof OfflineError)) throw error;
  } finally {
    saving.delete(track.uri);
    await decorate();
  }
}

async function remove(track) {
  await removeTrack(track.uri);
  announce(`Removed “${track.title}” from this device.`);
  await decorate();
}

document.addEventListener("click", (event) => {
  const button = event.target.closest(`${SAVE}, ${REMOVE}`);
  const track = button && trackOf(button);
  if (!track) return;
  event.preventDefault();
  if (!supported) {
    announce("This browser can't keep tracks for offline listening.");
    return;
  }
  // A pressed "Saved" toggle un-presses: the saved copy is removed.
  if (button.matches(REMOVE) || button.getAttribute("aria-pressed") === "true") {
    remove(track);
  } else {
    save(track, button.closest("[data-page-url]")?.dataset.pageUrl);
  }
});

// This page and its scripts were loaded before the worker controlled it: it is told which
// scripts and styles they were, to keep them for when the node can't be reached.
async function handOverFirstPage() {
  if (navigator.serviceWorker.controller) return;
  const { active } = await navigator.serviceWorker.ready;
  const urls = performance.getEntriesByType("resource").map((entry) => entry.name);
  active.postMessage({ type: "keep", urls });
}

if (supported) {
  navigator.serviceWorker
    .register("/sw.js", { scope: "/" })
    .then(handOverFirstPage)
    .catch((error) => console.warn("offline: the service worker was not registered", error));
  document.addEventListener("oms:navigated", () => decorate());
}
