"""Other nodes: remote identities, subscriptions to their firehoses, backfill, the remote catalog.

Arrives after the core issues (../shared/ROADMAP.md).
"""
