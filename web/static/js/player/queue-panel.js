// The queue panel: every entry with "now playing" marked; play one, move it up or down (or
// drag it), remove it, clear the queue.

import { artistNames } from "./credits.js";

function iconButton(action, label, text) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "player-button player-queue-action";
  button.dataset.queueAction = action;
  button.setAttribute("aria-label", label);
  button.textContent = text;
  return button;
}

export function mountQueuePanel(panel, toggle, player) {
  const list = panel.querySelector("#player-queue-list");
  const empty = panel.querySelector("#player-queue-empty");
  let dragFrom = null;

  function render() {
    if (panel.hidden) return;
    const { entries, index } = player.queue;
    empty.hidden = entries.length > 0;
    list.replaceChildren(
      ...entries.map((entry, at) => {
        const item = document.createElement("li");
        item.className = "player-queue-item";
        item.draggable = true;
        item.dataset.index = String(at);
        if (at === index) item.setAttribute("aria-current", "true");
        if (at < index) item.classList.add("is-played");
        const name = `${entry.track.title} – ${artistNames(entry.track)}`;
        const play = document.createElement("button");
        play.type = "button";
        play.className = "player-queue-title";
        play.dataset.queueAction = "play";
        play.textContent = entry.track.title;
        const by = document.createElement("span");
        by.className = "player-queue-artist";
        by.textContent = artistNames(entry.track);
        const text = document.createElement("span");
        text.className = "player-queue-text";
        text.append(play, by);
        if (at === index) {
          const now = document.createElement("span");
          now.className = "player-queue-now";
          now.textContent = "Now playing";
          text.prepend(now);
        }
        const up = iconButton("up", `Move up: ${name}`, "↑");
        up.disabled = at === 0;
        const down = iconButton("down", `Move down: ${name}`, "↓");
        down.disabled = at === entries.length - 1;
        item.append(text, up, down, iconButton("remove", `Remove: ${name}`, "✕"));
        return item;
      }),
    );
  }

  function setOpen(open) {
    panel.hidden = !open;
    toggle.setAttribute("aria-expanded", String(open));
    if (open) {
      render();
      panel.querySelector("h2").focus();
    }
  }

  // After moving with the buttons, keep focus on the same button of the moved entry.
  function refocus(at, action) {
    const button = list.querySelector(`[data-index="${at}"] [data-queue-action="${action}"]`);
    if (button && !button.disabled) button.focus();
    else list.querySelector(`[data-index="${at}"] [data-queue-action="play"]`)?.focus();
  }

  list.addEventListener("click", (event) => {
    const button = event.target.closest("[data-queue-action]");
    if (!button) return;
    const at = Number(button.closest("[data-index]").dataset.index);
    const action = button.dataset.queueAction;
    if (action === "play") player.jumpTo(at);
    if (action === "remove") {
      player.remove(at);
      refocus(Math.min(at, player.queue.entries.length - 1), "remove");
    }
    if (action === "up" || action === "down") {
      const to = action === "up" ? at - 1 : at + 1;
      player.move(at, to);
      refocus(to, action);
    }
  });
  list.addEventListener("dragstart", (event) => {
    const item = event.target.closest("[data-index]");
    dragFrom = Number(item.dataset.index);
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", item.dataset.index);
  });
  list.addEventListener("dragover", (event) => {
    if (dragFrom === null) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "move";
  });
  list.addEventListener("drop", (event) => {
    const item = event.target.closest("[data-index]");
    if (dragFrom === null || !item) return;
    event.preventDefault();
    player.move(dragFrom, Number(item.dataset.index));
    dragFrom = null;
  });
  list.addEventListener("dragend", () => (dragFrom = null));

  toggle.addEventListener("click", () => setOpen(panel.hidden));
  panel.querySelector("#player-queue-close").addEventListener("click", () => {
    setOpen(false);
    toggle.focus();
  });
  panel.querySelector("#player-queue-clear").addEventListener("click", () => player.clear());
  panel.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    setOpen(false);
    toggle.focus();
  });
  player.on("queuechange", render);
  player.on("trackchange", render);
}
