// Loudness normalization (on/off, localStorage `oms.normalize`) and the listener's volume
// (`oms.volume`): applies the track's loudness.gainMilliDb.
//
// How: a Web Audio GainNode between the <audio> element and the speakers, so quiet masters can
// be raised too (never past -1 dBTP, from the track's measured true peak). An AudioContext only
// runs when created in a user gesture, and once the element is routed through it, it is silent
// whenever the context is not running; so the graph is built only in a gesture, only once the
// context reports "running", and only where audio comes through Media Source Extensions (the
// browser's own HLS, on old iOS, is known to go silent through Web Audio). Until then, and
// wherever the graph cannot be built, the gain scales audio.volume instead, which can only
// lower: min(1, 10^(gain/20)).

const ENABLED_KEY = "oms.normalize";
const VOLUME_KEY = "oms.volume";
const TRUE_PEAK_CEILING_DB = -1;

function stored(key, fallback) {
  try {
    return localStorage.getItem(key) ?? fallback;
  } catch {
    return fallback;
  }
}

function store(key, value) {
  try {
    localStorage.setItem(key, value);
  } catch {
    // storage disabled: the setting lasts for this page
  }
}

// The gain (dB) to apply to `track`, its boost limited by its true peak.
export function gainFor(track) {
  const loudness = track && track.loudness;
  if (!loudness || typeof loudness.gainMilliDb !== "number") return 0;
  const gain = loudness.gainMilliDb / 1000;
  if (gain <= 0) return gain;
  const peak = loudness.truePeakMilliDbtp;
  return typeof peak === "number" ? Math.min(gain, TRUE_PEAK_CEILING_DB - peak / 1000) : 0;
}

export class Normalizer {
  constructor(player) {
    this.player = player;
    this.audio = player.audio;
    this.enabled = stored(ENABLED_KEY, "on") === "on";
    const volume = Number(stored(VOLUME_KEY, "1"));
    this.volume = Number.isFinite(volume) ? Math.min(Math.max(volume, 0), 1) : 1;
    this.context = null;
    this.gainNode = null;
    player.on("trackchange", () => this.apply());
    // Build the graph in the first gesture that is about playing (a page that is only read
    // should not open an audio output).
    const gesture = (event) => {
      const aboutPlaying = event.target.closest && event.target.closest("[data-action], .player");
      if (aboutPlaying || player.current()) this.connect();
    };
    document.addEventListener("pointerdown", gesture, { capture: true });
    document.addEventListener("keydown", gesture, { capture: true });
    this.audio.addEventListener("play", () => {
      if (this.context && this.context.state !== "running") this.context.resume();
    });
    this.apply();
  }

  setEnabled(on) {
    this.enabled = on;
    store(ENABLED_KEY, on ? "on" : "off");
    this.apply();
  }

  setVolume(volume) {
    this.volume = Math.min(Math.max(volume, 0), 1);
    store(VOLUME_KEY, String(this.volume));
    this.apply();
  }

  connect() {
    const Context = window.AudioContext || window.webkitAudioContext;
    const viaMse = window.MediaSource || window.ManagedMediaSource;
    if (this.context || !this.enabled || !Context || !viaMse) return;
    const context = new Context();
    this.context = context;
    context.resume().then(() => {
      if (context.state !== "running" || this.gainNode) return;
      const source = context.createMediaElementSource(this.audio);
      this.gainNode = context.createGain();
      source.connect(this.gainNode).connect(context.destination);
      this.apply();
    });
  }

  apply() {
    const gain = this.enabled ? gainFor(this.player.current()) : 0;
    const factor = 10 ** (gain / 20);
    if (this.gainNode) {
      this.gainNode.gain.value = factor;
      this.audio.volume = this.volume;
    } else {
      this.audio.volume = this.volume * Math.min(1, factor);
    }
  }
}
