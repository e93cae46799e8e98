"""The XRPC surface: ATProto and fm.oms methods, one route table, one translator of oms.errors to
the wire.

Arrives with the PDS issue.
"""
