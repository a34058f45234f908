"""Tiers: membership levels earned on a qualification metric, reviewed at period ends."""
