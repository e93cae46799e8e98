// What was actually heard: ranges of media time while audio played (seeks and stalls are never
// counted), a log of state changes, and the rendition, per listening session (one play of a
// track). Reports take the shape of fm.oms.analytics.reportListening's input and go to the
// reporter (reporter.js). Also appends heard tracks to localStorage `oms.history`.

const HISTORY_KEY = "oms.history";
const HISTORY_LIMIT = 200;
const HEARD_FOR_HISTORY_S = 30;
const REPORT_EVERY_MS = 10_000;
// timeupdate fires every ~250 ms; a bigger jump without a seek means time was skipped.
const MAX_STEP_S = 1.5;
// The lexicon's limit on a report's ranges and events; a report never comes near it unless
// something loops, and then the oldest events are the least useful.
const MAX_ITEMS = 256;
// Only these are renditions to the node; "native" (Safari's own HLS) tells nothing.
const RENDITIONS = new Set(["aac64", "aac128", "aac256", "flac"]);
const PAGE_KINDS = [
  [/^\/$/, "home"],
  [/^\/search$/, "search"],
  [/^\/artist\//, "artist"],
  [/^\/release\//, "release"],
  [/^\/track\//, "track"],
  [/^\/playlist\//, "playlist"],
  [/^\/library$/, "library"],
  [/^\/embed\//, "embed"],
];

function newSessionId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) =>
    b.toString(16).padStart(2, "0"),
  ).join("");
}

// The kind of page at `pathname`, as context.page names it.
function pageKind(pathname = location.pathname) {
  const found = PAGE_KINDS.find(([pattern]) => pattern.test(pathname));
  return found ? found[1] : "other";
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

// The lexicon has no floats: media time goes out as whole milliseconds.
const ms = (seconds) => Math.max(Math.round(seconds * 1000), 0);

export class Listening {
  // `reporter`: {send(report), sendWhileLeaving(report)}; without one nothing is reported.
  constructor(player, { client = "web", reporter = null } = {}) {
    this.player = player;
    this.audio = player.audio;
    this.client = client;
    this.reporter = reporter;
    this.session = null;
    const on = (type, fn) => this.audio.addEventListener(type, fn);

    on("play", () => {
      // Played again once it ended (from the start, or after seeking back): a new listen.
      if (this.session && this.session.ended) this.begin(this.session.track, this.session.entry);
      if (!this.session) return;
      this.session.played = true;
      this.session.page ??= this.pageOf(this.session.entry);
      this.log("play");
    });
    on("playing", () => this.open());
    on("timeupdate", () => this.extend());
    on("waiting", () => this.close());
    on("pause", () => {
      this.close();
      if (!this.audio.ended && this.listened) this.log("pause");
      this.report();
    });
    on("seeking", () => {
      this.close();
      // Placing a track before it plays, or rewinding one that ended, is not a seek within
      // a listen.
      if (this.listened && !this.session.ended) this.log("seek");
    });
    on("seeked", () => {
      if (!this.audio.paused) this.open();
      this.report();
    });
    on("error", () => {
      this.close();
      this.log("error");
      this.report();
    });
    // The player moves to the next track (or replays this one) from its own "ended" listener
    // on the element. A capturing listener on the document runs before any on the element, so
    // the end is logged in this session before the next one begins.
    document.addEventListener(
      "ended",
      (event) => {
        if (event.target === this.audio) this.end();
      },
      true,
    );
    player.on("trackchange", ({ track, entry }) => this.begin(track, entry));
    player.on("queuechange", () => this.markQueued());
    // A page that is hidden may be closed without another word: what was heard goes now.
    addEventListener("pagehide", () => this.report({ leaving: true }));
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "hidden") this.report({ leaving: true });
    });
    setInterval(() => {
      if (this.player.playing) this.report();
    }, REPORT_EVERY_MS);
  }

  // Entries remember the kind of page they were queued from, so a track that plays on after
  // the listener moved elsewhere still counts for the page that started it.
  markQueued() {
    for (const entry of this.player.queue.entries) {
      if (!entry.from) entry.from = entry.radio ? "radio" : this.pageOf(null);
    }
  }

  pageOf(entry) {
    if (this.client === "embed") return "embed";
    return (entry && entry.from) || pageKind();
  }

  // A new session for `track`: whatever the last one heard is reported first.
  begin(track, entry = null) {
    this.close();
    this.report();
    this.session = track && {
      id: newSessionId(),
      track,
      entry,
      page: null, // set by the first play: a track shown ready may be started elsewhere
      ranges: [], // heard since the last report
      heard: [], // heard in the whole session, for the history
      events: [],
      open: null,
      played: false,
      ended: false,
      remembered: false,
    };
  }

  get listened() {
    return Boolean(this.session && this.session.played);
  }

  end() {
    if (!this.session || this.session.ended) return;
    this.close();
    this.log("ended");
    this.session.ended = true;
    this.remember();
    this.report();
  }

  log(kind) {
    if (!this.session) return;
    const at = new Date().toISOString();
    this.session.events.push({ kind, at, position: this.audio.currentTime });
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
    if (!session) return false;
    const hearing = session.open && session.open[1] > session.open[0];
    return Boolean(session.ranges.length || session.events.length || hearing);
  }

  // What was heard since the last report, and the state changes since then.
  takeReport() {
    const session = this.session;
    if (!session) return null;
    // Split a range still being heard: reported up to now, it carries on from here.
    const open = session.open;
    this.close();
    if (open) session.open = [open[1], open[1]];
    const rendition = this.player.rendition();
    const report = {
      sessionId: session.id,
      track: { uri: session.track.uri, cid: session.track.cid },
      ranges: session.ranges
        .map(([start, end]) => ({ startMs: ms(start), endMs: ms(end) }))
        .filter(({ startMs, endMs }) => endMs > startMs)
        .slice(0, MAX_ITEMS),
      positionMs: ms(this.audio.currentTime),
      events: session.events
        .slice(-MAX_ITEMS)
        .map(({ kind, at, position }) => ({ kind, at, positionMs: ms(position) })),
      rendition: RENDITIONS.has(rendition) ? rendition : undefined,
      client: this.client,
      context: { page: session.page || this.pageOf(session.entry) },
      sentAt: new Date().toISOString(),
    };
    session.ranges = [];
    session.events = [];
    return report;
  }

  // `leaving`: the page may be gone before a normal request would be answered.
  report({ leaving = false } = {}) {
    if (!this.reporter || !this.pending) return;
    const report = this.takeReport();
    if (leaving) this.reporter.sendWhileLeaving(report);
    else this.reporter.send(report);
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
