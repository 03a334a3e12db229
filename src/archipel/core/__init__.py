"""Domain building blocks: pure, no I/O, no globals."""
