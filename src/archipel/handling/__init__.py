"""Units of work, repositories and synchronous dispatch."""
