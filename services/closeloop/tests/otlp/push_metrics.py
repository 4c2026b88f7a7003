"""Pushes a counter, an up-down counter and a histogram with the
OpenTelemetry Python SDK's OTLP/HTTP (protobuf) exporter to
sys.argv[1] + "/v1/metrics", every 500 ms for sys.argv[2] seconds."""

import sys
import time

from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource

url, seconds = sys.argv[1], float(sys.argv[2])
resource = Resource.create(
    {
        "service.name": "checkout",
        "service.namespace": "shop",
        "service.instance.id": "pod-1",
        "host.name": "node-7",
    }
)
exporter = OTLPMetricExporter(endpoint=url + "/v1/metrics", timeout=5)
reader = PeriodicExportingMetricReader(exporter, export_interval_millis=500)
provider = MeterProvider(resource=resource, metric_readers=[reader])
meter = provider.get_meter("closeloop-e2e")

orders = meter.create_counter("shop.orders", unit="{order}", description="Orders placed.")
depth = meter.create_up_down_counter("queue.depth", description="Items waiting.")
latency = meter.create_histogram(
    "request.duration",
    unit="s",
    description="Request time.",
    explicit_bucket_boundaries_advisory=[0.5, 1.0, 2.0],
)

orders.add(7, {"payment.method": "card"})
depth.add(5)
depth.add(-2)
for value in (0.2, 0.4, 1.5, 3.0):
    latency.record(value, {"http.route": "/pay"})

deadline = time.monotonic() + seconds
while time.monotonic() < deadline:
    time.sleep(0.5)
provider.shutdown()
print("pushed", flush=True)
