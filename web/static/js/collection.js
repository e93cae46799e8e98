// The listener's own records, written from the page through XRPC: likes (fm.oms.like),
// follows (fm.oms.graph.follow) and playlists (fm.oms.playlist). Each lives in the listener's
// repository; the page only mirrors what the repository now says.
import { navigate } from "./nav.js";
import { procedure, query } from "./xrpc.js";

const viewer = document.querySelector('meta[name="viewer-did"]')?.content;
const LIKE = "fm.oms.like";
const FOLLOW = "fm.oms.graph.follow";
const PLAYLIST = "fm.oms.playlist";

const now = () => new Date().toISOString();
const rkeyOf = (uri) => uri.split("/").pop();
const trackOf = (element) => JSON.parse(element.closest("[data-track]").dataset.track);

function say(message) {
  const live = document.getElementById("live");
  if (live) live.textContent = message;
}

async function createRecord(collection, record) {
  const answer = await procedure("com.atproto.repo.createRecord", {
    repo: viewer, collection, record: { $type: collection, ...record },
  });
  return answer.uri;
}

function deleteRecord(collection, uri) {
  return procedure("com.atproto.repo.deleteRecord", {
    repo: viewer, collection, rkey: rkeyOf(uri),
  });
}

async function toggleLike(button) {
  const track = trackOf(button);
  const liked = button.dataset.like;
  button.disabled = true;
  try {
    if (liked) {
      await deleteRecord(LIKE, liked);
      button.dataset.like = "";
    } else {
      button.dataset.like = await createRecord(LIKE, {
        subject: { uri: track.uri, cid: track.cid }, createdAt: now(),
      });
    }
    const on = Boolean(button.dataset.like);
    button.setAttribute("aria-pressed", String(on));
    button.querySelector("span").textContent = on ? "♥" : "♡";
    say(on ? `Liked ${track.title}` : `Removed ${track.title} from your likes`);
  } catch (error) {
    say(`Could not change the like: ${error.message}`);
  } finally {
    button.disabled = false;
  }
}

async function toggleFollow(button) {
  button.disabled = true;
  try {
    if (button.dataset.follow) {
      await deleteRecord(FOLLOW, button.dataset.follow);
      button.dataset.follow = "";
    } else {
      button.dataset.follow = await createRecord(FOLLOW, {
        subject: button.dataset.subject, createdAt: now(),
      });
    }
    const on = Boolean(button.dataset.follow);
    button.setAttribute("aria-pressed", String(on));
    button.textContent = on ? "Following" : "Follow";
  } catch (error) {
    say(`Could not change the follow: ${error.message}`);
  } finally {
    button.disabled = false;
  }
}

// Rewrite a playlist record, refusing to overwrite a change made elsewhere meanwhile.
async function editPlaylist(uri, change) {
  const found = await query("com.atproto.repo.getRecord", {
    repo: viewer, collection: PLAYLIST, rkey: rkeyOf(uri),
  });
  const record = change({ ...found.value, items: [...(found.value.items || [])] });
  await procedure("com.atproto.repo.putRecord", {
    repo: viewer, collection: PLAYLIST, rkey: rkeyOf(uri), record, swapRecord: found.cid,
  });
}

async function addToPlaylist(button) {
  const track = trackOf(button);
  const dialog = playlistDialog();
  const list = dialog.querySelector("ul");
  list.replaceChildren();
  dialog.querySelector("[data-dialog-status]").textContent = "";
  const { records } = await query("com.atproto.repo.listRecords", {
    repo: viewer, collection: PLAYLIST, limit: 100,
  });
  for (const { uri, value } of records) {
    const item = document.createElement("li");
    const choose = document.createElement("button");
    choose.type = "button";
    choose.textContent = value.name;
    choose.addEventListener("click", async () => {
      await editPlaylist(uri, (record) => {
        record.items.push({ track: { uri: track.uri, cid: track.cid }, addedAt: now() });
        return record;
      });
      dialog.close();
      say(`Added ${track.title} to ${value.name}`);
    });
    item.append(choose);
    list.append(item);
  }
  dialog.onsubmit = async (event) => {
    event.preventDefault();
    const name = dialog.querySelector("input").value.trim();
    if (!name) return;
    await createRecord(PLAYLIST, {
      name, items: [{ track: { uri: track.uri, cid: track.cid }, addedAt: now() }],
      createdAt: now(),
    });
    dialog.close();
    say(`Made the playlist ${name} with ${track.title}`);
  };
  dialog.showModal();
}

// One dialog for every "Add to playlist…", made on first use (it lives outside <main>).
function playlistDialog() {
  let dialog = document.getElementById("playlist-dialog");
  if (dialog) return dialog;
  dialog = document.createElement("dialog");
  dialog.id = "playlist-dialog";
  dialog.setAttribute("aria-labelledby", "playlist-dialog-title");
  dialog.innerHTML = `
    <h2 id="playlist-dialog-title">Add to playlist</h2>
    <ul class="playlist-choices"></ul>
    <form method="dialog" class="inline-create">
      <label for="playlist-dialog-name">New playlist</label>
      <input id="playlist-dialog-name" maxlength="200" placeholder="Name">
      <button type="submit" class="button">Create with this track</button>
    </form>
    <p class="meta" role="status" data-dialog-status></p>
    <button type="button" class="button secondary" data-close>Cancel</button>`;
  dialog.querySelector("[data-close]").addEventListener("click", () => dialog.close());
  document.body.append(dialog);
  return dialog;
}

async function removeFromPlaylist(button) {
  const uri = button.closest("[data-playlist]").dataset.playlist;
  const index = Number(button.dataset.index);
  const track = trackOf(button);
  await editPlaylist(uri, (record) => {
    // The entry is removed only if it is still the one shown.
    if (record.items[index]?.track?.uri !== track.uri) throw new Error("the playlist changed");
    record.items.splice(index, 1);
    return record;
  });
  say(`Removed ${track.title} from the playlist`);
  navigate(window.location.href, { replace: true, scroll: false });
}

async function deletePlaylist(button) {
  if (!window.confirm("Delete this playlist?")) return;
  await deleteRecord(PLAYLIST, button.dataset.playlist);
  navigate("/library");
}

const actions = {
  like: toggleLike,
  follow: toggleFollow,
  "add-to-playlist": addToPlaylist,
  "playlist-remove": removeFromPlaylist,
  "delete-playlist": deletePlaylist,
};

document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-action]");
  const action = button && actions[button.dataset.action];
  if (!action || !viewer) return;
  event.preventDefault();
  action(button).catch((error) => say(`That did not work: ${error.message}`));
});

document.addEventListener("submit", async (event) => {
  const form = event.target.closest?.("form[data-create-playlist]");
  if (!form || !viewer) return;
  event.preventDefault();
  const name = new FormData(form).get("name").trim();
  const status = form.querySelector("[data-create-status]");
  try {
    await createRecord(PLAYLIST, { name, items: [], createdAt: now() });
    navigate(window.location.href, { replace: true, scroll: false });
  } catch (error) {
    status.textContent = `Could not make the playlist: ${error.message}`;
  }
});
