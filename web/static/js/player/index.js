// The site's player: one Player on the <audio> of _player.html, its bar, queue, quality menu,
// shortcuts, Media Session, preloading, listening reports and the pages' play buttons.
// Sets `window.omsPlayer` for the other modules (offline, tests).

import { mountActions } from "./actions.js";
import { mountBar } from "./bar.js";
import { artistNames } from "./credits.js";
import { loadHls } from "./engine.js";
import { Listening } from "./listening.js";
import { Normalizer } from "./normalize.js";
import { Player } from "./player.js";
import { watchForPreload } from "./preload.js";
import { mountQualityMenu } from "./quality-menu.js";
import { mountQueuePanel } from "./queue-panel.js";
import { Reporter } from "./reporter.js";
import { connectMediaSession } from "./session.js";
import { mountShortcuts } from "./shortcuts.js";

// Polite announcements for screen readers; emptied first so a repeated message is read again.
function announcer() {
  const live = document.getElementById("live");
  return (text) => {
    if (!live) return;
    live.textContent = "";
    setTimeout(() => (live.textContent = text), 50);
  };
}

function start(root) {
  const $ = (id) => root.querySelector(`#${id}`);
  const player = new Player($("player-audio"));
  new Listening(player, { client: "web", reporter: new Reporter() });
  const normalizer = new Normalizer(player);
  const announce = announcer();
  const help = $("player-help");

  mountBar(root, player, normalizer);
  mountQualityMenu($("player-quality"), $("player-quality-menu"), $("player-rendition"), player);
  mountQueuePanel($("player-queue"), $("player-queue-toggle"), player);
  mountShortcuts(player, normalizer, help);
  connectMediaSession(player);
  watchForPreload(player);
  $("player-help-toggle").addEventListener("click", () => help.showModal());

  player.on("trackchange", ({ track, cued, repeat }) => {
    if (track && !cued && !repeat) {
      announce(`Now playing: ${track.title} by ${artistNames(track)}`);
    }
  });
  player.on("error", ({ message }) => announce(message));

  player.restore();
  mountActions(player, { announce, shareDialog: $("player-share") });

  // hls.js is a third of the page's weight: fetch it once the page is idle, so that it does
  // not compete with first paint yet is ready when play is pressed.
  const idle = window.requestIdleCallback || ((fn) => setTimeout(fn, 1500));
  idle(() => loadHls(), { timeout: 4000 });

  window.omsPlayer = {
    playTracks: (tracks, index, startSeconds, options) =>
      player.playTracks(tracks, index, startSeconds, options),
    enqueue: (track) => player.enqueue(track),
    playNext: (track) => player.playNext(track),
    current: () => player.current(),
    quality: () => player.quality(),
    rendition: () => player.rendition(),
    on: (event, fn) => player.on(event, fn),
    play: () => player.play(),
    pause: () => player.pause(),
    next: () => player.next(),
    previous: () => player.previous(),
    seek: (seconds) => player.seek(seconds),
    position: () => player.position(),
  };
}

const root = document.getElementById("player");
if (root && !window.omsPlayer) start(root);
