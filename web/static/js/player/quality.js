// Quality preference (localStorage `oms.quality`) and how it maps onto the renditions of a
// track's HLS master: aac64/aac128/aac256 (AAC in fMP4) and flac (lossless sources only).

const QUALITY_KEY = "oms.quality";
export const PREFERENCES = ["auto", "64", "128", "256", "lossless"];
const RENDITION_OF = { 64: "aac64", 128: "aac128", 256: "aac256", lossless: "flac" };

export function storedPreference() {
  let value = null;
  try {
    value = localStorage.getItem(QUALITY_KEY);
  } catch {
    // storage blocked (a third-party frame): automatic quality
  }
  return PREFERENCES.includes(value) ? value : "auto";
}

export function storePreference(value) {
  try {
    localStorage.setItem(QUALITY_KEY, value);
  } catch {
    // storage disabled: the choice lasts for this page only
  }
}

// The rendition name of an hls.js level: the variant directory the node uses, else guessed
// from the codec and bandwidth (another server may lay its playlists out differently).
export function renditionOf(level) {
  const url = Array.isArray(level.url) ? level.url[0] : level.url;
  const named = /\/(aac64|aac128|aac256|flac)\/[^/]*$/.exec(new URL(url, location.href).pathname);
  if (named) return named[1];
  if (/flac/i.test(level.audioCodec || level.codecSet || "")) return "flac";
  const kbps = level.bitrate / 1000;
  return kbps < 96 ? "aac64" : kbps < 192 ? "aac128" : "aac256";
}

export function renditionLabel(rendition) {
  if (!rendition) return "";
  if (rendition === "flac") return "FLAC";
  if (rendition === "native") return "HLS";
  return `AAC ${rendition.replace("aac", "")}k`;
}

// The menu entries a master offers: auto always, each AAC rate it lists, lossless only when
// it lists a FLAC rendition.
export function choicesFor(renditions) {
  return PREFERENCES.filter((p) => p === "auto" || renditions.includes(RENDITION_OF[p]));
}

export function choiceLabel(preference) {
  if (preference === "auto") return "Auto";
  if (preference === "lossless") return "Lossless (FLAC)";
  return `AAC ${preference}k`;
}

// The level index to pin for `preference`, or -1 for automatic switching. Lossless falls back
// to the best AAC when the master has no FLAC (the offline module does the same).
export function levelFor(preference, renditions) {
  if (preference === "auto") return -1;
  let index = renditions.indexOf(RENDITION_OF[preference]);
  if (index < 0 && preference === "lossless") index = renditions.indexOf("aac256");
  return index;
}
