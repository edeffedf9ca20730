"""Orders read model (CQRS query side), kept up to date from ORDER_* events."""
