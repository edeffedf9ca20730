"""Reusable constructs: one for each piece of wiring the stacks repeat."""
