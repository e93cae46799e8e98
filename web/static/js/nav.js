// Moving between pages without reloading them: a same-site link or GET form fetches the next
// page and swaps the content of <main>, so the player bar (outside <main>) keeps playing.
// Everything else (other sites, downloads, the portal and admin pages with scripts of their
// own, forms that post) is left to the browser.

const main = document.getElementById("main");
const FULL_LOAD = ["/portal", "/admin", "/account", "/signout", "/signin", "/signup", "/setup",
  "/reset", "/embed/", "/static/", "/hls/", "/img/", "/download/", "/xrpc/", "/sw.js",
  "/manifest.webmanifest", "/metrics", "/healthz", "/readyz"];

let current = null; // the AbortController of the navigation under way

function swappable(url) {
  if (url.origin !== window.location.origin) return false;
  return !FULL_LOAD.some((prefix) => url.pathname === prefix || url.pathname.startsWith(prefix));
}

function announce(url) {
  document.dispatchEvent(new CustomEvent("oms:navigated", { detail: { url } }));
}

export function announceFirstPage() {
  announce(window.location.href);
}

// Fetch `url` and show it in place. `replace` keeps the history entry (search as you type);
// `focus` is false when the person is typing elsewhere (the search box).
export async function navigate(url, { replace = false, focus = true, scroll = true } = {}) {
  const target = new URL(url, window.location.href);
  if (!main || !swappable(target)) {
    window.location.assign(target.href);
    return;
  }
  current?.abort();
  const controller = (current = new AbortController());
  document.documentElement.classList.add("is-loading");
  let response;
  try {
    response = await fetch(target.href, {
      headers: { Accept: "text/html" },
      credentials: "same-origin",
      signal: controller.signal,
    });
  } catch (error) {
    if (error.name === "AbortError") return;
    // Offline and nothing cached: let the browser (and the service worker) try.
    window.location.assign(target.href);
    return;
  } finally {
    if (current === controller) document.documentElement.classList.remove("is-loading");
  }
  const type = response.headers.get("content-type") || "";
  if (!type.startsWith("text/html") || response.redirected && !swappable(new URL(response.url))) {
    window.location.assign(response.url || target.href);
    return;
  }
  const page = new DOMParser().parseFromString(await response.text(), "text/html");
  const next = page.getElementById("main");
  if (!next) {
    window.location.assign(target.href);
    return;
  }
  const shown = new URL(response.url || target.href);
  shown.hash = target.hash;
  if (replace) history.replaceState({ oms: true }, "", shown.href);
  else history.pushState({ oms: true }, "", shown.href);
  show(page, next);
  if (scroll) {
    const anchor = target.hash && document.getElementById(decodeURIComponent(target.hash.slice(1)));
    if (anchor) anchor.scrollIntoView();
    else window.scrollTo(0, 0);
  }
  if (focus) main.focus({ preventScroll: true });
  announce(shown.href);
}

function show(page, next) {
  main.replaceChildren(...next.childNodes);
  document.title = page.title;
  // The page's description (link previews of a shared URL read the server's copy anyway).
  const description = page.querySelector('meta[name="description"]');
  document.querySelector('meta[name="description"]')?.setAttribute(
    "content", description?.getAttribute("content") || "");
  const live = document.getElementById("live");
  if (live) live.textContent = page.title;
}

// On window, so that the page's own handlers (on document) run first and may take the event.
window.addEventListener("click", (event) => {
  if (event.defaultPrevented || event.button !== 0) return;
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const link = event.target.closest("a[href]");
  if (!link || link.target || link.hasAttribute("download") || link.hasAttribute("data-full-load")) {
    return;
  }
  const url = new URL(link.href, window.location.href);
  if (!swappable(url)) return;
  if (url.pathname === window.location.pathname && url.search === window.location.search && url.hash) {
    return; // an anchor on this page
  }
  event.preventDefault();
  navigate(url.href);
});

window.addEventListener("submit", (event) => {
  const form = event.target;
  if (event.defaultPrevented || !(form instanceof HTMLFormElement)) return;
  if ((form.method || "get").toLowerCase() !== "get" || form.hasAttribute("data-full-load")) return;
  const url = new URL(form.action, window.location.href);
  if (!swappable(url)) return;
  event.preventDefault();
  url.search = new URLSearchParams(new FormData(form)).toString();
  navigate(url.href);
});

window.addEventListener("popstate", () => {
  navigate(window.location.href, { replace: true });
});
