// OMS service worker: keeps the app shell usable without the node and answers the streams of
// tracks saved for offline (written into Cache Storage by /static/js/offline/store.js).
//
// Caches:
//   oms-shell-v<N>  static assets (stale-while-revalidate) and visited pages (network first).
//   oms-offline     saved tracks, owned by offline/store.js; this worker only reads it.

// Bumped by a release whose shell must not mix with the last one's; older versions are dropped.
const SHELL_CACHE = "oms-shell-v1";
const OFFLINE_CACHE = "oms-offline";
// The page listing the saved tracks: where a listener goes when the node can't be reached.
const LIBRARY = "/library";

// Fetched at install so that a page opened without the node has its looks, its scripts and
// the list of saved tracks: the stylesheets, the entry script, hls.js (imported only when a
// first track plays) and the library page. The modules app.js imports are kept when the page
// that registered this worker reports them (the "keep" message), so this list needn't follow
// every module; anything else under /static/ is cached the first time it is used.
const SHELL = [
  "/static/css/oms.css",
  "/static/css/player.css",
  "/static/css/offline.css",
  "/static/js/app.js",
  "/static/vendor/hls.js/hls.light.min.mjs",
  "/static/icons/icon.svg",
  LIBRARY,
];

// Pages kept for offline reading besides the library; the oldest visits are forgotten first.
const MAX_PAGES = 40;

// Answers that hold secrets or one-time tokens, or change with every call: never cached.
const PRIVATE_PREFIXES = [
  "/xrpc/", "/portal", "/admin", "/account", "/setup", "/reset", "/signin", "/signup",
];

// A reverse proxy in front of a stopped node answers with one of these: the node is unreachable.
const UNREACHABLE = new Set([502, 503, 504]);

self.addEventListener("install", (event) => {
  self.skipWaiting();
  // One missing asset must not keep the worker (and with it saved tracks) from installing.
  event.waitUntil(
    caches.open(SHELL_CACHE).then((cache) =>
      Promise.allSettled(SHELL.map((path) => precache(cache, path))),
    ),
  );
});

async function precache(cache, path) {
  const response = await fetch(path);
  if (isKeepable(response)) await cache.put(path, response);
}

// A redirected response cannot answer a later navigation, so only final answers are kept.
function isKeepable(response) {
  return response.ok && !response.redirected && response.type === "basic";
}

self.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      const names = await caches.keys();
      const stale = names.filter((name) => name.startsWith("oms-shell-") && name !== SHELL_CACHE);
      await Promise.all(stale.map((name) => caches.delete(name)));
      await self.clients.claim();
    })(),
  );
});

// The first page's scripts were fetched before this worker controlled it, so they passed it
// by: that page sends their addresses once the worker is active.
self.addEventListener("message", (event) => {
  if (event.data?.type !== "keep") return;
  const urls = event.data.urls.filter((address) => {
    const url = new URL(address);
    return url.origin === self.location.origin && url.pathname.startsWith("/static/");
  });
  event.waitUntil(
    caches.open(SHELL_CACHE).then((cache) =>
      Promise.allSettled(urls.map(async (url) => (await cache.match(url)) || precache(cache, url))),
    ),
  );
});

self.addEventListener("fetch", (event) => {
  const { request } = event;
  const url = new URL(request.url);
  if (request.method !== "GET") {
    // Signing out: pages kept for offline show the account, so forget them.
    if (url.origin === self.location.origin && url.pathname === "/signout") {
      event.waitUntil(forgetPages());
    }
    return;
  }
  // Saved streams and artwork may come from other nodes (remote tracks): match any origin.
  if (url.pathname.startsWith("/hls/") || url.pathname.startsWith("/img/")) {
    event.respondWith(savedFirst(request));
    return;
  }
  if (url.origin !== self.location.origin) return;
  const isPrivate = PRIVATE_PREFIXES.some((prefix) => url.pathname.startsWith(prefix));
  // nav.js fetches the next page (Accept: text/html) instead of navigating: a page all the same.
  const isPage = request.mode === "navigate" || request.headers.get("Accept") === "text/html";
  if (isPage) {
    event.respondWith(networkFirst(event, request, !isPrivate));
  } else if (url.pathname.startsWith("/static/")) {
    event.respondWith(staleWhileRevalidate(event, request));
  }
});

// A saved track plays from the device; anything else streams without being kept, since the
// segments of every track ever heard would fill the disk.
async function savedFirst(request) {
  const saved = await caches.match(request, { cacheName: OFFLINE_CACHE });
  return saved || fetch(request);
}

async function staleWhileRevalidate(event, request) {
  const cache = await caches.open(SHELL_CACHE);
  const cached = await cache.match(request);
  const fresh = fetch(request).then((response) => {
    if (isKeepable(response)) event.waitUntil(cache.put(request, response.clone()));
    return response;
  });
  if (cached) {
    event.waitUntil(fresh.catch(() => undefined));
    return cached;
  }
  return fresh;
}

async function networkFirst(event, request, keep) {
  const cache = await caches.open(SHELL_CACHE);
  try {
    const response = await fetch(request);
    if (!UNREACHABLE.has(response.status)) {
      // Only pages: a navigation may also end on a file (a download) that has no place here.
      const isHtml = response.headers.get("Content-Type")?.startsWith("text/html");
      if (keep && isHtml && isKeepable(response)) {
        const copy = response.clone();
        event.waitUntil(cache.put(request, copy).then(() => trimPages(cache)));
      }
      return response;
    }
    return (await cache.match(request)) || response;
  } catch {
    return (await cache.match(request)) || offlinePage();
  }
}

function isCachedPage(cachedRequest) {
  return !new URL(cachedRequest.url).pathname.startsWith("/static/");
}

async function trimPages(cache) {
  const pages = (await cache.keys()).filter(
    (request) => isCachedPage(request) && new URL(request.url).pathname !== LIBRARY,
  );
  // Cache.keys() lists entries in the order they were last written.
  const excess = pages.slice(0, Math.max(0, pages.length - MAX_PAGES));
  await Promise.all(excess.map((request) => cache.delete(request)));
}

async function forgetPages() {
  const cache = await caches.open(SHELL_CACHE);
  const pages = (await cache.keys()).filter(isCachedPage);
  await Promise.all(pages.map((request) => cache.delete(request)));
}

function offlinePage() {
  const html = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Offline</title>
  <link rel="stylesheet" href="/static/css/oms.css">
</head>
<body>
  <main id="main" class="content">
    <h1>The node can't be reached</h1>
    <p>This page hasn't been saved on this device, and the music node isn't answering
      (you may be offline, or the node is down).</p>
    <p><a href="${LIBRARY}">Your library</a> lists the tracks saved on this device:
      they play without the node.</p>
  </main>
</body>
</html>`;
  return new Response(html, {
    status: 503,
    headers: {
      "Content-Type": "text/html; charset=utf-8",
      "Content-Security-Policy": "default-src 'self'",
      "Cache-Control": "no-store",
    },
  });
}
