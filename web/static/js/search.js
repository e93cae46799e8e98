// Search as you type: the header's search box shows the results page while the person types
// (without stealing focus or piling up history), and the filters apply as they change.
import { navigate } from "./nav.js";

const box = document.getElementById("search-q");
const DELAY_MS = 180;
let timer = null;

function searchUrl(q) {
  const url = new URL("/search", window.location.href);
  // Keep the filters already chosen on the results page.
  if (window.location.pathname === "/search") {
    for (const [key, value] of new URLSearchParams(window.location.search)) {
      if (key !== "q" && key !== "cursor" && value) url.searchParams.set(key, value);
    }
  }
  if (q) url.searchParams.set("q", q);
  return url.href;
}

box?.addEventListener("input", () => {
  clearTimeout(timer);
  timer = setTimeout(() => {
    const q = box.value.trim();
    const onResults = window.location.pathname === "/search";
    navigate(searchUrl(q), { replace: onResults, focus: false, scroll: false });
  }, DELAY_MS);
});

document.addEventListener("change", (event) => {
  const form = event.target.closest?.("form[data-search-filters]");
  if (form) form.requestSubmit();
});

// The box shows the query of the results page the person came back to.
document.addEventListener("oms:navigated", (event) => {
  if (!box || document.activeElement === box) return;
  const url = new URL(event.detail.url);
  box.value = url.pathname === "/search" ? url.searchParams.get("q") || "" : "";
});
