"""The database: one writer connection, read-only readers, numbered SQL migrations, a durable job
queue.
"""
