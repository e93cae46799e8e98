// The pages' side of the player: the `data-action` buttons of every `[data-track]` and
// `[data-tracklist]` (handled by delegation, pages are swapped), which track is playing
// (`is-current`, `is-playing`, the play button's state), page waveforms, share links with a
// start time, and `data-start-seconds` on a track page opened from one.

import { share, shareUrl } from "./share.js";
import { Waveform } from "./waveform.js";

const parsed = new WeakMap();

// The queue item of a `[data-track]` element; null when its JSON is unreadable.
export function itemOf(element) {
  if (!parsed.has(element)) {
    let item = null;
    try {
      const track = JSON.parse(element.dataset.track);
      const artistLink = element.querySelector('a[href^="/artist/"]');
      item = {
        track,
        pageUrl: element.dataset.pageUrl || null,
        artistUrl: artistLink ? artistLink.getAttribute("href") : null,
      };
    } catch {
      item = null;
    }
    parsed.set(element, item);
  }
  return parsed.get(element);
}

function playableItems(elements) {
  return elements.map(itemOf).filter((item) => item && item.track.streamUrl);
}

function tracksIn(list) {
  return [...list.querySelectorAll("[data-track]")];
}

export function mountActions(player, { announce, shareDialog }) {
  const pageWaveforms = new Set();

  function isCurrent(item) {
    const current = player.current();
    return Boolean(item && current && current.uri === item.track.uri);
  }

  function play(element) {
    const item = itemOf(element);
    if (!item) return;
    if (isCurrent(item)) return player.toggle();
    // The queue becomes the surrounding list from this track on.
    const list = element.closest("[data-tracklist]");
    const elements = list ? tracksIn(list) : [element];
    const items = playableItems(elements.slice(elements.indexOf(element)));
    if (!items.length) return announce(`${item.track.title} is not ready to play yet.`);
    player.playTracks(items, 0, 0);
  }

  async function shareTrack(element) {
    const item = itemOf(element);
    const pageUrl = item && (item.pageUrl || element.dataset.pageUrl);
    if (!pageUrl) return;
    const seconds = isCurrent(item) ? player.position() : 0;
    const copied = await share(shareUrl(pageUrl, seconds), shareDialog);
    if (copied) announce("Link copied.");
  }

  document.addEventListener("click", (event) => {
    const button = event.target.closest("[data-action]");
    if (!button) return;
    const element = button.closest("[data-track]");
    const list = button.closest("[data-tracklist]");
    const action = button.dataset.action;
    if (action === "play" && element) play(element);
    else if (action === "play-next" && element && itemOf(element)) {
      player.playNext(itemOf(element));
      announce(`${itemOf(element).track.title} plays next.`);
    } else if (action === "add-to-queue" && element && itemOf(element)) {
      player.enqueue(itemOf(element));
      announce(`${itemOf(element).track.title} added to the queue.`);
    } else if ((action === "play-all" || action === "shuffle-all") && list) {
      const items = playableItems(tracksIn(list));
      if (items.length) player.playTracks(items, 0, 0, { shuffle: action === "shuffle-all" });
    } else if (action === "share" && element) {
      shareTrack(element);
    } else {
      return;
    }
    event.preventDefault();
    // Actions sit in a track's <details> menu: done, it closes.
    button.closest("details[open]")?.removeAttribute("open");
  });

  // Which track is playing, on every track of the page.
  function decorate() {
    const playing = player.playing;
    for (const element of document.querySelectorAll("[data-track]")) {
      const current = isCurrent(itemOf(element));
      element.classList.toggle("is-current", current);
      element.classList.toggle("is-playing", current && playing);
      for (const button of element.querySelectorAll('[data-action="play"]')) {
        if (button.closest("[data-track]") !== element) continue;
        showPlayButton(button, current && playing);
      }
    }
    showWaveformTimes();
  }

  function showWaveformTimes() {
    const position = player.position();
    const duration = player.duration();
    for (const waveform of pageWaveforms) {
      if (!waveform.host.isConnected) pageWaveforms.delete(waveform);
      else if (waveform.uri === (player.current() || {}).uri) waveform.setTime(position, duration);
      else waveform.setTime(0);
    }
  }

  // The page's own label comes back when the track stops playing.
  function showPlayButton(button, playing) {
    if (!("playLabel" in button.dataset)) {
      button.dataset.playLabel = button.getAttribute("aria-label") || "";
      button.dataset.playText = button.children.length ? "" : button.textContent;
    }
    const label = button.dataset.playLabel;
    button.setAttribute("aria-pressed", String(playing));
    const pauseLabel = label ? label.replace(/^Play/, "Pause") : "Pause";
    if (playing) button.setAttribute("aria-label", pauseLabel);
    else if (label) button.setAttribute("aria-label", label);
    else button.removeAttribute("aria-label");
    if (button.dataset.playText) button.textContent = playing ? "Pause" : button.dataset.playText;
  }

  function mountWaveforms(root) {
    for (const host of root.querySelectorAll("[data-waveform-for]")) {
      if (host.dataset.waveformMounted) continue;
      host.dataset.waveformMounted = "true";
      const uri = host.dataset.waveformFor;
      const element = [...document.querySelectorAll("[data-track]")].find(
        (candidate) => itemOf(candidate) && itemOf(candidate).track.uri === uri,
      );
      const item = element ? itemOf(element) : null;
      const track = item ? item.track : player.current();
      if (!track || track.uri !== uri) continue;
      const waveform = new Waveform(host, {
        slider: true,
        label: `Seek in ${track.title}`,
        onSeek: (seconds) => {
          if (isCurrent({ track })) player.seek(seconds);
          else if (item) player.playTracks([item], 0, seconds);
        },
      });
      waveform.uri = uri;
      waveform.show(track);
      pageWaveforms.add(waveform);
    }
  }

  // A track page opened from a share link: load it at that time, paused and ready (browsers
  // would refuse to start audio without a gesture). Not while something else is playing.
  function startFromShareLink(root) {
    const element = root.querySelector("[data-track][data-start-seconds]");
    if (!element || element.dataset.startApplied || player.playing) return;
    element.dataset.startApplied = "true";
    const item = itemOf(element);
    const seconds = Number(element.dataset.startSeconds);
    if (!item || !item.track.streamUrl || !Number.isFinite(seconds)) return;
    player.playTracks([item], 0, seconds, { autoplay: false });
  }

  function onPage() {
    const main = document.getElementById("main") || document.body;
    startFromShareLink(main);
    mountWaveforms(main);
    decorate();
  }

  document.addEventListener("oms:navigated", onPage);
  player.on("trackchange", decorate);
  player.on("statechange", decorate);
  player.audio.addEventListener("timeupdate", showWaveformTimes);
  onPage();
}
