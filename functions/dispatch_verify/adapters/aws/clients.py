"""AWS clients, created once per process and reused across warm invocations (Lambda best practice:
creating a client loads and parses its service model, tens of milliseconds each time).

boto3 is imported by the first client, not with the module: importing boto3 and botocore costs a
cold start well over 100 ms, which a function pays only if it calls AWS. The other adapters follow
the same rule: their boto3/botocore names (``ClientError``, ``Attr``...) are imported inside the
functions that use them, after a client exists.
"""

from __future__ import annotations

import os
import threading
from typing import Any

_clients: dict[tuple[str, str, str], Any] = {}
_lock = threading.Lock()


def client(service: str) -> Any:
    """The process's client for ``service`` in the current region (and resource, for DynamoDB's
    Table API: ``client("dynamodb:resource")``)."""
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or ""
    key = (service, region, os.environ.get("AWS_ACCESS_KEY_ID", ""))
    with _lock:
        found = _clients.get(key)
        if found is None:
            import boto3.session

            session = boto3.session.Session(region_name=region or None)
            if service.endswith(":resource"):
                found = session.resource(service.split(":")[0])
            else:
                found = session.client(service)
            _clients[key] = found
        return found
