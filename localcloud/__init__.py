"""The local cloud: MiniStack on 127.0.0.1 with the platform deployed in it by the real CDK CLI."""
