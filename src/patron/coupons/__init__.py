"""Coupons: unique codes for promotions and rewards, validated and redeemed at checkout."""
