"""The archipel test suite (a package, so that helpers import as ``tests._servers``)."""
