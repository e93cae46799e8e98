// Tracks saved for offline listening, kept in Cache Storage ("oms-offline") under the very
// addresses the player asks for, so the service worker (/sw.js) can answer them without the node.

const CACHE = "oms-offline";
const RECORDS = "/__offline__/tracks/";
const PARALLEL_FETCHES = 4;

// localStorage["oms.quality"] (written by the player) → the rendition directory saved.
const RENDITIONS = { auto: "aac128", 64: "aac64", 128: "aac128", 256: "aac256", lossless: "flac" };

export class OfflineError extends Error {}

function recordUrl(uri) {
  return new URL(RECORDS + encodeURIComponent(uri), location.origin).href;
}

/** The saved tracks, newest first: {track, pageUrl, rendition, bytes, savedAt, urls}. */
export async function savedTracks() {
  const cache = await caches.open(CACHE);
  const keys = await cache.keys();
  const records = await Promise.all(
    keys
      .filter((request) => new URL(request.url).pathname.startsWith(RECORDS))
      .map(async (request) => (await cache.match(request)).json()),
  );
  return records.sort((a, b) => b.savedAt.localeCompare(a.savedAt));
}

/**
 * Saves `track` (a trackView) in the rendition the listener chose, calling
 * `onProgress(fraction)` as files arrive. Nothing is kept unless every file was fetched and
 * stored. Throws OfflineError with a message meant for the listener.
 */
export async function saveTrack(track, { pageUrl, onProgress = () => {} } = {}) {
  if (!track.downloadable) {
    throw new OfflineError("The artist doesn't allow saving this track for offline listening.");
  }
  if (!track.streamUrl) throw new OfflineError("This track has no stream to save yet.");
  const saved = await savedTracks();
  const already = saved.find((record) => record.track.uri === track.uri);
  if (already) return already;
  await askToPersist();

  const masterUrl = track.streamUrl;
  const master = await fetchText(masterUrl);
  const variants = parseMaster(master, masterUrl);
  const variant = chooseVariant(variants, localStorage.getItem("oms.quality"));
  const playlistUrl = variant.url;
  const playlist = await fetchText(playlistUrl);

  const files = [...mediaFiles(playlist, playlistUrl), ...extras(track)];
  let done = 0;
  onProgress(0);
  const blobs = await inPool(files, async ({ url, optional }, signal) => {
    const blob = await fetchBlob(url, optional, signal);
    if (!signal.aborted) onProgress(++done / files.length);
    return blob;
  });

  const entries = [
    [masterUrl, playlistBlob(onlyVariant(master, variants, variant))],
    [playlistUrl, playlistBlob(playlist)],
  ];
  files.forEach(({ url }, i) => blobs[i] && entries.push([url, blobs[i]]));
  const record = {
    track,
    pageUrl: pageUrl || null,
    rendition: variant.rendition,
    bytes: entries.reduce((sum, [, blob]) => sum + blob.size, 0),
    savedAt: new Date().toISOString(),
    urls: entries.map(([url]) => url),
  };
  entries.push([recordUrl(track.uri), new Blob([JSON.stringify(record)], { type: JSON_TYPE })]);
  await putAll(entries, new Set(saved.flatMap((r) => r.urls)));
  return record;
}

/** Forgets a saved track; files another saved track also uses (the same audio) stay. */
export async function removeTrack(uri) {
  const cache = await caches.open(CACHE);
  const records = await savedTracks();
  const gone = records.find((record) => record.track.uri === uri);
  if (!gone) return;
  const kept = new Set(records.filter((r) => r !== gone).flatMap((r) => r.urls));
  const unused = gone.urls.filter((url) => !kept.has(url));
  await Promise.all([...unused, recordUrl(uri)].map((url) => cache.delete(url)));
}

async function askToPersist() {
  // Without persistence the browser may evict saved tracks when the disk fills up.
  if (navigator.storage?.persist && !(await navigator.storage.persisted())) {
    await navigator.storage.persist();
  }
}

function unreachable() {
  return new OfflineError("The node can't be reached: the track was not saved.");
}

async function fetchOk(url, signal) {
  let response;
  try {
    response = await fetch(url, { signal });
  } catch {
    throw unreachable();
  }
  if (!response.ok) {
    throw new OfflineError(`The node answered ${response.status}: the track was not saved.`);
  }
  return response;
}

async function fetchText(url) {
  return (await fetchOk(url)).text();
}

// Artwork and the waveform make the saved copy nicer but are not needed to play it.
async function fetchBlob(url, optional, signal) {
  try {
    return await (await fetchOk(url, signal)).blob();
  } catch (error) {
    if (optional) return null;
    throw error;
  }
}

/** The variants of a master playlist: [{url, rendition, lines}], `lines` being the indexes
 * of its #EXT-X-STREAM-INF line and of its URI line. */
function parseMaster(text, masterUrl) {
  const lines = text.split(/\r?\n/);
  const variants = [];
  lines.forEach((line, i) => {
    if (!line.startsWith("#EXT-X-STREAM-INF")) return;
    const at = lines.findIndex((next, j) => j > i && next && !next.startsWith("#"));
    if (at < 0) return;
    const url = new URL(lines[at], masterUrl);
    const rendition = url.pathname.split("/").at(-2);
    variants.push({ url: url.href, rendition, lines: [i, at] });
  });
  if (!variants.length) throw new OfflineError("The track's stream lists no renditions.");
  return variants;
}

function chooseVariant(variants, quality) {
  const wanted = RENDITIONS[quality] || RENDITIONS.auto;
  const byRendition = (name) => variants.find((v) => v.rendition === name);
  // Lossy sources have no flac rendition: the best AAC stands in for lossless.
  return byRendition(wanted) || (wanted === "flac" && byRendition("aac256")) || variants[0];
}

/** The master playlist as saved: only the saved rendition, so players never ask for others. */
function onlyVariant(master, variants, variant) {
  const unsaved = new Set(variants.filter((v) => v !== variant).flatMap((v) => v.lines));
  return master.split(/\r?\n/).filter((_, i) => !unsaved.has(i)).join("\n");
}

/** init.mp4 and every segment of a media playlist, resolved as a player would resolve them. */
function mediaFiles(playlist, playlistUrl) {
  const refs = [];
  for (const line of playlist.split(/\r?\n/)) {
    const map = line.startsWith("#EXT-X-MAP:") && line.match(/URI="([^"]+)"/);
    if (map) refs.push(map[1]);
    else if (line && !line.startsWith("#")) refs.push(line.trim());
  }
  return refs.map((ref) => ({ url: new URL(ref, playlistUrl).href, optional: false }));
}

function extras(track) {
  const urls = [track.waveformUrl, track.artwork?.small, track.artwork?.medium].filter(Boolean);
  return [...new Set(urls)].map((url) => ({ url, optional: true }));
}

/** `work(item, signal)` on every item, a few at a time. The first failure rejects: no
 * further item is started and `signal` aborts those under way. */
async function inPool(items, work) {
  const stop = new AbortController();
  const results = new Array(items.length);
  let next = 0;
  async function worker() {
    while (next < items.length && !stop.signal.aborted) {
      const i = next++;
      results[i] = await work(items[i], stop.signal);
    }
  }
  const workers = Array.from({ length: Math.min(PARALLEL_FETCHES, items.length) }, () =>
    worker().catch((error) => {
      stop.abort();
      throw error;
    }),
  );
  await Promise.all(workers);
  return results;
}

/** Writes every entry, or none: on failure what was written is deleted, except the files
 * `shared` with tracks saved before (the same audio under another track). */
async function putAll(entries, shared) {
  const cache = await caches.open(CACHE);
  const written = [];
  try {
    for (const [url, blob] of entries) {
      await cache.put(url, responseOf(blob));
      if (!shared.has(url)) written.push(url);
    }
  } catch (error) {
    await Promise.all(written.map((url) => cache.delete(url)));
    if (error.name === "QuotaExceededError") {
      throw new OfflineError("There isn't enough space on this device to save this track.");
    }
    throw error;
  }
}

const PLAYLIST_TYPE = "application/vnd.apple.mpegurl";
const JSON_TYPE = "application/json";

function playlistBlob(text) {
  return new Blob([text], { type: PLAYLIST_TYPE });
}

// Stored responses are made anew from the bodies alone: the node's may be gzipped or carry
// Vary, which Cache Storage would honour when matching the player's requests.
function responseOf(blob) {
  return new Response(blob, {
    headers: { "Content-Type": blob.type || "application/octet-stream" },
  });
}
