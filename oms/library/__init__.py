"""The catalog index of music records, local and remote: artists, releases, tracks, search, and
ingest of uploaded media.

Arrives with the catalog issue (see ../shared/ROADMAP.md and the open issues).
"""
