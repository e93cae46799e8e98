// Waveforms from a track's waveform.json peaks, drawn on a <canvas>: in the player bar and on
// any `[data-waveform-for="<track uri>"]` element of a page. Clicking or dragging seeks; on
// pages the waveform is also a keyboard slider.

import { clock } from "./clock.js";

const fetched = new Map();
const BAR_PX = 3; // 2 px bar + 1 px gap
const KEY_STEP_S = 5;

// The peaks document, fetched once per URL (it is immutable).
function fetchPeaks(url) {
  if (!fetched.has(url)) {
    const request = fetch(url)
      .then((response) => (response.ok ? response.json() : null))
      .catch(() => null);
    fetched.set(url, request);
  }
  return fetched.get(url);
}

export class Waveform {
  // `onSeek(seconds)` is called when the listener picks a time; `slider` makes the host a
  // focusable ARIA slider (the bar has its own range input, so its waveform is pointer-only).
  constructor(host, { onSeek, slider = false, label = "Seek" }) {
    this.host = host;
    this.onSeek = onSeek;
    this.slider = slider;
    this.canvas = document.createElement("canvas");
    this.canvas.className = "waveform-canvas";
    host.replaceChildren(this.canvas);
    host.classList.add("waveform");
    this.peaks = null;
    this.duration = 0;
    this.time = 0;
    this.dragging = false;
    this.url = null;
    if (slider) {
      host.tabIndex = 0;
      host.setAttribute("role", "slider");
      host.setAttribute("aria-label", label);
      host.setAttribute("aria-valuemin", "0");
      host.addEventListener("keydown", (event) => this.onKey(event));
    }
    host.addEventListener("pointerdown", (event) => this.onPointerDown(event));
    host.addEventListener("pointermove", (event) => this.onPointerMove(event));
    host.addEventListener("pointerup", (event) => this.onPointerUp(event));
    host.addEventListener("pointercancel", () => (this.dragging = false));
    new ResizeObserver(() => this.draw()).observe(host);
  }

  async show(track) {
    const url = track && track.waveformUrl;
    this.duration = track && track.durationMs ? track.durationMs / 1000 : 0;
    this.url = url;
    this.peaks = null;
    this.draw();
    if (!url) return;
    const data = await fetchPeaks(url);
    if (this.url !== url || !data || !Array.isArray(data.peaks)) return;
    this.peaks = data.peaks;
    if (!this.duration && data.durationMs) this.duration = data.durationMs / 1000;
    this.draw();
  }

  setTime(seconds, duration) {
    if (this.dragging) return;
    if (duration) this.duration = duration;
    this.time = seconds;
    this.draw();
  }

  secondsAt(event) {
    const box = this.host.getBoundingClientRect();
    const fraction = Math.min(Math.max((event.clientX - box.left) / box.width, 0), 1);
    return fraction * this.duration;
  }

  onPointerDown(event) {
    if (!this.duration || event.button !== 0) return;
    this.dragging = true;
    this.host.setPointerCapture(event.pointerId);
    this.time = this.secondsAt(event);
    this.draw();
  }

  onPointerMove(event) {
    if (!this.dragging) return;
    this.time = this.secondsAt(event);
    this.draw();
  }

  onPointerUp(event) {
    if (!this.dragging) return;
    this.dragging = false;
    this.onSeek(this.secondsAt(event));
  }

  onKey(event) {
    const steps = {
      ArrowRight: KEY_STEP_S,
      ArrowUp: KEY_STEP_S,
      ArrowLeft: -KEY_STEP_S,
      ArrowDown: -KEY_STEP_S,
      PageUp: 30,
      PageDown: -30,
    };
    let target;
    if (event.key in steps) target = this.time + steps[event.key];
    else if (event.key === "Home") target = 0;
    else if (event.key === "End") target = this.duration;
    else return;
    event.preventDefault();
    event.stopPropagation(); // the player's own arrow-key shortcuts would seek a second time
    this.onSeek(Math.min(Math.max(target, 0), this.duration));
  }

  draw() {
    const { canvas, host } = this;
    const width = host.clientWidth;
    const height = host.clientHeight;
    if (this.slider) {
      host.setAttribute("aria-valuemax", String(Math.round(this.duration)));
      host.setAttribute("aria-valuenow", String(Math.round(this.time)));
      host.setAttribute("aria-valuetext", `${clock(this.time)} of ${clock(this.duration)}`);
    }
    if (!width || !height) return;
    const ratio = devicePixelRatio || 1;
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    const context = canvas.getContext("2d");
    context.scale(ratio, ratio);
    context.clearRect(0, 0, width, height);
    const style = getComputedStyle(host);
    const played = style.color;
    const rest = style.getPropertyValue("--waveform-rest").trim() || "gray";
    const split = this.duration ? (this.time / this.duration) * width : 0;
    const bars = Math.floor(width / BAR_PX);
    const levels = this.levels(bars);
    const middle = height / 2;
    for (let i = 0; i < bars; i += 1) {
      const x = i * BAR_PX;
      const half = Math.max(levels[i] * middle, 1);
      context.fillStyle = x < split ? played : rest;
      context.fillRect(x, middle - half, BAR_PX - 1, half * 2);
    }
  }

  // One level (0..1) per bar: the loudest peak in its slice of the track, relative to the
  // loudest peak of all so that quiet masters still show their shape. Flat without peaks.
  levels(bars) {
    const peaks = this.peaks;
    if (!peaks || !peaks.length) return new Array(bars).fill(0.04);
    const loudest = peaks.reduce((m, [low, high]) => Math.max(m, -low, high), 1);
    return Array.from({ length: bars }, (_, i) => {
      const from = Math.floor((i * peaks.length) / bars);
      const to = Math.max(Math.floor(((i + 1) * peaks.length) / bars), from + 1);
      let level = 0;
      for (let p = from; p < to && p < peaks.length; p += 1) {
        level = Math.max(level, -peaks[p][0], peaks[p][1]);
      }
      return level / loudest;
    });
  }
}
