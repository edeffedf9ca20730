"""Audit consumer: an append-only log of every event by correlation id, and its query API."""
