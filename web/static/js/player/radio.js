// When the queue runs out, the catalog's radio carries on from the last track: pages of
// fm.oms.catalog.getRadio, paged on forever with its cursor.

const PAGE_SIZE = 10;

export class Radio {
  constructor() {
    this.cursor = null;
    this.seed = null;
    this.pending = null;
  }

  // The next page of tracks to follow `last`, the queue's last entry ([] when the node has
  // nothing to offer). While the queue ends with what the radio added, the radio pages on
  // from its seed; otherwise the last track seeds a new one.
  more(last) {
    if (this.pending) return this.pending;
    if (!last.radio || !this.seed) {
      this.seed = last.track.uri;
      this.cursor = null;
    }
    const params = new URLSearchParams({ track: this.seed, limit: String(PAGE_SIZE) });
    if (this.cursor) params.set("cursor", this.cursor);
    this.pending = fetch(`/xrpc/fm.oms.catalog.getRadio?${params}`)
      .then((response) => (response.ok ? response.json() : { tracks: [] }))
      .then((page) => {
        this.cursor = page.cursor || null;
        return (page.tracks || []).filter((track) => track.streamUrl);
      })
      .catch(() => [])
      .finally(() => (this.pending = null));
    return this.pending;
  }

  toJSON() {
    return { seed: this.seed, cursor: this.cursor };
  }

  restore(saved) {
    if (!saved) return;
    this.seed = saved.seed || null;
    this.cursor = saved.cursor || null;
  }
}
