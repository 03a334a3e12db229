"""Integrations with other tools (FastAPI, pytest). Optional dependencies load lazily."""
