"""One ID: recognising one person enrolled more than once."""
