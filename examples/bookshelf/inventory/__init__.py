"""Inventory: copies on hand per book, reserved for orders and released again."""
