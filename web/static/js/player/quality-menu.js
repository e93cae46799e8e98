// The quality menu of the player bar: a menu button showing the rendition actually playing
// ("AAC 128k", "FLAC"), listing auto and whatever the track's master offers.

import { choiceLabel, choicesFor, renditionLabel } from "./quality.js";

export function mountQualityMenu(button, menu, label, player) {
  let choices = ["auto"];

  function render() {
    const preference = player.quality();
    menu.replaceChildren(
      ...choices.map((choice) => {
        const item = document.createElement("li");
        item.setAttribute("role", "menuitemradio");
        item.setAttribute("aria-checked", String(choice === preference));
        item.tabIndex = -1;
        item.dataset.quality = choice;
        item.textContent = choiceLabel(choice);
        return item;
      }),
    );
  }

  function showLabel() {
    const playing = renditionLabel(player.rendition());
    const preference = player.quality();
    const chosen = preference === "auto" ? "Auto" : choiceLabel(preference);
    label.textContent = playing ? (preference === "auto" ? `Auto · ${playing}` : playing) : chosen;
  }

  function open() {
    render();
    menu.hidden = false;
    button.setAttribute("aria-expanded", "true");
    const checked = menu.querySelector('[aria-checked="true"]') || menu.firstElementChild;
    checked.focus();
  }

  function close(refocus = true) {
    if (menu.hidden) return;
    menu.hidden = true;
    button.setAttribute("aria-expanded", "false");
    if (refocus) button.focus();
  }

  function choose(item) {
    player.setQuality(item.dataset.quality);
    showLabel();
    close();
  }

  button.addEventListener("click", () => (menu.hidden ? open() : close()));
  button.addEventListener("keydown", (event) => {
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      open();
    }
  });
  menu.addEventListener("click", (event) => {
    const item = event.target.closest("[data-quality]");
    if (item) choose(item);
  });
  menu.addEventListener("keydown", (event) => {
    const items = [...menu.children];
    const at = items.indexOf(document.activeElement);
    const moves = { ArrowDown: 1, ArrowUp: -1 };
    if (event.key in moves) {
      items[(at + moves[event.key] + items.length) % items.length].focus();
    } else if (event.key === "Home" || event.key === "End") {
      items[event.key === "Home" ? 0 : items.length - 1].focus();
    } else if (event.key === "Enter" || event.key === " ") {
      if (items[at]) choose(items[at]);
    } else if (event.key === "Escape" || event.key === "Tab") {
      close(event.key === "Escape");
      if (event.key === "Tab") return;
    } else {
      return;
    }
    event.preventDefault();
    event.stopPropagation();
  });
  document.addEventListener("click", (event) => {
    if (!menu.hidden && !menu.contains(event.target) && !button.contains(event.target)) {
      close(false);
    }
  });

  player.on("renditions", ({ renditions }) => {
    choices = choicesFor(renditions);
    if (!menu.hidden) render();
  });
  player.on("renditionchange", showLabel);
  player.on("trackchange", showLabel);
  showLabel();
}
