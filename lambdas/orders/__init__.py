"""Order service: the Order aggregate, its commands and its HTTP API."""
