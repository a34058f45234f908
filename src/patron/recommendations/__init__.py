"""Recommendations: the rewards each member is likely to redeem, and the categories and
products they are likely to buy next.

A training (``jobs.train_program``: ``patron recommendations train`` and the daily
features job) fits an ``implicit`` model on the program's purchase lines and
redemptions (``model``), keeps only rewards the member may redeem by the rewards
domain's own rules, and stores each active member's top items with a score and a
reason. ``GET /members/{id}/recommendations`` reads those rows; static segments of
"members likely to buy X" are built from them for campaigns (``flows.likely_segments``).
"""
