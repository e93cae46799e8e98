// Synced lyrics on a track page follow the music: while that track plays, the line being
// sung is marked (class is-current, aria-current).
const TICK_MS = 250;

function follow() {
  const list = document.querySelector("[data-lyrics-for]");
  const player = window.omsPlayer;
  if (!list || !player) return;
  const lines = [...list.querySelectorAll("li[data-start-ms]")].map((line) => ({
    line, at: Number(line.dataset.startMs),
  }));
  let shown = null;
  const timer = setInterval(() => {
    if (!list.isConnected) {
      clearInterval(timer);
      return;
    }
    const playing = player.current()?.uri === list.dataset.lyricsFor;
    const ms = playing ? player.position() * 1000 : -1;
    let current = null;
    for (const entry of lines) if (entry.at <= ms) current = entry.line;
    if (current === shown) return;
    shown?.classList.remove("is-current");
    shown?.removeAttribute("aria-current");
    shown = current;
    if (current) {
      current.classList.add("is-current");
      current.setAttribute("aria-current", "true");
    }
  }, TICK_MS);
}

document.addEventListener("oms:navigated", follow);
