"""One boto3 client per service per process, shared by every class that calls the service (the
event store, the stock, the audit log...). Creating a client loads its service model, a few
milliseconds each; a cold start creates each one once, not once per class."""

from __future__ import annotations

from functools import cache

import boto3


@cache
def client(service: str):
    return boto3.client(service)
