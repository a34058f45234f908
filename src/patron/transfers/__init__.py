"""Point transfers between members."""
