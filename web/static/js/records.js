// Building fm.oms.track and fm.oms.release records from the portal's forms.
import { query } from "./xrpc.js";

export function list(text, limit = 50) {
  return String(text || "")
    .split(",")
    .map((item) => item.trim())
    .filter(Boolean)
    .slice(0, limit);
}

export function dateTime(day) {
  return day ? `${day}T00:00:00.000Z` : undefined;
}

export function normalIsrc(text) {
  const value = String(text || "").replace(/[-\s]/g, "").toUpperCase();
  if (!value) return undefined;
  if (!/^[A-Z]{2}[A-Z0-9]{3}[0-9]{7}$/.test(value)) {
    throw new Error(`“${text}” is not an ISRC (12 characters, e.g. USRC17607839)`);
  }
  return value;
}

// The first credited artist is the uploader; the others are credited by name.
export function credits(names, selfDid, fallbackName) {
  const all = names.length ? names : [fallbackName];
  return all.map((name, index) =>
    index === 0 ? { name, role: "primary", did: selfDid } : { name, role: "primary" },
  );
}

// "handle-or-did = percent" lines into splits in basis points that add up to 100%.
export async function splits(text) {
  const lines = String(text || "")
    .split("\n")
    .map((line) => line.trim())
    .filter(Boolean);
  if (!lines.length) return undefined;
  const result = [];
  for (const line of lines) {
    const match = line.match(/^@?([^=\s]+)\s*=\s*([0-9]+(?:\.[0-9]{1,2})?)\s*%?$/);
    if (!match) throw new Error(`a split line reads “${line}”; write it as “handle = percent”`);
    let did = match[1];
    if (!did.startsWith("did:")) {
      try {
        did = (await query("com.atproto.identity.resolveHandle", { handle: did })).did;
      } catch {
        throw new Error(`no account with the handle ${match[1]} for a royalty split`);
      }
    }
    result.push({ did, shareBps: Math.round(Number(match[2]) * 100) });
  }
  const total = result.reduce((sum, split) => sum + split.shareBps, 0);
  if (total !== 10000) {
    throw new Error(`the royalty splits add up to ${total / 100}%, not 100%`);
  }
  return result;
}

export function withoutEmpty(record) {
  for (const [key, value] of Object.entries(record)) {
    if (value === undefined || value === null || value === "" ||
        (Array.isArray(value) && value.length === 0)) {
      delete record[key];
    }
  }
  return record;
}

export function number(value) {
  const parsed = parseInt(value, 10);
  return Number.isFinite(parsed) && parsed > 0 ? parsed : undefined;
}
