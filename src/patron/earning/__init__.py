"""Earning: the rule engine applied to recorded events, and returns taken back."""
