"""Fair compensation: a double-entry ledger, pools, payout models as pure functions, signed
statements.

Arrives after the core issues (../shared/ROADMAP.md).
"""
