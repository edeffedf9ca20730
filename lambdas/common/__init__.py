"""Plumbing every function shares: settings, observability, HTTP errors."""
