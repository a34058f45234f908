"""Notifications: messages to members (points earned, points expiring soon, tier changed,
reward redeemed), written with the change that caused them, only where the member's
consent allows the channel, and sent by e-mail by a scheduled pass (``send_due``)."""
