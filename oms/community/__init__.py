"""Follows, likes, timed comments, playlists, feeds and moderation, all records in the actor's
repository.

Arrives after the core issues (../shared/ROADMAP.md).
"""
