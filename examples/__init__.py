"""Runnable example applications built with archipel (``python -m examples.<name>``)."""
