"""Shipping: a shipment per confirmed order, arranged with the carrier."""
