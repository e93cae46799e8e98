// Sends listening reports (listening.js) to fm.oms.analytics.reportListening: one request at a
// time, the unsent ones kept in localStorage `oms.pendingReports` and sent again with the next
// report or on the next page load (the node merges repeats, so sending twice is harmless). A
// page being left sends by beacon, which cannot carry the CSRF header and so arrives
// anonymous; the node gives a session the account any of its other reports came with.

const URL_PATH = "/xrpc/fm.oms.analytics.reportListening";
const PENDING_KEY = "oms.pendingReports";
const DEVICE_KEY = "oms.device";
const REFERRER_KEY = "oms.referrer";
const MAX_PENDING = 50;
// The node refuses reports made more than a day ago; these would only be refused.
const MAX_AGE_MS = 20 * 60 * 60 * 1000;

// localStorage, or null where the page may not have it: an embed framed by another site in a
// browser that blocks third-party storage throws on the mere mention of it.
function localStore() {
  try {
    return window.localStorage;
  } catch {
    return null;
  }
}

function readMeta(name) {
  return document.querySelector(`meta[name="${name}"]`)?.content ?? "";
}

function randomId() {
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) =>
    b.toString(16).padStart(2, "0"),
  ).join("");
}

// The pseudonymous id of this browser, made once: anonymous listeners are told apart by it.
function deviceId(storage) {
  if (!storage) return randomId(); // a device per page, the best there is
  try {
    const kept = storage.getItem(DEVICE_KEY);
    if (kept && /^[A-Za-z0-9_-]{8,64}$/.test(kept)) return kept;
    const made = randomId();
    storage.setItem(DEVICE_KEY, made);
    return made;
  } catch {
    return randomId();
  }
}

// The other site that sent the listener here (or embeds this player). Pages move without
// reloading, but the portal or signing in load whole pages with this site as their referrer:
// the tab remembers where it came from for those.
function externalReferrer() {
  let origin = "";
  try {
    const url = new URL(document.referrer);
    if (url.origin !== location.origin && /^https?:$/.test(url.protocol)) origin = url.origin;
  } catch {
    // no referrer, or not a URL
  }
  try {
    if (origin) sessionStorage.setItem(REFERRER_KEY, origin);
    else origin = sessionStorage.getItem(REFERRER_KEY) || "";
  } catch {
    // storage disabled: only the landing page knows
  }
  return origin || undefined;
}

function timeZone() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || undefined;
  } catch {
    return undefined;
  }
}

function isFresh(report) {
  const sent = Date.parse(report && report.sentAt);
  return Number.isFinite(sent) && Date.now() - sent < MAX_AGE_MS;
}

export class Reporter {
  constructor({ storage = localStore() } = {}) {
    this.storage = storage;
    this.device = deviceId(storage);
    this.context = {
      referrer: externalReferrer(),
      timeZone: timeZone(),
      locale: navigator.language || undefined,
    };
    // Without the header a call with the session cookie is anonymous; with a wrong one it is
    // refused, so pages of nobody signed in send none.
    this.csrfToken = readMeta("csrf-token");
    this.queue = this.load();
    this.sending = false;
    addEventListener("online", () => this.flush());
    this.flush(); // what an earlier page could not send
  }

  // Queue a report and send the queue.
  send(report) {
    this.queue.push(this.complete(report));
    this.save();
    this.flush();
  }

  // The page may be closed any moment: everything queued goes by beacon (or a keepalive fetch
  // when the browser refuses the beacon), without waiting for answers.
  sendWhileLeaving(report) {
    this.queue.push(this.complete(report));
    for (const queued of [...this.queue]) {
      const body = JSON.stringify(queued);
      const beaconed = navigator.sendBeacon?.(
        URL_PATH,
        new Blob([body], { type: "application/json" }),
      );
      if (beaconed) {
        this.forget(queued);
        continue;
      }
      // Kept until answered: if the page dies first, the next page load sends it again.
      fetch(URL_PATH, this.request(body, { keepalive: true }))
        .then((response) => {
          if (response.ok || !this.retryable(response.status)) this.forget(queued);
          this.save();
        })
        .catch(() => {});
    }
    this.save();
  }

  complete(report) {
    return { ...report, device: this.device, context: { ...report.context, ...this.context } };
  }

  request(body, { keepalive = false, signedIn = true } = {}) {
    const headers = { "Content-Type": "application/json" };
    if (signedIn && this.csrfToken) headers["X-CSRF-Token"] = this.csrfToken;
    return { method: "POST", headers, body, credentials: "same-origin", keepalive };
  }

  retryable(status) {
    return status === 429 || status >= 500;
  }

  // Send the queue, oldest first, one request at a time; stop at the first failure that a
  // later attempt could get past, keeping the rest.
  async flush() {
    if (this.sending) return;
    this.sending = true;
    try {
      this.queue = this.queue.filter(isFresh);
      while (this.queue.length) {
        const report = this.queue[0];
        const status = await this.post(report);
        if (this.retryable(status)) break;
        if (status !== 200) console.warn(`listening report refused (${status})`);
        this.forget(report);
        this.save();
      }
    } finally {
      this.sending = false;
    }
  }

  // The answer's status; 0 when the node could not be reached.
  async post(report) {
    const body = JSON.stringify(report);
    try {
      let response = await fetch(URL_PATH, this.request(body));
      if (response.status === 401 && this.csrfToken) {
        // Signed out since this page was loaded: the listening still counts, anonymously.
        this.csrfToken = "";
        response = await fetch(URL_PATH, this.request(body, { signedIn: false }));
      }
      return response.status;
    } catch {
      return 0;
    }
  }

  forget(report) {
    const at = this.queue.indexOf(report);
    if (at >= 0) this.queue.splice(at, 1);
  }

  load() {
    if (!this.storage) return [];
    try {
      const kept = JSON.parse(this.storage.getItem(PENDING_KEY) || "[]");
      return Array.isArray(kept) ? kept.filter(isFresh).slice(-MAX_PENDING) : [];
    } catch {
      return [];
    }
  }

  save() {
    this.queue = this.queue.slice(-MAX_PENDING);
    if (!this.storage) return;
    try {
      if (this.queue.length) this.storage.setItem(PENDING_KEY, JSON.stringify(this.queue));
      else this.storage.removeItem(PENDING_KEY);
    } catch {
      // storage full or disabled: the queue lasts as long as the page
    }
  }
}
