"""The wallet: a member's money balance (cashback), with its own append-only ledger."""
