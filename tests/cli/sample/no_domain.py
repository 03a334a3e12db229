"""A module without any Domain."""

ANSWER = 42
