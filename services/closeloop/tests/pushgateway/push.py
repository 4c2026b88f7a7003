"""Pushes with Python prometheus_client the way batch jobs do, to one
Pushgateway-compatible server, and prints each HTTP outcome as JSON.

    push.py <base url> <user> <password>

Runs, in order: push_to_gateway (PUT) of a gauge, a counter, a histogram
and a summary with a grouping key holding a '/' (sent base64-encoded);
pushadd_to_gateway (POST) of one more family; a push then
delete_from_gateway of a second job; a malformed text body and a body with
a timestamp, both expected to be refused with 400.
"""

import json
import sys
import urllib.error
import urllib.request

from prometheus_client import (CollectorRegistry, Counter, Gauge, Histogram,
                               Summary, delete_from_gateway,
                               pushadd_to_gateway, push_to_gateway)
from prometheus_client.exposition import basic_auth_handler

URL, USER, PASSWORD = sys.argv[1], sys.argv[2], sys.argv[3]
GROUPING = {"instance": "db1", "path": "/var/lib/db"}


def auth(url, method, timeout, headers, data):
    return basic_auth_handler(url, method, timeout, headers, data, USER, PASSWORD)


def raw_put(path, body):
    """A push prometheus_client would never send, to see it refused."""
    request = urllib.request.Request(URL + path, data=body.encode(), method="PUT")
    request.add_header("Content-Type", "text/plain; version=0.0.4")
    opener = urllib.request.build_opener()
    import base64
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    request.add_header("Authorization", "Basic " + token)
    try:
        with opener.open(request, timeout=10) as response:
            return {"status": response.status, "body": response.read().decode()}
    except urllib.error.HTTPError as error:
        return {"status": error.code, "body": error.read().decode()}


outcomes = {}

first = CollectorRegistry()
Gauge("backup_last_success_seconds", "Last time the backup succeeded.",
      ["volume"], registry=first).labels(volume="data").set(1733500000.5)
Counter("backup_bytes", "Bytes written.", registry=first).inc(1024)
Histogram("backup_duration_seconds", "How long the backup took.",
          buckets=[1, 10, 60], registry=first).observe(42)
Summary("backup_chunk_seconds", "Time per chunk.", registry=first).observe(0.25)
push_to_gateway(URL, job="backup", registry=first, grouping_key=GROUPING, handler=auth)
outcomes["push_to_gateway"] = "ok"

second = CollectorRegistry()
Gauge("backup_files", "Files in the backup.", registry=second).set(12)
pushadd_to_gateway(URL, job="backup", registry=second, grouping_key=GROUPING, handler=auth)
outcomes["pushadd_to_gateway"] = "ok"

third = CollectorRegistry()
Gauge("cleanup_ran", "Cleanup ran.", registry=third).set(1)
push_to_gateway(URL, job="cleanup", registry=third, handler=auth)
delete_from_gateway(URL, job="cleanup", handler=auth)
outcomes["delete_from_gateway"] = "ok"

outcomes["malformed"] = raw_put("/metrics/job/broken", "# TYPE x gauge\nx 1\nx{a=\"b\" 2\n")
outcomes["timestamped"] = raw_put("/metrics/job/stamped", "stamped_value 1 1700000000000\n")

print(json.dumps(outcomes))
