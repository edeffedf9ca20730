"""Inventory service: stock per product, every change published as an event."""
