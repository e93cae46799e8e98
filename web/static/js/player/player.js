// The player: the queue driving the engine, the radio after the queue, the saved state. No UI:
// the player bar (index.js) and the embed page (embed.js) both sit on top of it.
// Events (player.on): trackchange, renditionchange, renditions, queuechange, statechange, error.

import { Engine } from "./engine.js";
import { Queue, loadState, saveState } from "./queue.js";
import { Radio } from "./radio.js";
import { storePreference, storedPreference, renditionLabel } from "./quality.js";

const RESTART_AFTER_SECONDS = 3; // "previous" past this point restarts the track instead
const SAVE_EVERY_MS = 5000;

// Pages hand over trackViews or {track, pageUrl, artistUrl} items.
function asItem(value) {
  return value && value.track ? value : { track: value };
}

export class Player {
  constructor(audio, { persist = true, radio = true } = {}) {
    this.audio = audio;
    this.persist = persist;
    this.engine = new Engine(audio);
    this.engine.preference = storedPreference();
    this.queue = new Queue();
    this.radio = radio ? new Radio() : null;
    this.events = new EventTarget();
    // Where the current track starts once it is loaded: a restored position or a share link's
    // time, kept until the media is actually asked for so a page load costs no audio traffic.
    this.pendingStart = 0;
    this.lastSave = 0;

    this.engine.addEventListener("rendition", (event) => {
      const { rendition } = event.detail;
      this.emit("renditionchange", { rendition, label: renditionLabel(rendition) });
    });
    this.engine.addEventListener("renditions", (event) => this.emit("renditions", event.detail));
    this.engine.addEventListener("fatal", () => {
      const track = this.current();
      this.emit("error", { message: `Could not play ${track ? track.title : "this track"}.` });
    });
    audio.addEventListener("ended", () => this.advance(true));
    for (const type of ["play", "pause", "playing"]) {
      audio.addEventListener(type, () => this.emit("statechange", { playing: this.playing }));
    }
    audio.addEventListener("pause", () => this.save());
    audio.addEventListener("seeked", () => this.save());
    audio.addEventListener("timeupdate", () => {
      if (Date.now() - this.lastSave > SAVE_EVERY_MS) this.save();
    });
    if (persist) addEventListener("pagehide", () => this.save());
  }

  on(type, fn) {
    const listener = (event) => fn(event.detail);
    this.events.addEventListener(type, listener);
    return () => this.events.removeEventListener(type, listener);
  }

  emit(type, detail = {}) {
    this.events.dispatchEvent(new CustomEvent(type, { detail }));
  }

  // --- what is playing ---

  current() {
    return this.queue.current ? this.queue.current.track : null;
  }

  get playing() {
    return !this.audio.paused && !this.audio.ended;
  }

  position() {
    return this.engine.hasSource ? this.audio.currentTime : this.pendingStart;
  }

  duration() {
    if (this.engine.hasSource && Number.isFinite(this.audio.duration)) return this.audio.duration;
    const track = this.current();
    return track && track.durationMs ? track.durationMs / 1000 : 0;
  }

  quality() {
    return this.engine.preference;
  }

  rendition() {
    return this.engine.rendition;
  }

  // --- the queue ---

  // `shuffle`: play them in a random order (and leave shuffle on).
  playTracks(tracks, index = 0, startSeconds = 0, { autoplay = true, shuffle = false } = {}) {
    const items = tracks.map(asItem);
    if (shuffle) {
      this.queue.shuffle = true;
      index = Math.floor(Math.random() * items.length);
    }
    this.queue.replace(items, index);
    this.emit("queuechange");
    this.start(startSeconds, autoplay);
  }

  // Add to the end; into an empty player the track is loaded, ready to play.
  enqueue(track) {
    const wasEmpty = this.queue.isEmpty;
    this.queue.add(asItem(track));
    this.emit("queuechange");
    if (wasEmpty) this.start(0, false);
    else this.save();
  }

  playNext(track) {
    const wasEmpty = this.queue.isEmpty;
    this.queue.playNext(asItem(track));
    this.emit("queuechange");
    if (wasEmpty) this.start(0, false);
    else this.save();
  }

  jumpTo(index) {
    if (!this.queue.entries[index]) return;
    this.queue.index = index;
    this.start(0, true);
  }

  move(from, to) {
    this.queue.move(from, to);
    this.emit("queuechange");
    this.save();
  }

  remove(index) {
    const wasCurrent = index === this.queue.index;
    this.queue.remove(index);
    this.emit("queuechange");
    if (!wasCurrent) return this.save();
    if (this.queue.current) return this.start(0, this.playing);
    this.stop();
  }

  clear() {
    this.queue.clear();
    this.emit("queuechange");
    this.save();
  }

  setShuffle(on) {
    this.queue.setShuffle(on);
    this.emit("queuechange");
    this.save();
  }

  cycleRepeat() {
    const mode = this.queue.cycleRepeat();
    this.emit("queuechange");
    this.save();
    return mode;
  }

  // The entry that will play after this one, asking the radio for more when the queue is
  // about to run out (the preloader calls this ahead of time).
  async upcoming() {
    const next = this.queue.peekNext();
    if (next || !this.radio || !this.queue.current) return next;
    const last = this.queue.entries[this.queue.entries.length - 1];
    const tracks = await this.radio.more(last);
    if (this.queue.peekNext()) return this.queue.peekNext();
    if (!tracks.length) return null;
    this.queue.addAll(tracks.map((track) => ({ track, radio: true })));
    this.emit("queuechange");
    this.save();
    return this.queue.peekNext();
  }

  // --- transport ---

  play() {
    if (!this.queue.current) return;
    if (!this.engine.hasSource) this.start(this.pendingStart, true);
    else this.engine.play();
  }

  pause() {
    this.engine.pause();
  }

  toggle() {
    if (this.playing) this.pause();
    else this.play();
  }

  seek(seconds) {
    if (!this.queue.current) return;
    if (this.engine.hasSource) {
      this.engine.seek(seconds);
    } else {
      this.pendingStart = Math.min(Math.max(seconds, 0), this.duration());
      this.emit("statechange", { playing: false });
      this.save();
    }
  }

  next() {
    return this.advance(false);
  }

  previous() {
    const at = this.queue.previousIndex();
    if (this.position() > RESTART_AFTER_SECONDS || at === null) return this.seek(0);
    this.queue.index = at;
    this.start(0, true);
  }

  async advance(auto) {
    const wasPlaying = auto || this.playing;
    let at = this.queue.nextIndex(auto);
    if (at === null && (await this.upcoming())) at = this.queue.nextIndex(auto);
    if (at === null) {
      if (auto) this.save(); // the queue ran out: stay on the last track, at its end
      return;
    }
    if (auto && at === this.queue.index) {
      // Repeat one: play it again from the start, as a new listen.
      this.emit("trackchange", { track: this.current(), entry: this.queue.current, repeat: true });
      this.engine.seek(0);
      this.engine.play();
      return;
    }
    this.queue.index = at;
    this.start(0, wasPlaying);
  }

  setQuality(preference) {
    storePreference(preference);
    this.engine.setPreference(preference);
  }

  // Load the current entry at `startSeconds`.
  start(startSeconds, autoplay) {
    const entry = this.queue.current;
    if (!entry) return this.stop();
    this.pendingStart = startSeconds;
    this.emit("trackchange", { track: entry.track, entry });
    this.emit("queuechange");
    if (!entry.track.streamUrl) {
      this.engine.unload();
      this.emit("error", { message: `${entry.track.title} is not ready to play yet.` });
    } else {
      this.engine.load(entry.track.streamUrl, { startSeconds, autoplay });
    }
    this.save();
  }

  // Show `tracks[index]` ready at `startSeconds` without loading any audio until play.
  cue(tracks, index = 0, startSeconds = 0) {
    this.queue.replace(tracks.map(asItem), index);
    this.show(startSeconds);
  }

  // Show the saved queue's current track, paused at the saved position, likewise.
  restore() {
    if (!this.persist) return false;
    const saved = loadState();
    if (!saved || !saved.queue.current) return false;
    this.queue = saved.queue;
    if (this.radio) this.radio.restore(saved.radioCursor);
    this.show(saved.position);
    return true;
  }

  show(startSeconds) {
    this.pendingStart = startSeconds;
    this.emit("queuechange");
    this.emit("trackchange", { track: this.current(), entry: this.queue.current, cued: true });
  }

  stop() {
    this.engine.unload();
    this.pendingStart = 0;
    this.emit("trackchange", { track: null, entry: null });
    this.save();
  }

  save() {
    if (!this.persist) return;
    this.lastSave = Date.now();
    saveState(this.queue, this.position(), this.radio && this.radio.toJSON());
  }
}
