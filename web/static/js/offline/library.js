// The "Saved on this device" list of the library page: the saved tracks as a playable
// tracklist, each with its size and rendition, and the space they take.

const RENDITION_NAMES = {
  aac64: "AAC 64 kbps",
  aac128: "AAC 128 kbps",
  aac256: "AAC 256 kbps",
  flac: "FLAC lossless",
};

const BYTE_UNITS = ["byte", "kilobyte", "megabyte", "gigabyte", "terabyte"];

function formatBytes(bytes) {
  const power = Math.min(Math.floor(Math.log10(Math.max(bytes, 1)) / 3), BYTE_UNITS.length - 1);
  return new Intl.NumberFormat(undefined, {
    style: "unit",
    unit: BYTE_UNITS[power],
    unitDisplay: "short",
    maximumFractionDigits: power < 2 ? 0 : 1,
  }).format(bytes / 1000 ** power);
}

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

function artistNames(track) {
  return (track.artists || []).map((artist) => artist.name).join(", ");
}

// The small artwork was saved with the track, so it shows offline too.
function cover(track) {
  const src = track.artwork?.small;
  if (!src) return element("span", { class: "cover cover-blank", "aria-hidden": "true" });
  return element("img", { class: "cover", src, alt: "", width: "48", height: "48" });
}

// The same shape as the pages' track rows (listen/_macros.html), so they look alike.
function row(record) {
  const { track } = record;
  const title = record.pageUrl
    ? element("a", { class: "track-title", href: record.pageUrl }, track.title)
    : element("span", { class: "track-title" }, track.title);
  const rendition = RENDITION_NAMES[record.rendition] || record.rendition;
  const details = `${formatBytes(record.bytes)} · ${rendition}`;
  const item = element(
    "li",
    { class: "track-row offline-row", "data-track": JSON.stringify(track) },
    element(
      "button",
      {
        type: "button",
        class: "icon-button play",
        "data-action": "play",
        "aria-label": `Play ${track.title}`,
      },
      element("span", { "aria-hidden": "true" }, "▶"),
    ),
    cover(track),
    element(
      "div",
      { class: "track-text" },
      title,
      element("span", { class: "track-artist" }, artistNames(track)),
      element("span", { class: "offline-row-meta meta" }, details),
    ),
    element(
      "button",
      {
        type: "button",
        class: "offline-remove",
        "data-action": "remove-offline",
        "aria-label": `Remove ${track.title} from this device`,
      },
      "Remove",
    ),
  );
  if (record.pageUrl) item.dataset.pageUrl = record.pageUrl;
  return item;
}

async function summary(records) {
  const bytes = records.reduce((sum, record) => sum + record.bytes, 0);
  const count = records.length === 1 ? "1 track" : `${records.length} tracks`;
  let text = `${count} · ${formatBytes(bytes)}`;
  const estimate = await navigator.storage?.estimate?.();
  if (estimate?.quota) {
    text += ` · ${formatBytes(Math.max(estimate.quota - estimate.usage, 0))} more can be saved`;
  }
  return text;
}

const EMPTY =
  "No tracks saved on this device yet. Choose “Save for offline” in a track's menu (⋯) " +
  "to listen to it without a connection.";

/** Renders `records` (from store.savedTracks) as the content of the library's
 * [data-offline-list] section. */
export async function renderSavedList(section, records) {
  if (!records.length) {
    section.replaceChildren(element("p", { class: "offline-empty" }, EMPTY));
    return;
  }
  const list = element("ol", {
    class: "tracks offline-list",
    "data-tracklist": "",
    "data-tracklist-name": "Saved on this device",
  });
  list.append(...records.map(row));
  const total = element("p", { class: "offline-summary meta" }, await summary(records));
  section.replaceChildren(total, list);
}
