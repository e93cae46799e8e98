// The Media Session: what the system shows on lock screens, notifications and media keys, and
// the actions they send back.

const SKIP_SECONDS = 10;
const ARTWORK_SIZES = { thumb: "96x96", small: "256x256", medium: "512x512", large: "1024x1024" };

function artworkOf(track) {
  const artwork = track.artwork || {};
  return Object.entries(ARTWORK_SIZES)
    .filter(([name]) => artwork[name])
    .map(([name, sizes]) => ({ src: artwork[name], sizes, type: "image/jpeg" }));
}

export function connectMediaSession(player) {
  if (!("mediaSession" in navigator)) return;
  const session = navigator.mediaSession;
  const audio = player.audio;

  const handlers = {
    play: () => player.play(),
    pause: () => player.pause(),
    previoustrack: () => player.previous(),
    nexttrack: () => player.next(),
    seekbackward: (d) => player.seek(player.position() - (d.seekOffset || SKIP_SECONDS)),
    seekforward: (d) => player.seek(player.position() + (d.seekOffset || SKIP_SECONDS)),
    seekto: (details) => player.seek(details.seekTime),
  };
  for (const [action, handler] of Object.entries(handlers)) {
    try {
      session.setActionHandler(action, handler);
    } catch {
      // this browser does not know the action
    }
  }

  player.on("trackchange", ({ track }) => {
    session.metadata = track
      ? new MediaMetadata({
          title: track.title,
          artist: (track.artists || []).map((a) => a.name).join(", "),
          album: track.release ? track.release.title : "",
          artwork: artworkOf(track),
        })
      : null;
  });

  const updatePosition = () => {
    const duration = player.duration();
    if (!duration || !session.setPositionState) return;
    try {
      session.setPositionState({
        duration,
        playbackRate: audio.playbackRate || 1,
        position: Math.min(player.position(), duration),
      });
    } catch {
      // a transient duration/position mismatch while a new track loads
    }
  };
  player.on("statechange", ({ playing }) => {
    session.playbackState = playing ? "playing" : "paused";
    updatePosition();
  });
  audio.addEventListener("durationchange", updatePosition);
  audio.addEventListener("seeked", updatePosition);
}
