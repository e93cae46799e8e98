"""Background work: the durable job worker and scheduled jobs. Thin: the work itself belongs to the
rooms.
"""
