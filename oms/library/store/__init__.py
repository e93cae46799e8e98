"""The library room's SQL, private to the room: `writes` (catalog rows on the writer's
thread), `tracks` (track search and browsing reads), `catalog` (artists, releases, genres) and
`discovery` (trends, neighbours, radio pools) and `words` (the typo pass's words)."""
