// The one <audio> element and what feeds it: hls.js (light build, imported on first need) over
// Media Source Extensions, or the browser's own HLS when MSE is missing (older iOS).
// Events: "renditions" (the master's renditions, by hls.js level index), "rendition" (the one
// actually playing), "fatal" (the track cannot be played).

import { levelFor, renditionOf } from "./quality.js";

const HLS_MODULE = "/static/vendor/hls.js/hls.light.min.mjs";

// Tuned for audio: a short forward buffer keeps seeking and quality switches cheap, fMP4 needs
// no transmuxing so a worker would only add start-up time (and a blob: worker needs CSP).
const HLS_CONFIG = {
  enableWorker: false,
  autoStartLoad: false,
  maxBufferLength: 20,
  maxMaxBufferLength: 40,
  backBufferLength: 30,
  startFragPrefetch: true,
};

let hlsModule = null;

// Resolves to the Hls class, or null when this browser cannot use it; imported once.
export function loadHls() {
  hlsModule ||= import(HLS_MODULE)
    .then((module) => (module.default.isSupported() ? module.default : null))
    .catch(() => null);
  return hlsModule;
}

export class Engine extends EventTarget {
  constructor(audio) {
    super();
    this.audio = audio;
    this.hls = null;
    this.renditions = [];
    this.rendition = null;
    this.preference = "auto";
    // The rendition automatic switching settled on, so the next track starts there.
    this.lastAutoRendition = null;
    this.loadId = 0;
    this.source = null;
    this.attached = false;
    this.playWhenAttached = false;
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  // True from the moment a track is asked for, before hls.js has even been imported.
  get hasSource() {
    return Boolean(this.source);
  }

  // Load `streamUrl` at `startSeconds`; starts playing when `autoplay`. Resolves once the
  // source is attached (not once audio plays).
  async load(streamUrl, { startSeconds = 0, autoplay = false } = {}) {
    const loadId = ++this.loadId;
    this.unload();
    this.source = streamUrl;
    this.playWhenAttached = autoplay;
    const Hls = await loadHls();
    if (loadId !== this.loadId) return; // another track was asked for meanwhile
    if (Hls) {
      this.loadWithHls(Hls, streamUrl, startSeconds);
    } else if (this.audio.canPlayType("application/vnd.apple.mpegurl")) {
      this.loadNative(streamUrl, startSeconds);
    } else {
      this.emit("fatal", { reason: "This browser cannot play HLS audio." });
      return;
    }
    this.attached = true;
    if (this.playWhenAttached) this.play();
  }

  loadWithHls(Hls, streamUrl, startSeconds) {
    const hls = new Hls(HLS_CONFIG);
    this.hls = hls;
    let recovered = false;
    hls.on(Hls.Events.MANIFEST_PARSED, (_event, data) => {
      this.renditions = data.levels.map(renditionOf);
      this.emit("renditions", { renditions: this.renditions });
      const pinned = levelFor(this.preference, this.renditions);
      hls.startLevel = pinned >= 0 ? pinned : this.autoStartLevel();
      if (pinned >= 0) hls.loadLevel = pinned;
      hls.startLoad(startSeconds);
    });
    hls.on(Hls.Events.FRAG_CHANGED, (_event, data) => this.setRendition(data.frag.level));
    hls.on(Hls.Events.FRAG_BUFFERED, (_event, data) => {
      // Before playback starts (loaded paused at a share link's time) nothing has "changed"
      // yet: show what was buffered.
      if (!this.rendition && data.frag.type === "main") this.setRendition(data.frag.level);
    });
    hls.on(Hls.Events.ERROR, (_event, data) => {
      if (!data.fatal) return;
      if (data.type === Hls.ErrorTypes.MEDIA_ERROR && !recovered) {
        recovered = true;
        hls.recoverMediaError();
        return;
      }
      this.emit("fatal", { reason: data.details });
    });
    hls.loadSource(streamUrl);
    hls.attachMedia(this.audio);
  }

  loadNative(streamUrl, startSeconds) {
    this.renditions = [];
    this.emit("renditions", { renditions: [] });
    this.audio.src = streamUrl;
    if (startSeconds > 0) {
      this.audio.addEventListener("loadedmetadata", () => (this.audio.currentTime = startSeconds), {
        once: true,
      });
    }
    this.rendition = "native";
    this.emit("rendition", { rendition: "native" });
  }

  // The first rendition the master lists (aac128 on OMS nodes) unless automatic switching has
  // already found a better one on an earlier track.
  autoStartLevel() {
    const index = this.renditions.indexOf(this.lastAutoRendition || "aac128");
    return index >= 0 ? index : -1;
  }

  setRendition(level) {
    const rendition = this.renditions[level];
    if (!rendition || rendition === this.rendition) return;
    this.rendition = rendition;
    if (this.preference === "auto") this.lastAutoRendition = rendition;
    this.emit("rendition", { rendition });
  }

  // Pin a rendition ("64", "lossless", ...) or go back to automatic switching. A pinned one
  // takes effect at once (the buffer is flushed) so the listener hears the change.
  setPreference(preference) {
    this.preference = preference;
    if (!this.hls || !this.renditions.length) return;
    const pinned = levelFor(preference, this.renditions);
    if (pinned >= 0) this.hls.currentLevel = pinned;
    else this.hls.nextLevel = -1;
  }

  unload() {
    if (this.hls) {
      this.hls.destroy();
      this.hls = null;
    }
    if (this.audio.getAttribute("src")) {
      this.audio.removeAttribute("src");
      this.audio.load();
    }
    this.renditions = [];
    this.rendition = null;
    this.source = null;
    this.attached = false;
  }

  play() {
    // Asked while hls.js is still being imported: play as soon as the source is attached.
    if (this.source && !this.attached) {
      this.playWhenAttached = true;
      return Promise.resolve();
    }
    // A rejected play() (autoplay policy, or a newer load) leaves the element paused, which the
    // UI already shows; there is nothing else to do with the error.
    return this.audio.play().catch(() => {});
  }

  pause() {
    this.playWhenAttached = false;
    this.audio.pause();
  }

  seek(seconds) {
    const duration = this.audio.duration;
    const limit = Number.isFinite(duration) ? Math.max(duration - 0.1, 0) : seconds;
    this.audio.currentTime = Math.min(Math.max(seconds, 0), limit);
  }
}
