"""Rewards: the catalog a member sees, and redeeming points for a reward."""
