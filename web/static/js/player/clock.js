// Times as people read and write them: "1:23" on screen, "1m23s" in share links (?t=).

export function clock(totalSeconds) {
  const s = Math.max(Math.floor(totalSeconds || 0), 0);
  const minutes = Math.floor(s / 60);
  const seconds = String(s % 60).padStart(2, "0");
  if (minutes < 60) return `${minutes}:${seconds}`;
  return `${Math.floor(minutes / 60)}:${String(minutes % 60).padStart(2, "0")}:${seconds}`;
}

export function offsetParam(totalSeconds) {
  const s = Math.max(Math.floor(totalSeconds || 0), 0);
  return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
}
