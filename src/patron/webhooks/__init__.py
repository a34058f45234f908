"""Webhooks: subscriptions per program, an outbox written with each change, delivery."""
