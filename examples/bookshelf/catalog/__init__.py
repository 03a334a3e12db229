"""The catalogue: books, their prices, and how they are added and repriced."""
