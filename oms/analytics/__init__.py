"""Listening: players' reports into the raw log (`recorder`), sessions, plays under named
rules and fraud flags kept apart from plays (`rollups`), and what creators, admins and
listeners read back (`queries`, `privacy`)."""
