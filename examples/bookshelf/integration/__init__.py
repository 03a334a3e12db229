"""The context's borders: what comes in from outside, what goes out to other contexts."""
