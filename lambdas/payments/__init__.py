"""Payments service: a simulated provider that charges, declines and refunds."""
