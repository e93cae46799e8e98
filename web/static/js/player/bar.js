// The player bar of _player.html: what is playing, transport, seek bar and waveform, volume,
// shuffle, repeat and normalization. The queue panel and quality menu have their own modules.

import { clock } from "./clock.js";
import { artistNames } from "./credits.js";
import { Waveform } from "./waveform.js";

// Where the track's page is: the page said so when the track was queued; tracks the radio added
// only have their AT-URI, whose repository DID the pages resolve like a handle (escaped like
// the server's in_path: a did:web's "%3A" must stay itself).
export function pageUrlOf(entry) {
  if (entry.pageUrl) return entry.pageUrl;
  const match = /^at:\/\/([^/]+)\/fm\.oms\.track\/([^/]+)$/.exec(entry.track.uri);
  if (!match) return null;
  const did = encodeURIComponent(match[1]).replaceAll("%3A", ":");
  return `/track/${did}/${match[2]}`;
}

const REPEAT_LABELS = { off: "Repeat: off", all: "Repeat: all", one: "Repeat: one track" };

export function mountBar(root, player, normalizer) {
  const $ = (id) => root.querySelector(`#${id}`);
  const audio = player.audio;
  const art = $("player-art");
  const artEmpty = $("player-art-empty");
  const title = $("player-title");
  const artist = $("player-artist");
  const playButton = $("player-play");
  const seek = $("player-seek");
  const elapsed = $("player-elapsed");
  const total = $("player-duration");
  const mute = $("player-mute");
  const volume = $("player-volume");
  const shuffle = $("player-shuffle");
  const repeat = $("player-repeat");
  const normalize = $("player-normalize");
  const expand = $("player-expand");
  let seeking = false; // the listener is dragging the seek bar: do not move it under them

  const waveform = new Waveform($("player-waveform"), { onSeek: (s) => player.seek(s) });

  function showTrack({ track, entry }) {
    root.dataset.state = track ? (player.playing ? "playing" : "paused") : "idle";
    for (const id of ["player-play", "player-prev", "player-next"]) $(id).disabled = !track;
    seek.disabled = !track;
    if (!track) {
      title.textContent = "Nothing playing";
      title.removeAttribute("href");
      artist.textContent = "";
      artist.removeAttribute("href");
      art.hidden = true;
      artEmpty.hidden = false;
      waveform.show(null);
      showTime();
      return;
    }
    title.textContent = track.title;
    const page = pageUrlOf(entry);
    if (page) title.href = page;
    else title.removeAttribute("href");
    artist.textContent = artistNames(track);
    if (entry.artistUrl) artist.href = entry.artistUrl;
    else artist.removeAttribute("href");
    const picture = track.artwork && (track.artwork.small || track.artwork.thumb);
    art.hidden = !picture;
    artEmpty.hidden = Boolean(picture);
    if (picture) art.src = picture;
    waveform.show(track);
    showTime();
  }

  function showTime() {
    const duration = player.duration();
    const position = Math.min(player.position(), duration || Infinity);
    elapsed.textContent = clock(position);
    total.textContent = clock(duration);
    waveform.setTime(position, duration);
    if (seeking) return;
    seek.max = String(Math.floor(duration));
    seek.value = String(Math.floor(position));
    seek.setAttribute("aria-valuetext", `${clock(position)} of ${clock(duration)}`);
  }

  function showState() {
    if (!player.current()) return;
    const playing = player.playing;
    root.dataset.state = playing ? "playing" : "paused";
    playButton.setAttribute("aria-label", playing ? "Pause" : "Play");
  }

  function showQueueState() {
    shuffle.setAttribute("aria-pressed", String(player.queue.shuffle));
    repeat.dataset.repeat = player.queue.repeat;
    repeat.setAttribute("aria-label", REPEAT_LABELS[player.queue.repeat]);
  }

  function showVolume() {
    volume.value = String(Math.round(normalizer.volume * 100));
    mute.setAttribute("aria-pressed", String(audio.muted));
    mute.setAttribute("aria-label", audio.muted ? "Unmute" : "Mute");
    root.dataset.muted = String(audio.muted);
  }

  player.on("trackchange", showTrack);
  player.on("statechange", showState);
  player.on("queuechange", showQueueState);
  audio.addEventListener("timeupdate", showTime);
  audio.addEventListener("durationchange", showTime);
  audio.addEventListener("volumechange", showVolume);

  playButton.addEventListener("click", () => player.toggle());
  $("player-prev").addEventListener("click", () => player.previous());
  $("player-next").addEventListener("click", () => player.next());
  seek.addEventListener("input", () => {
    seeking = true;
    elapsed.textContent = clock(Number(seek.value));
  });
  seek.addEventListener("change", () => {
    seeking = false;
    player.seek(Number(seek.value));
  });
  volume.addEventListener("input", () => {
    normalizer.setVolume(Number(volume.value) / 100);
    if (audio.muted && Number(volume.value) > 0) audio.muted = false;
  });
  mute.addEventListener("click", () => (audio.muted = !audio.muted));
  shuffle.addEventListener("click", () => player.setShuffle(!player.queue.shuffle));
  repeat.addEventListener("click", () => player.cycleRepeat());
  normalize.setAttribute("aria-pressed", String(normalizer.enabled));
  normalize.addEventListener("click", () => {
    normalizer.setEnabled(!normalizer.enabled);
    normalize.setAttribute("aria-pressed", String(normalizer.enabled));
  });
  expand.addEventListener("click", () => {
    const open = root.dataset.expanded !== "true";
    root.dataset.expanded = String(open);
    expand.setAttribute("aria-expanded", String(open));
    expand.setAttribute("aria-label", open ? "Fewer player controls" : "More player controls");
  });

  showQueueState();
  showVolume();
}
