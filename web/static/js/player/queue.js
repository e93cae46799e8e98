// The play queue as plain data: entries, the current index, shuffle and repeat. No DOM, no audio;
// the player asks it what comes next and saves it to localStorage with the playback position.

const STATE_KEY = "oms.player.state";
const MAX_ENTRIES = 500; // keeps the saved state well inside localStorage's quota
const REPEAT_MODES = ["off", "all", "one"];

let lastKey = 0;
// Entries get their own key so the same track can be queued twice and still be moved or
// removed on its own.
// An item is {track, pageUrl?, artistUrl?, radio?}: radio marks what the radio added.
function entry(item) {
  lastKey += 1;
  return { ...item, key: `${Date.now().toString(36)}-${lastKey}` };
}

function shuffled(items) {
  const copy = items.slice();
  for (let i = copy.length - 1; i > 0; i -= 1) {
    const j = Math.floor(Math.random() * (i + 1));
    [copy[i], copy[j]] = [copy[j], copy[i]];
  }
  return copy;
}

export class Queue {
  constructor() {
    this.entries = [];
    this.index = -1;
    this.repeat = "off";
    this.shuffle = false;
    // The order before shuffling, as entry keys, so turning shuffle off restores it.
    this.unshuffled = null;
  }

  get current() {
    return this.entries[this.index] || null;
  }

  get isEmpty() {
    return this.entries.length === 0;
  }

  // Replace everything with `items` and start at `index`; with shuffle on, that one plays
  // first and all the others follow in a random order.
  replace(items, index = 0) {
    this.entries = items.slice(0, MAX_ENTRIES).map(entry);
    this.index = this.entries.length ? Math.min(Math.max(index, 0), this.entries.length - 1) : -1;
    this.unshuffled = null;
    if (this.shuffle && this.entries.length) {
      this.unshuffled = this.entries.map((e) => e.key);
      const [first] = this.entries.splice(this.index, 1);
      this.entries = [first, ...shuffled(this.entries)];
      this.index = 0;
    }
  }

  add(item) {
    if (this.entries.length >= MAX_ENTRIES) return;
    const added = entry(item);
    this.entries.push(added);
    if (this.unshuffled) this.unshuffled.push(added.key);
    if (this.index < 0) this.index = 0;
  }

  addAll(items) {
    items.forEach((item) => this.add(item));
  }

  playNext(item) {
    if (this.entries.length >= MAX_ENTRIES) return;
    const added = entry(item);
    this.entries.splice(this.index + 1, 0, added);
    if (this.unshuffled) {
      const at = this.current ? this.unshuffled.indexOf(this.current.key) + 1 : 0;
      this.unshuffled.splice(at, 0, added.key);
    }
    if (this.index < 0) this.index = 0;
  }

  move(from, to) {
    if (from === to || !this.entries[from] || to < 0 || to >= this.entries.length) return;
    const current = this.current;
    const [moved] = this.entries.splice(from, 1);
    this.entries.splice(to, 0, moved);
    this.index = this.entries.indexOf(current);
  }

  remove(at) {
    if (!this.entries[at]) return;
    const [removed] = this.entries.splice(at, 1);
    if (this.unshuffled) this.unshuffled = this.unshuffled.filter((key) => key !== removed.key);
    if (at < this.index) this.index -= 1;
    // Removing the current entry makes the following one current (or the new last one).
    if (this.index >= this.entries.length) this.index = this.entries.length - 1;
  }

  // Clearing keeps what is playing: the listener empties the queue, not the speakers.
  clear() {
    this.entries = this.current ? [this.current] : [];
    this.index = this.entries.length ? 0 : -1;
    this.unshuffled = null;
  }

  // The index that follows the current one: `auto` is true when the track ended by itself
  // (repeat one replays it then), false when the listener asked for the next one. null: the
  // queue has run out.
  nextIndex(auto) {
    if (this.index < 0) return null;
    if (auto && this.repeat === "one") return this.index;
    if (this.index + 1 < this.entries.length) return this.index + 1;
    return this.repeat === "all" && this.entries.length ? 0 : null;
  }

  previousIndex() {
    if (this.index > 0) return this.index - 1;
    return this.repeat === "all" && this.entries.length ? this.entries.length - 1 : null;
  }

  peekNext() {
    const at = this.nextIndex(true);
    return at === null ? null : this.entries[at];
  }

  cycleRepeat() {
    this.repeat = REPEAT_MODES[(REPEAT_MODES.indexOf(this.repeat) + 1) % REPEAT_MODES.length];
    return this.repeat;
  }

  setShuffle(on) {
    if (on === this.shuffle) return;
    this.shuffle = on;
    if (on) {
      this.shuffleUpcoming();
    } else if (this.unshuffled) {
      const byKey = new Map(this.entries.map((e) => [e.key, e]));
      const current = this.current;
      this.entries = this.unshuffled.map((key) => byKey.get(key)).filter(Boolean);
      this.index = this.entries.indexOf(current);
      this.unshuffled = null;
    }
  }

  // Shuffle only what has not been played yet: the current track keeps playing.
  shuffleUpcoming() {
    this.unshuffled = this.entries.map((e) => e.key);
    const played = this.entries.slice(0, this.index + 1);
    this.entries = played.concat(shuffled(this.entries.slice(this.index + 1)));
  }

  toJSON() {
    return {
      entries: this.entries,
      index: this.index,
      repeat: this.repeat,
      shuffle: this.shuffle,
      unshuffled: this.unshuffled,
    };
  }

  static fromJSON(data) {
    const queue = new Queue();
    if (!data || !Array.isArray(data.entries)) return queue;
    queue.entries = data.entries.filter((e) => e && e.key && e.track && e.track.uri);
    queue.index = Math.min(Number(data.index) || 0, queue.entries.length - 1);
    queue.repeat = REPEAT_MODES.includes(data.repeat) ? data.repeat : "off";
    queue.shuffle = Boolean(data.shuffle);
    queue.unshuffled = Array.isArray(data.unshuffled) ? data.unshuffled : null;
    return queue;
  }
}

// The saved state: the queue, the position in the current track and the radio's cursor.
export function loadState(storage = localStorage) {
  try {
    const data = JSON.parse(storage.getItem(STATE_KEY) || "null");
    if (!data) return null;
    return {
      queue: Queue.fromJSON(data.queue),
      position: Math.max(Number(data.position) || 0, 0),
      radioCursor: data.radioCursor || null,
    };
  } catch {
    return null; // a broken or foreign value: start afresh rather than fail to load the page
  }
}

export function saveState(queue, position, radioCursor, storage = localStorage) {
  try {
    storage.setItem(STATE_KEY, JSON.stringify({ version: 1, queue, position, radioCursor }));
  } catch {
    // Quota exceeded or storage disabled: the player still works, it just won't restore.
  }
}
