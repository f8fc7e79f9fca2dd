"""Grounding: which article sentences each key point rests on, and whether its facts are there."""
