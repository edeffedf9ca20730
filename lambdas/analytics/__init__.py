"""Analytics consumer: per-day counters and metrics from every event, and their query API."""
