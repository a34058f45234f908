"""Importing history and members from JSONL or CSV files through the normal services."""
