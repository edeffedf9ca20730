"""Outbox publisher: DynamoDB stream of the event store to the EventBridge bus."""
