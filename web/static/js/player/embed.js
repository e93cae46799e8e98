// The embed page (templates/embed/player.html): the same engine, queue and listening reports
// as the site's player, with a compact UI, no saved state, no radio; reports as client "embed".

import { clock } from "./clock.js";
import { Listening } from "./listening.js";
import { Player } from "./player.js";
import { Reporter } from "./reporter.js";
import { artistNames } from "./credits.js";
import { loadHls } from "./engine.js";

function start(root) {
  const $ = (id) => root.querySelector(`#${id}`);
  const elements = [...root.querySelectorAll("[data-track]")];
  const tracks = elements.map((element) => JSON.parse(element.dataset.track));
  if (!tracks.length) return;
  const player = new Player($("player-audio"), { persist: false, radio: false });
  new Listening(player, { client: "embed", reporter: new Reporter() });
  const playButton = $("player-play");
  const seek = $("player-seek");
  const elapsed = $("player-elapsed");
  const total = $("player-duration");
  const live = $("live");
  let seeking = false;

  function showTime() {
    const duration = player.duration();
    const position = player.position();
    elapsed.textContent = clock(position);
    total.textContent = clock(duration);
    if (seeking) return;
    seek.max = String(Math.floor(duration));
    seek.value = String(Math.floor(position));
    seek.setAttribute("aria-valuetext", `${clock(position)} of ${clock(duration)}`);
  }

  player.on("trackchange", ({ track, cued }) => {
    if (!track) return;
    $("embed-title").textContent = track.title;
    $("embed-artist").textContent = artistNames(track);
    elements.forEach((element, at) => {
      if (at === player.queue.index) element.setAttribute("aria-current", "true");
      else element.removeAttribute("aria-current");
    });
    if (!cued && live) live.textContent = `Now playing: ${track.title}`;
    showTime();
  });
  player.on("statechange", ({ playing }) => {
    root.dataset.state = playing ? "playing" : "paused";
    playButton.setAttribute("aria-label", playing ? "Pause" : "Play");
  });
  player.audio.addEventListener("timeupdate", showTime);
  player.audio.addEventListener("durationchange", showTime);

  playButton.addEventListener("click", () => player.toggle());
  $("player-prev")?.addEventListener("click", () => player.previous());
  $("player-next")?.addEventListener("click", () => player.next());
  seek.addEventListener("input", () => {
    seeking = true;
    elapsed.textContent = clock(Number(seek.value));
  });
  seek.addEventListener("change", () => {
    seeking = false;
    player.seek(Number(seek.value));
  });
  root.querySelector(".embed-list")?.addEventListener("click", (event) => {
    const button = event.target.closest("[data-index]");
    if (!button) return;
    const at = Number(button.dataset.index);
    if (at === player.queue.index) player.toggle();
    else player.jumpTo(at);
  });

  const startSeconds = Number(root.dataset.startSeconds) || 0;
  player.cue(tracks, 0, startSeconds);
  const idle = window.requestIdleCallback || ((fn) => setTimeout(fn, 1000));
  idle(() => loadHls(), { timeout: 3000 });

  window.omsPlayer = {
    current: () => player.current(),
    play: () => player.play(),
    pause: () => player.pause(),
    seek: (seconds) => player.seek(seconds),
    position: () => player.position(),
    on: (event, fn) => player.on(event, fn),
  };
}

const root = document.getElementById("embed");
if (root) start(root);
