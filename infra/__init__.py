"""CDK app: stacks, constructs and stage settings of the order platform."""
