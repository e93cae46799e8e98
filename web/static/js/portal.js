// The portal's dashboard (live statuses, bulk actions) and its track and release editors.
// Changes are written with the node's XRPC methods (putRecord, applyWrites, deleteRecord).
import { mediaEvents, procedure, query, uploadBlob } from "./xrpc.js";
import { credits, dateTime, list, normalIsrc, number, splits, withoutEmpty } from "./records.js";

const LABELS = { queued: "queued", processing: "processing", ready: "ready", failed: "failed" };

function showStatus(cell, event) {
  cell.dataset.status = event.status;
  cell.querySelector(".status-label").textContent =
    LABELS[event.status] + (event.status === "processing" ? ` ${event.progress}%` : "");
  let bar = cell.querySelector("progress");
  if (event.status === "processing") {
    if (!bar) {
      bar = document.createElement("progress");
      bar.max = 100;
      cell.append(bar);
    }
    bar.value = event.progress;
  } else if (bar) {
    bar.remove();
  }
  let problem = cell.querySelector(".problem");
  if (event.error && event.status === "failed") {
    if (!problem) {
      problem = document.createElement("span");
      problem.className = "problem";
      cell.append(problem);
    }
    problem.textContent = event.error;
  } else if (problem) {
    problem.remove();
  }
}

function followStatuses() {
  const cells = document.querySelectorAll(".media-status[data-cid]");
  if (!cells.length) return;
  mediaEvents((event) => {
    for (const cell of cells) if (cell.dataset.cid === event.cid) showStatus(cell, event);
  });
}

function rkeyOf(uri) {
  return uri.split("/").pop();
}

function setResult(element, text, isProblem = false) {
  element.textContent = text;
  element.classList.toggle("problem", isProblem);
}

// --- dashboard ------------------------------------------------------------------------------

const CHANGES = {
  public: (value) => ({ ...value, visibility: "public" }),
  unlisted: (value) => ({ ...value, visibility: "unlisted" }),
  "download-on": (value) => ({ ...value, downloadable: true }),
  "download-off": (value) => ({ ...value, downloadable: false }),
};

function dashboard(form) {
  const repo = form.dataset.repo;
  const result = document.getElementById("bulk-result");
  const picks = () => [...document.querySelectorAll("input.pick")];
  document.getElementById("select-all").addEventListener("change", (event) => {
    for (const pick of picks()) pick.checked = event.target.checked;
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const uris = picks().filter((p) => p.checked).map((p) => p.value);
    const action = document.getElementById("bulk-action").value;
    if (!uris.length) return setResult(result, "Select tracks first.", true);
    if (action === "delete" &&
        !window.confirm(`Delete ${uris.length} track${uris.length === 1 ? "" : "s"}? This cannot be undone.`)) {
      return;
    }
    setResult(result, "Working…");
    try {
      for (let start = 0; start < uris.length; start += 100) {
        const chunk = uris.slice(start, start + 100);
        const writes = [];
        for (const uri of chunk) {
          if (action === "delete") {
            writes.push({ $type: "com.atproto.repo.applyWrites#delete", collection: "fm.oms.track", rkey: rkeyOf(uri) });
            continue;
          }
          const current = await query("com.atproto.repo.getRecord", { repo, collection: "fm.oms.track", rkey: rkeyOf(uri) });
          writes.push({
            $type: "com.atproto.repo.applyWrites#update",
            collection: "fm.oms.track",
            rkey: rkeyOf(uri),
            value: CHANGES[action](current.value),
          });
        }
        await procedure("com.atproto.repo.applyWrites", { repo, writes });
      }
    } catch (error) {
      return setResult(result, `Not done: ${error.message}.`, true);
    }
    setResult(result, `Done: ${uris.length} track${uris.length === 1 ? "" : "s"}.`);
    window.setTimeout(() => window.location.reload(), 600);
  });
}

// --- editors -----------------------------------------------------------------------------------

function loadRecord() {
  return JSON.parse(document.getElementById("record").textContent);
}

async function deletion(form, repo, collection, rkey, what) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!window.confirm(`Delete ${what}? This cannot be undone.`)) return;
    await procedure("com.atproto.repo.deleteRecord", { repo, collection, rkey });
    window.location.assign("/portal");
  });
}

function trackEditor(form) {
  const repo = form.dataset.repo;
  const record = loadRecord();
  const result = document.getElementById("result");
  const value = (name) => form.elements[name].value;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    setResult(result, "Saving…");
    try {
      const next = { ...record.value };
      const names = list(value("artists"));
      const own = record.value.artists || [];
      // Credits keep their DIDs and roles when their names stay.
      next.artists = names.length
        ? names.map((name, i) => own.find((c) => c.name === name) || credits(names, repo, name)[i])
        : own;
      Object.assign(next, {
        title: value("title").trim(),
        genres: list(value("genres"), 8),
        trackNumber: number(value("trackNumber")),
        discNumber: number(value("discNumber")),
        isrc: normalIsrc(value("isrc")),
        releaseDate: dateTime(value("releaseDate")),
        lyrics: value("lyrics").trim() ? { ...(record.value.lyrics || {}), plain: value("lyrics").trim() } : undefined,
        license: value("license"),
        visibility: value("visibility"),
        downloadable: form.elements.downloadable.checked,
        explicit: form.elements.explicit.checked || undefined,
        splits: await splits(value("splits")),
      });
      if (!next.title) throw new Error("the title cannot be empty");
      const artwork = form.elements.artwork.files[0];
      if (artwork) next.artwork = await uploadBlob(artwork);
      const audio = form.elements.audio.files[0];
      if (audio) {
        setResult(result, "Uploading the new audio…");
        const blob = await uploadBlob(audio, (share) =>
          setResult(result, `Uploading the new audio… ${Math.round(share * 100)}%`));
        const described = await query("fm.oms.media.describeUpload", { cid: blob.ref.$link, filename: audio.name });
        if (described.duplicateOf && described.duplicateOf !== record.uri) {
          throw new Error("that audio is already published as another track");
        }
        next.audio = blob;
        next.durationMs = described.audio.durationMs;
      }
      const saved = await procedure("com.atproto.repo.putRecord", {
        repo,
        collection: "fm.oms.track",
        rkey: rkeyOf(record.uri),
        record: withoutEmpty(next),
        swapRecord: record.cid,
      });
      record.cid = saved.cid;
      record.value = withoutEmpty(next);
      setResult(result, audio ? "Saved. The new audio is being processed." : "Saved.");
      if (audio) window.setTimeout(() => window.location.reload(), 800);
    } catch (error) {
      setResult(result, `Not saved: ${error.message}.`, true);
    }
  });
  deletion(document.getElementById("delete-form"), repo, "fm.oms.track", rkeyOf(record.uri), "this track");
}

function orderList(list) {
  list.addEventListener("click", (event) => {
    const button = event.target.closest("button");
    if (!button) return;
    const item = button.closest("li");
    if (button.classList.contains("up") && item.previousElementSibling) {
      list.insertBefore(item, item.previousElementSibling);
    } else if (button.classList.contains("down") && item.nextElementSibling) {
      list.insertBefore(item.nextElementSibling, item);
    } else if (button.classList.contains("remove")) {
      item.remove();
      return;
    }
    button.focus();
  });
}

function releaseEditor(form) {
  const repo = form.dataset.repo;
  const record = loadRecord();
  const result = document.getElementById("result");
  const order = document.getElementById("order");
  orderList(order);
  const adder = document.getElementById("add-track");
  document.getElementById("add-button")?.addEventListener("click", () => {
    const choice = adder.selectedOptions[0];
    if (!choice) return;
    const item = document.createElement("li");
    item.dataset.uri = choice.value;
    item.dataset.cid = choice.dataset.cid;
    const name = document.createElement("span");
    name.textContent = choice.textContent;
    item.append(name);
    for (const [kind, label, text] of [["up", "Move up", "↑"], ["down", "Move down", "↓"], ["remove", "Remove from the release", "✕"]]) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = kind;
      button.setAttribute("aria-label", label);
      button.textContent = text;
      item.append(button);
    }
    order.append(item);
    choice.remove();
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    setResult(result, "Saving…");
    try {
      const next = {
        ...record.value,
        title: form.elements.title.value.trim(),
        kind: form.elements.kind.value,
        releaseDate: dateTime(form.elements.releaseDate.value),
        label: form.elements.label.value.trim(),
        tracks: [...order.querySelectorAll("li")].map((li) => ({ uri: li.dataset.uri, cid: li.dataset.cid })),
      };
      if (!next.title) throw new Error("the title cannot be empty");
      const artwork = form.elements.artwork.files[0];
      if (artwork) next.artwork = await uploadBlob(artwork);
      const saved = await procedure("com.atproto.repo.putRecord", {
        repo,
        collection: "fm.oms.release",
        rkey: rkeyOf(record.uri),
        record: withoutEmpty(next),
        swapRecord: record.cid,
      });
      record.cid = saved.cid;
      record.value = next;
      setResult(result, "Saved.");
    } catch (error) {
      setResult(result, `Not saved: ${error.message}.`, true);
    }
  });
  deletion(document.getElementById("delete-form"), repo, "fm.oms.release", rkeyOf(record.uri), "this release");
}

const bulk = document.getElementById("bulk");
if (bulk) dashboard(bulk);
const track = document.getElementById("track-form");
if (track) trackEditor(track);
const release = document.getElementById("release-form");
if (release) releaseEditor(release);
followStatuses();
