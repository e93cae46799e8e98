// Keyboard shortcuts for the whole site, and the help overlay listing them. Keys typed into
// form fields, and keys that already mean something where focus is, are left alone.

const SEEK_STEP_S = 5;
const VOLUME_STEP = 0.05;

const FIELDS = "input, textarea, select, [contenteditable=''], [contenteditable='true']";
// Space activates these, arrows move these: not ours to take there.
const SPACE_OWNERS = "button, a[href], summary, [role='button'], [role^='menuitem']";
const ARROW_OWNERS = "[role='slider'], [role='menu'], [role='listbox']";

function ownsKey(target, key) {
  if (!target.closest) return false;
  if (target.closest(FIELDS)) return true;
  if (key === " ") return Boolean(target.closest(SPACE_OWNERS));
  if (key.startsWith("Arrow")) return Boolean(target.closest(ARROW_OWNERS));
  return false;
}

export function mountShortcuts(player, normalizer, help) {
  const audio = player.audio;
  const actions = {
    " ": () => player.toggle(),
    ArrowLeft: () => player.seek(player.position() - SEEK_STEP_S),
    ArrowRight: () => player.seek(player.position() + SEEK_STEP_S),
    ArrowUp: () => normalizer.setVolume(normalizer.volume + VOLUME_STEP),
    ArrowDown: () => normalizer.setVolume(normalizer.volume - VOLUME_STEP),
    n: () => player.next(),
    p: () => player.previous(),
    m: () => (audio.muted = !audio.muted),
  };
  const needsTrack = new Set([" ", "ArrowLeft", "ArrowRight", "ArrowUp", "ArrowDown", "n", "p"]);

  document.addEventListener("keydown", (event) => {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    if (ownsKey(target, event.key) || document.querySelector("dialog[open]")) return;
    const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
    if (key === "?") {
      event.preventDefault();
      help.showModal();
      return;
    }
    if (key === "/") {
      const search = document.getElementById("search-q");
      if (!search) return;
      event.preventDefault();
      search.focus();
      search.select();
      return;
    }
    const action = actions[key];
    if (!action || (needsTrack.has(key) && !player.current())) return;
    event.preventDefault();
    action();
  });
}
