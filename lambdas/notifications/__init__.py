"""Email consumer: one email per event to the customer it concerns, through SES."""
