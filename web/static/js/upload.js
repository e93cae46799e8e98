// The upload page: files are streamed to the node with uploadBlob (two at a time, with
// progress), read with fm.oms.media.describeUpload to prefill their forms, and published with
// applyWrites (the tracks) and createRecord (the release), then followed until their streams
// are ready.
import { XrpcError, mediaEvents, procedure, query, uploadBlob } from "./xrpc.js";
import { credits, dateTime, list, normalIsrc, number, splits, withoutEmpty } from "./records.js";

const root = document.getElementById("uploader");
const repo = root.dataset.repo;
const handle = root.dataset.handle;
const maxBytes = Number(root.dataset.maxBytes);
const queueList = document.getElementById("queue");
const template = document.getElementById("card");
const publishButton = document.getElementById("publish");
const summary = document.getElementById("summary");
const asRelease = document.getElementById("as-release");
const releaseFields = document.getElementById("release-fields");
const PARALLEL_UPLOADS = 2;

const cards = []; // {file, element, state: uploading|reading|ready|invalid|published, blob, described, uri}
const waiting = [];
let active = 0;
let published = false;

function setState(card, state, message, isProblem = false) {
  card.state = state;
  card.element.dataset.state = state;
  const line = card.element.querySelector(".state");
  line.textContent = message;
  line.classList.toggle("problem", isProblem);
  refresh();
}

function refresh() {
  const ready = cards.filter((c) => c.state === "ready").length;
  const busy = cards.filter((c) => c.state === "uploading" || c.state === "reading").length;
  const invalid = cards.filter((c) => c.state === "invalid").length;
  publishButton.disabled = published || ready === 0 || busy > 0;
  if (!published) {
    summary.textContent =
      `${ready} ready to publish` + (busy ? `, ${busy} still uploading` : "") +
      (invalid ? `, ${invalid} cannot be published` : "");
  }
}

function field(card, name) {
  return card.element.querySelector(`[name="${name}"]`);
}

function addFile(file) {
  const element = template.content.firstElementChild.cloneNode(true);
  element.querySelector(".filename").textContent = file.name;
  const card = { file, element, state: "waiting" };
  cards.push(card);
  queueList.append(element);
  element.querySelector(".up").addEventListener("click", () => move(card, -1));
  element.querySelector(".down").addEventListener("click", () => move(card, 1));
  element.querySelector(".remove").addEventListener("click", () => {
    if (card.state === "published") return;
    cards.splice(cards.indexOf(card), 1);
    element.remove();
    refresh();
  });
  for (const name of ["license", "visibility"]) {
    field(card, name).value = document.getElementById(`default-${name}`).value;
  }
  field(card, "downloadable").checked = document.getElementById("default-downloadable").checked;
  if (file.size === 0) {
    setState(card, "invalid", "This file is empty (0 bytes).", true);
  } else if (file.size > maxBytes) {
    setState(card, "invalid",
      `This file is ${Math.ceil(file.size / 1048576)} MB, over the node's limit of ` +
      `${Math.floor(maxBytes / 1048576)} MB.`, true);
  } else {
    setState(card, "waiting", "Waiting to upload…");
    waiting.push(card);
    pump();
  }
}

function move(card, step) {
  const index = cards.indexOf(card);
  const target = index + step;
  if (target < 0 || target >= cards.length) return;
  cards.splice(index, 1);
  cards.splice(target, 0, card);
  if (step < 0) queueList.insertBefore(card.element, cards[target + 1].element);
  else queueList.insertBefore(card.element, cards[target - 1].element.nextSibling);
  card.element.querySelector(step < 0 ? ".up" : ".down").focus();
}

function pump() {
  while (active < PARALLEL_UPLOADS && waiting.length) {
    const card = waiting.shift();
    if (!cards.includes(card)) continue;
    active += 1;
    upload(card).finally(() => {
      active -= 1;
      pump();
    });
  }
}

async function upload(card) {
  const bar = card.element.querySelector(".bar");
  setState(card, "uploading", "Uploading…");
  try {
    card.blob = await uploadBlob(card.file, (share) => {
      bar.value = Math.round(share * 100);
    });
    bar.value = 100;
    setState(card, "reading", "Reading the audio and its tags…");
    card.described = await query("fm.oms.media.describeUpload", {
      cid: card.blob.ref.$link,
      filename: card.file.name,
    });
  } catch (error) {
    setState(card, "invalid", `Cannot publish this file: ${error.message}.`, true);
    return;
  }
  const duplicate = card.described.duplicateOf ||
    cards.find((c) => c !== card && c.blob && c.blob.ref.$link === card.blob.ref.$link &&
      c.state !== "invalid" && cards.indexOf(c) < cards.indexOf(card));
  if (duplicate) {
    const where = typeof duplicate === "string" ? "is already published" : "is already in this upload";
    setState(card, "invalid", `This audio ${where}; it is left out.`, true);
    return;
  }
  prefill(card);
  const audio = card.described.audio;
  const seconds = Math.round(audio.durationMs / 1000);
  setState(card, "ready",
    `Ready: ${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}, ` +
    `${audio.codec}${audio.lossless ? " (lossless)" : ""}, ${audio.sampleRate} Hz` +
    (card.described.problems.length ? `. Tags not read: ${card.described.problems.join("; ")}` : ""));
  suggestRelease();
}

function prefill(card) {
  const tags = card.described.tags;
  card.element.querySelector(".fields").hidden = false;
  field(card, "title").value = tags.title;
  field(card, "artists").value = (tags.artists.length ? tags.artists : [handle]).join(", ");
  field(card, "genres").value = tags.genres.join(", ");
  field(card, "trackNumber").value = tags.trackNumber ?? "";
  field(card, "discNumber").value = tags.discNumber ?? "";
  field(card, "isrc").value = tags.isrc ?? "";
  field(card, "lyrics").value = tags.lyrics ?? "";
  if (tags.date && /^\d{4}-\d{2}-\d{2}/.test(tags.date)) field(card, "releaseDate").value = tags.date.slice(0, 10);
  else if (tags.date && /^\d{4}$/.test(tags.date)) field(card, "releaseDate").value = `${tags.date}-01-01`;
  card.element.querySelector(".artwork-note").textContent = card.described.artwork
    ? "The picture embedded in the file is used unless you choose another."
    : "";
}

// Several files of one album: offer them as one release, in the album's order.
function suggestRelease() {
  const ready = cards.filter((c) => c.state === "ready");
  const albums = new Set(ready.map((c) => c.described.tags.album).filter(Boolean));
  if (ready.length > 1 && albums.size === 1 && !asRelease.dataset.touched) {
    asRelease.checked = true;
    releaseFields.hidden = false;
    const title = document.getElementById("release-title");
    if (!title.value) title.value = [...albums][0];
    const order = (c) => (c.described?.tags.discNumber ?? 1) * 1000 + (c.described?.tags.trackNumber ?? 999);
    cards.sort((a, b) => order(a) - order(b));
    for (const card of cards) queueList.append(card.element);
  }
}

async function artworkOf(input, fallback) {
  const file = input.files[0];
  if (!file) return fallback;
  return uploadBlob(file);
}

// Plain lyrics as edited; the file's time-synced lines are kept as they were tagged.
function lyricsOf(plain, synced) {
  if (!plain && !synced?.length) return undefined;
  return withoutEmpty({ plain: plain || undefined, synced: synced?.length ? synced : undefined });
}

async function trackRecord(card, now) {
  const title = field(card, "title").value.trim();
  if (!title) throw new Error("every track needs a title");
  const names = list(field(card, "artists").value);
  const lyrics = field(card, "lyrics").value.trim();
  return withoutEmpty({
    $type: "fm.oms.track",
    title,
    artists: credits(names, repo, handle),
    audio: card.blob,
    durationMs: card.described.audio.durationMs,
    genres: list(field(card, "genres").value, 8),
    trackNumber: number(field(card, "trackNumber").value),
    discNumber: number(field(card, "discNumber").value),
    isrc: normalIsrc(field(card, "isrc").value),
    releaseDate: dateTime(field(card, "releaseDate").value),
    lyrics: lyricsOf(lyrics, card.described.tags.syncedLyrics),
    license: field(card, "license").value,
    visibility: field(card, "visibility").value,
    downloadable: field(card, "downloadable").checked,
    explicit: field(card, "explicit").checked || undefined,
    splits: await splits(field(card, "splits").value),
    artwork: await artworkOf(field(card, "artwork"), card.described.artwork),
    createdAt: now,
  });
}

async function publish() {
  const ready = cards.filter((c) => c.state === "ready");
  publishButton.disabled = true;
  const now = new Date().toISOString();
  let writes;
  try {
    writes = [];
    for (const card of ready) {
      try {
        writes.push(await trackRecord(card, now));
      } catch (error) {
        throw new Error(`${card.file.name}: ${error.message}`);
      }
    }
  } catch (error) {
    summary.textContent = `Not published: ${error.message}.`;
    summary.classList.add("problem");
    publishButton.disabled = false;
    return;
  }
  summary.classList.remove("problem");
  summary.textContent = "Publishing…";
  let results;
  try {
    const answer = await procedure("com.atproto.repo.applyWrites", {
      repo,
      writes: writes.map((value) => ({
        $type: "com.atproto.repo.applyWrites#create",
        collection: "fm.oms.track",
        value,
      })),
    });
    results = answer.results;
  } catch (error) {
    summary.textContent = `Not published: ${error.message}.`;
    summary.classList.add("problem");
    publishButton.disabled = false;
    return;
  }
  published = true;
  ready.forEach((card, index) => {
    card.uri = results[index].uri;
    card.cid = results[index].cid;
    card.element.querySelector(".fields").hidden = true;
    setState(card, "published", "Published; waiting for the stream to be made…");
    const link = document.createElement("a");
    link.href = `/portal/tracks/${card.uri.split("/").pop()}`;
    link.textContent = "Edit";
    card.element.querySelector(".card-head").append(link);
  });
  let message = `Published ${ready.length} track${ready.length === 1 ? "" : "s"}.`;
  if (asRelease.checked) {
    try {
      const release = await procedure("com.atproto.repo.createRecord", {
        repo,
        collection: "fm.oms.release",
        record: withoutEmpty({
          $type: "fm.oms.release",
          title: document.getElementById("release-title").value.trim() || ready[0].described.tags.album || "Untitled",
          kind: document.getElementById("release-kind").value,
          artists: credits([], repo, handle),
          tracks: ready.map((card) => ({ uri: card.uri, cid: card.cid })),
          releaseDate: dateTime(document.getElementById("release-date").value),
          artwork: await artworkOf(document.getElementById("release-artwork"),
            ready.find((c) => c.described.artwork)?.described.artwork),
          createdAt: now,
        }),
      });
      message += ` The release is at ${release.uri}.`;
    } catch (error) {
      message += ` The release could not be created (${error.message}); the tracks are published.`;
      summary.classList.add("problem");
    }
  }
  summary.innerHTML = "";
  summary.append(message, " ");
  const dashboard = document.createElement("a");
  dashboard.href = "/portal";
  dashboard.textContent = "See all your music";
  summary.append(dashboard);
}

function onMedia(event) {
  for (const card of cards) {
    if (card.state !== "published" && card.state !== "streaming") continue;
    if (card.blob.ref.$link !== event.cid) continue;
    const bar = card.element.querySelector(".bar");
    if (event.status === "processing") {
      bar.value = event.progress;
      setState(card, "published", `Making the stream… ${event.progress}%`);
    } else if (event.status === "ready") {
      bar.value = 100;
      setState(card, "streaming", "Ready: listeners can play it now.");
    } else if (event.status === "failed") {
      setState(card, "published", `The stream could not be made: ${event.error}`, true);
    } else if (event.status === "queued") {
      setState(card, "published", "Queued for processing…");
    }
  }
}

document.getElementById("files").addEventListener("change", (event) => {
  for (const file of event.target.files) addFile(file);
  event.target.value = "";
});
const zone = root.querySelector(".dropzone");
zone.addEventListener("dragover", (event) => {
  event.preventDefault();
  zone.classList.add("over");
});
zone.addEventListener("dragleave", () => zone.classList.remove("over"));
zone.addEventListener("drop", (event) => {
  event.preventDefault();
  zone.classList.remove("over");
  for (const file of event.dataTransfer.files) addFile(file);
});
asRelease.addEventListener("change", () => {
  asRelease.dataset.touched = "1";
  releaseFields.hidden = !asRelease.checked;
});
publishButton.addEventListener("click", publish);
mediaEvents(onMedia, () => {});
// Statuses that changed before the event stream opened are caught up on by polling once a card
// is published; after that the stream carries them.
setInterval(async () => {
  for (const card of cards.filter((c) => c.state === "published")) {
    try {
      const status = await query("fm.oms.media.getStatus", { uri: card.uri });
      onMedia({ cid: card.blob.ref.$link, ...status });
    } catch (error) {
      if (!(error instanceof XrpcError)) throw error;
    }
  }
}, 5000);
refresh();
