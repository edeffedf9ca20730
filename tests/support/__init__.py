"""Helpers the test suites share: fake Lambda context, moto tables, sample orders."""
