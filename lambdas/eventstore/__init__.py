"""The DynamoDB event store, the source of truth of every aggregate."""
