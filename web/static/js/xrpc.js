// Calls to the node's XRPC methods from its own pages: the session cookie goes along, and the
// session's CSRF token (from the page's <meta name="csrf-token">) proves the call is ours.

const csrfToken = document.querySelector('meta[name="csrf-token"]')?.content ?? "";
// Only a signed-in page has a token; without one the call is anonymous (an empty header with
// a leftover session cookie would be refused as a bad token instead).
const csrfHeaders = csrfToken ? { "X-CSRF-Token": csrfToken } : {};

export class XrpcError extends Error {
  constructor(status, body) {
    super(body?.message || `the node answered ${status}`);
    this.status = status;
    this.error = body?.error || "Error";
  }
}

async function answer(response) {
  const text = await response.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : {};
  } catch {
    body = { message: text.slice(0, 300) };
  }
  if (!response.ok) throw new XrpcError(response.status, body);
  return body;
}

export async function query(nsid, params = {}) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null) search.append(key, String(value));
  }
  const response = await fetch(`/xrpc/${nsid}?${search}`, {
    headers: csrfHeaders,
    credentials: "same-origin",
  });
  return answer(response);
}

export async function procedure(nsid, input) {
  const response = await fetch(`/xrpc/${nsid}`, {
    method: "POST",
    headers: { "Content-Type": "application/json", ...csrfHeaders },
    credentials: "same-origin",
    body: JSON.stringify(input),
  });
  return answer(response);
}

// com.atproto.repo.uploadBlob, streamed from the file on disk, with progress (0..1).
export function uploadBlob(file, onProgress = () => {}) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open("POST", "/xrpc/com.atproto.repo.uploadBlob");
    request.setRequestHeader("Content-Type", file.type || "application/octet-stream");
    if (csrfToken) request.setRequestHeader("X-CSRF-Token", csrfToken);
    request.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    });
    request.addEventListener("load", () => {
      let body = {};
      try {
        body = JSON.parse(request.responseText || "{}");
      } catch {
        body = { message: (request.responseText || "").slice(0, 300) };
      }
      if (request.status === 200) resolve(body.blob);
      else reject(new XrpcError(request.status, body));
    });
    request.addEventListener("error", () =>
      reject(new XrpcError(0, { message: "the upload was interrupted (network error)" })),
    );
    request.send(file);
  });
}

// Live progress of the signed-in artist's media: onEvent({cid, status, progress, error}).
export function mediaEvents(onEvent, onResync = () => window.location.reload()) {
  const source = new EventSource("/portal/events");
  source.addEventListener("media", (event) => onEvent(JSON.parse(event.data)));
  source.addEventListener("resync", onResync);
  return source;
}
