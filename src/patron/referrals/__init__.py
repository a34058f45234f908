"""Referrals: member-get-member, attributed on sign-up, paid after a first purchase."""
