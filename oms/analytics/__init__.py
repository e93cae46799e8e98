"""Listening: reported ranges to sessions, per-second coverage and rollups, with fraud flags kept
apart from plays.

Arrives with the analytics issue.
"""
