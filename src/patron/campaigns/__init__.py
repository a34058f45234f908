"""Campaigns: a program's time-boxed offers to a segment, with a holdout and a budget.

A campaign lives in the program document's ``campaigns`` section. Members of
its target segment are assigned once, deterministically, to ``treatment`` or
``holdout`` (``campaign_members``); only treatment members get its earn rules,
coupons and reward; ``campaign_budgets`` counts what it gave against its budget.
Results compare treatment and holdout over the window and an attribution window.
"""
