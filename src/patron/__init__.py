"""Patron: an open-source customer loyalty and incentive platform."""

__version__ = "0.1.0"
