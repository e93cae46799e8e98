// "Recently played" for a listener who is not signed in: the library page's [data-history]
// list, from the history the player keeps in this browser (localStorage `oms.history`).
// Signed-in listeners get theirs from the node, rendered with the page.

const HISTORY_KEY = "oms.history";
const SHOWN = 25;

function trackPath(uri) {
  const match = /^at:\/\/([^/]+)\/fm\.oms\.track\/([^/]+)$/.exec(uri || "");
  return match ? `/track/${match[1]}/${match[2]}` : null;
}

function stored() {
  try {
    const list = JSON.parse(localStorage.getItem(HISTORY_KEY) || "[]");
    return Array.isArray(list) ? list : [];
  } catch {
    return [];
  }
}

function render() {
  const target = document.querySelector("[data-history]");
  if (!target) return;
  const seen = new Set();
  const entries = stored().filter((entry) => {
    if (!entry || !trackPath(entry.uri) || seen.has(entry.uri)) return false;
    seen.add(entry.uri);
    return true;
  });
  if (!entries.length) return;
  const list = document.createElement("ol");
  list.className = "history";
  for (const entry of entries.slice(0, SHOWN)) {
    const item = document.createElement("li");
    const link = document.createElement("a");
    link.href = trackPath(entry.uri);
    link.textContent = entry.title || "Untitled";
    item.append(link);
    const artists = Array.isArray(entry.artists)
      ? entry.artists.map((a) => (typeof a === "string" ? a : a && a.name)).filter(Boolean)
      : [];
    if (artists.length) item.append(` · ${artists.join(", ")}`);
    list.append(item);
  }
  target.replaceChildren(list);
}

render();
document.addEventListener("oms:navigated", render);
