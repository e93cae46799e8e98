// Shortens the gap between tracks: ~15 s before the current one ends, fetch what the next one
// starts with (master, the rendition playing now, its init segment and first media segment,
// the waveform) so that hls.js finds them in the HTTP cache (everything under /hls/ is
// immutable and cacheable).

const LEAD_SECONDS = 15;

async function text(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${response.status} ${url}`);
  return { body: await response.text(), url: response.url };
}

// Read the whole body so the response lands in the cache.
function warm(url) {
  return fetch(url).then((response) => response.arrayBuffer());
}

// The URIs of a playlist (lines that are not tags), resolved against it; and EXT-X-MAP's.
function uris(playlist) {
  const lines = playlist.body.split("\n").map((line) => line.trim());
  const resolve = (uri) => new URL(uri, playlist.url).href;
  const map = lines.find((line) => line.startsWith("#EXT-X-MAP:"));
  const mapUri = map && /URI="([^"]+)"/.exec(map);
  return {
    entries: lines.filter((line) => line && !line.startsWith("#")).map(resolve),
    map: mapUri ? resolve(mapUri[1]) : null,
  };
}

export async function preloadTrack(track, rendition) {
  const jobs = [];
  if (track.waveformUrl) jobs.push(warm(track.waveformUrl));
  const master = uris(await text(track.streamUrl));
  const variant =
    master.entries.find((uri) => new URL(uri).pathname.includes(`/${rendition}/`)) ||
    master.entries[0];
  if (variant) {
    const media = uris(await text(variant));
    if (media.map) jobs.push(warm(media.map));
    if (media.entries[0]) jobs.push(warm(media.entries[0]));
  }
  await Promise.all(jobs);
}

export function watchForPreload(player) {
  let warmedFor = null; // the queue entry whose successor was preloaded
  player.audio.addEventListener("timeupdate", async () => {
    const current = player.queue.current;
    if (!current || warmedFor === current.key) return;
    if (player.duration() - player.position() > LEAD_SECONDS) return;
    warmedFor = current.key;
    const next = await player.upcoming();
    if (!next || !next.track.streamUrl || next === current) return;
    // A failed preload only costs the gap it was meant to save.
    preloadTrack(next.track, player.rendition() || "aac128").catch(() => {});
  });
}
