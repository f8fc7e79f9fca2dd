"""Glossaries and protected words: entry rules, term matching, placeholders, the stored set."""
