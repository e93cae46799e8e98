// What was actually heard: ranges of media time while audio played (seeks and stalls are never
// counted), a log of state changes, and the rendition, per listening session (one play of a
// track). Reports take the shape of fm.oms.analytics.reportListening's input; nothing is sent
// until a reporter is set. Also appends heard tracks to localStorage `oms.history`.

const HISTORY_KEY = "oms.history";
const HISTORY_LIMIT = 200;
const HEARD_FOR_HISTORY_S = 30;
const REPORT_EVERY_MS = 10_000;
// timeupdate fires every ~250 ms; a bigger jump without a seek means time was skipped.
const MAX_STEP_S = 1.5;

function newSessionId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) =>
    b.toString(16).padStart(2, "0"),
  ).join("");
}

// Sorted, overlapping or touching ranges joined.
export function mergeRanges(ranges) {
  const sorted = ranges.filter(([start, end]) => end > start).sort((a, b) => a[0] - b[0]);
  const merged = [];
  for (const [start, end] of sorted) {
    const last = merged[merged.length - 1];
    if (last && start <= last[1] + 0.05) last[1] = Math.max(last[1], end);
    else merged.push([start, end]);
  }
  return merged;
}

const seconds = (value) => Math.round(value * 1000) / 1000;

export class Listening {
  constructor(player, { client = "web" } = {}) {
    this.player = player;
    this.audio = player.audio;
    this.client = client;
    this.reporter = null;
    this.session = null;
    const on = (type, fn) => this.audio.addEventListener(type, fn);

    on("play", () => this.log("play"));
    on("playing", () => this.open());
    on("timeupdate", () => this.extend());
    on("waiting", () => this.close());
    on("pause", () => {
      this.close();
      if (!this.audio.ended) this.log("pause");
      this.report();
    });
    on("seeking", () => {
      this.close();
      this.log("seek");
    });
    on("seeked", () => {
      if (!this.audio.paused) this.open();
      this.report();
    });
    on("ended", () => {
      this.close();
      this.log("ended");
      this.remember();
      this.report();
    });
    on("error", () => {
      this.close();
      this.log("error");
      this.report();
    });
    player.on("trackchange", ({ track }) => this.begin(track));
    addEventListener("pagehide", () => {
      this.close();
      this.report();
    });
    setInterval(() => {
      if (this.player.playing) this.report();
    }, REPORT_EVERY_MS);
  }

  // `fn(report)` receives each report; the analytics endpoint will be called from there.
  setReporter(fn) {
    this.reporter = fn;
  }

  // A new session for `track`: whatever the last one heard is reported first.
  begin(track) {
    this.close();
    this.report();
    this.session = track && {
      id: newSessionId(),
      track,
      ranges: [], // heard since the last report
      heard: [], // heard in the whole session, for the history
      events: [],
      open: null,
      remembered: false,
    };
  }

  log(kind) {
    if (!this.session) return;
    const at = new Date().toISOString();
    this.session.events.push({ kind, at, position: seconds(this.audio.currentTime) });
  }

  open() {
    if (!this.session || this.session.open || this.audio.paused) return;
    const now = this.audio.currentTime;
    this.session.open = [now, now];
  }

  extend() {
    const session = this.session;
    if (!session || !session.open || this.audio.seeking) return;
    const now = this.audio.currentTime;
    const step = now - session.open[1];
    if (step >= 0 && step <= MAX_STEP_S) {
      session.open[1] = now;
    } else {
      this.close();
      this.open();
    }
    if (this.heardSeconds() >= HEARD_FOR_HISTORY_S) this.remember();
  }

  // Close the open range at the last time known to have played (not currentTime: when
  // seeking, that is already the target).
  close() {
    const session = this.session;
    if (!session || !session.open) return;
    const range = session.open;
    session.open = null;
    if (range[1] - range[0] <= 0) return;
    session.ranges = mergeRanges([...session.ranges, [...range]]);
    session.heard = mergeRanges([...session.heard, [...range]]);
  }

  heardSeconds() {
    const session = this.session;
    const ranges = session.open ? mergeRanges([...session.heard, session.open]) : session.heard;
    return ranges.reduce((total, [start, end]) => total + end - start, 0);
  }

  get pending() {
    const session = this.session;
    return Boolean(session && (session.ranges.length || session.events.length || session.open));
  }

  // What was heard since the last report, and the state changes since then.
  takeReport() {
    const session = this.session;
    if (!session) return null;
    // Split a range still being heard: reported up to now, it carries on from here.
    const open = session.open;
    this.close();
    if (open) session.open = [open[1], open[1]];
    const report = {
      sessionId: session.id,
      track: { uri: session.track.uri, cid: session.track.cid },
      ranges: session.ranges.map(([start, end]) => [seconds(start), seconds(end)]),
      position: seconds(this.audio.currentTime),
      events: session.events,
      rendition: this.player.rendition() || undefined,
      client: this.client,
      sentAt: new Date().toISOString(),
    };
    session.ranges = [];
    session.events = [];
    return report;
  }

  report() {
    if (this.reporter && this.pending) this.reporter(this.takeReport());
  }

  // Into the listening history once a track was heard for 30 s or to its end.
  remember() {
    const session = this.session;
    if (!session || session.remembered) return;
    session.remembered = true;
    const { uri, title, artists } = session.track;
    try {
      const history = JSON.parse(localStorage.getItem(HISTORY_KEY) || "[]");
      const list = Array.isArray(history) ? history : [];
      list.unshift({ uri, title, artists, playedAt: new Date().toISOString() });
      localStorage.setItem(HISTORY_KEY, JSON.stringify(list.slice(0, HISTORY_LIMIT)));
    } catch {
      // storage full or disabled: history is a convenience
    }
  }
}
