"""The OpenSubsonic API for existing mobile and desktop apps.

Arrives after the core issues (../shared/ROADMAP.md).
"""
