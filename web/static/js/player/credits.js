// How a track's credits read in one line.

export function artistNames(track) {
  return (track.artists || []).map((artist) => artist.name).join(", ");
}
