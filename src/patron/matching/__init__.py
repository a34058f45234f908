"""One ID matching: recognise one person behind several member records."""
