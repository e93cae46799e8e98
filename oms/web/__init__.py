"""The HTML surface (player, portal, first-run setup) and the operations endpoints (/healthz,
/readyz, /metrics).
"""
