"""User service: registration, with each email address registered once."""
