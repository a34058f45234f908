"""Earning's data: what the rule engine awarded, the counters its limits and budgets
read, and the lines returned.

The work that fills these tables spans domains (the ledger, the wallet, tiers, gift
stock), so it is a flow: ``patron.flows.earning`` evaluates and writes an ingest
batch's earns, ``patron.flows.returns`` takes back what a return no longer earns.
"""
