"""Writes one OTLP/HTTP metrics export body (protobuf) for bench/push_load.py:
a resource (service.name/service.instance.id) with --gauges gauges and
--sums cumulative monotonic sums, one data point each, stamped now.
Run with the venv of tests/setup/otel_python.sh (it has opentelemetry-proto).

    otlp_body.py OUT [--gauges 400] [--sums 100]

Prints the number of data points.
"""

import argparse
import time

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import \
    ExportMetricsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1 import metrics_pb2

parser = argparse.ArgumentParser()
parser.add_argument("out")
parser.add_argument("--gauges", type=int, default=400)
parser.add_argument("--sums", type=int, default=100)
args = parser.parse_args()

now = time.time_ns()
request = ExportMetricsServiceRequest()
resource_metrics = request.resource_metrics.add()
for key, value in [("service.name", "bench"), ("service.instance.id", "bench-1")]:
    resource_metrics.resource.attributes.append(KeyValue(key=key, value=AnyValue(string_value=value)))
scope = resource_metrics.scope_metrics.add()
for i in range(args.gauges):
    metric = scope.metrics.add(name=f"bench_gauge_{i}", unit="1")
    point = metric.gauge.data_points.add(time_unix_nano=now, as_double=float(i))
    point.attributes.append(KeyValue(key="shard", value=AnyValue(string_value=str(i % 8))))
for i in range(args.sums):
    metric = scope.metrics.add(name=f"bench_requests_{i}")
    metric.sum.is_monotonic = True
    metric.sum.aggregation_temporality = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
    metric.sum.data_points.add(start_time_unix_nano=now - 10**9, time_unix_nano=now, as_int=i * 10)
with open(args.out, "wb") as f:
    f.write(request.SerializeToString())
print(args.gauges + args.sums)
