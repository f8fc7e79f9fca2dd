"""Dépêche: French news article in, English translation and key points out."""

__version__ = "0.1.0"
