// "Share": a track's page address, with ?t=1m23s when it is the track playing, copied to the
// clipboard; where the clipboard is refused, shown in a dialog to copy by hand.

import { offsetParam } from "./clock.js";

export function shareUrl(pageUrl, seconds) {
  const url = new URL(pageUrl, location.origin);
  url.searchParams.delete("t");
  if (seconds >= 1) url.searchParams.set("t", offsetParam(seconds));
  return url.href;
}

// Resolves to true when the link is on the clipboard, false when it is shown in `dialog`.
export async function share(url, dialog) {
  try {
    await navigator.clipboard.writeText(url);
    return true;
  } catch {
    const field = dialog.querySelector("input");
    field.value = url;
    dialog.showModal();
    field.focus();
    field.select();
    return false;
  }
}
