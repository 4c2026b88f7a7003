#!/usr/bin/env python3
"""Writes the benchmark's rule file: 200 alerting rules in 5 groups of 40.

Each group mixes rules over the whole fleet (aggregations by service, handler
or instance: error ratios from rate(), histogram_quantile over `le` buckets,
predict_linear, *_over_time, absent) with per-service rules that select one
service's series, the way real rule sets carry per-team thresholds. Every
range is at most 5m, so the window closeloop keeps is 5m of range plus the
5m lookback delta.

    python3 bench/gen_rules.py > rules.yml
"""

SERVICES = [f"svc-{s:02d}" for s in range(25)]
ERR = 'code=~"5.."'

GENERIC = {
    "http": [
        ("HighErrorRatio", f'sum by (service) (rate(http_requests_total{{{ERR}}}[5m])) / sum by (service) (rate(http_requests_total[5m])) > 0.05'),
        ("HandlerErrorRatio", f'sum by (service, handler) (rate(http_requests_total{{{ERR}}}[5m])) / sum by (service, handler) (rate(http_requests_total[5m])) > 0.08'),
        ("InstanceErrorRatio", f'sum by (service, instance) (rate(http_requests_total{{{ERR}}}[5m])) / sum by (service, instance) (rate(http_requests_total[5m])) > 0.1'),
        ("MethodErrorRatio", f'sum by (service, method) (rate(http_requests_total{{{ERR}}}[5m])) / ignoring (code) group_left sum by (service, method) (rate(http_requests_total[5m])) > 0.08'),
        ("High404Ratio", 'sum by (service) (rate(http_requests_total{code="404"}[5m])) / sum by (service) (rate(http_requests_total[5m])) > 0.05'),
        ("NoTraffic", 'sum by (service) (rate(http_requests_total[5m])) == 0'),
        ("LowTraffic", 'sum by (service) (rate(http_requests_total{handler!="/healthz"}[5m])) < 10'),
        ("TrafficSpike", 'sum by (service) (irate(http_requests_total[5m])) > 2 * sum by (service) (rate(http_requests_total[5m]))'),
        ("Errors503", 'sum by (service, instance) (increase(http_requests_total{code="503"}[5m])) > 500'),
        ("WriteErrors", f'sum by (service) (rate(http_requests_total{{method=~"POST|PUT|DELETE",{ERR}}}[5m])) > 5'),
        ("TopInstanceErrors", f'topk by (service) (1, sum by (service, instance) (rate(http_requests_total{{{ERR}}}[5m]))) > 2'),
        ("ErrorRatioOutlier", f'(sum by (service, instance) (rate(http_requests_total{{{ERR}}}[5m])) / sum by (service, instance) (rate(http_requests_total[5m]))) > on (service) group_left 2 * (sum by (service) (rate(http_requests_total{{{ERR}}}[5m])) / sum by (service) (rate(http_requests_total[5m])))'),
        ("InFlightHigh", 'sum by (service) (http_requests_in_flight) > 800'),
        ("InFlightMax", 'max_over_time(http_requests_in_flight[5m]) > 65'),
        ("RequestsDelta", 'abs(delta(http_requests_in_flight[5m])) > 30'),
    ],
    "latency": [
        ("LatencyP99", 'histogram_quantile(0.99, sum by (service, le) (rate(http_request_duration_seconds_bucket[5m]))) > 1'),
        ("LatencyP90", 'histogram_quantile(0.9, sum by (service, le) (rate(http_request_duration_seconds_bucket[5m]))) > 0.5'),
        ("LatencyP50", 'histogram_quantile(0.5, sum by (service, le) (rate(http_request_duration_seconds_bucket[5m]))) > 0.25'),
        ("HandlerLatencyP99", 'histogram_quantile(0.99, sum by (service, handler, le) (rate(http_request_duration_seconds_bucket{handler!="/healthz"}[5m]))) > 1.5'),
        ("InstanceLatencyP99", 'histogram_quantile(0.99, sum by (instance, le) (rate(http_request_duration_seconds_bucket[5m]))) > 2'),
        ("AvgLatency", 'sum by (service) (rate(http_request_duration_seconds_sum[5m])) / sum by (service) (rate(http_request_duration_seconds_count[5m])) > 0.3'),
        ("InstanceAvgLatency", 'rate(http_request_duration_seconds_sum[5m]) / rate(http_request_duration_seconds_count[5m]) > 0.6'),
        ("SlowRequestShare", '1 - sum by (service) (rate(http_request_duration_seconds_bucket{le="0.5"}[5m])) / sum by (service) (rate(http_request_duration_seconds_count[5m])) > 0.2'),
        ("ApdexLow", '(sum by (service) (rate(http_request_duration_seconds_bucket{le="0.25"}[5m])) + sum by (service) (rate(http_request_duration_seconds_bucket{le="1"}[5m]))) / 2 / sum by (service) (rate(http_request_duration_seconds_count[5m])) < 0.7'),
        ("ResponseSizeP95", 'histogram_quantile(0.95, sum by (service, le) (rate(http_response_size_bytes_bucket[5m]))) > 5e6'),
        ("ResponseSizeAvg", 'sum by (service, handler) (rate(http_response_size_bytes_sum[5m])) / sum by (service, handler) (rate(http_response_size_bytes_count[5m])) > 1e5'),
        ("LatencyVsFleet", 'histogram_quantile(0.99, sum by (service, le) (rate(http_request_duration_seconds_bucket[5m]))) > 3 * scalar(histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[5m]))))'),
        ("GcPauseHigh", 'max by (service) (go_gc_duration_seconds{quantile="1"}) > 0.002'),
        ("GcPauseAvg", 'avg_over_time(go_gc_duration_seconds{quantile="0.75"}[5m]) > 0.0025'),
        ("LatencyStddev", 'stddev by (service) (rate(http_request_duration_seconds_sum[5m]) / rate(http_request_duration_seconds_count[5m])) > 0.2'),
    ],
    "saturation": [
        ("QueueGrowing", 'predict_linear(queue_depth[5m], 3600) > 2000'),
        ("QueueDepthHigh", 'sum by (service, queue) (queue_depth) > 15000'),
        ("QueueDepthAvg", 'avg_over_time(queue_depth[5m]) > 1000'),
        ("QueueDeriv", 'deriv(queue_depth[5m]) > 5'),
        ("JobFailureRatio", 'sum by (service, queue) (rate(jobs_processed_total{status="failed"}[5m])) / sum by (service, queue) (rate(jobs_processed_total[5m])) > 0.05'),
        ("JobsStalled", 'sum by (service, queue) (rate(jobs_processed_total{status="ok"}[5m])) == 0 and sum by (service, queue) (queue_depth) > 0'),
        ("DbPoolExhausted", 'sum by (service, instance, pool) (db_connections{state="active"}) / sum by (service, instance, pool) (db_connections) > 0.9'),
        ("DbActiveHigh", 'max_over_time(db_connections{state="active"}[5m]) > 48'),
        ("KafkaLagHigh", 'sum by (service, topic) (kafka_consumer_lag) > 200000'),
        ("KafkaLagGrowing", 'predict_linear(kafka_consumer_lag[5m], 1800) > 12000'),
        ("KafkaLagMax", 'max by (service, topic) (max_over_time(kafka_consumer_lag[5m])) > 6900'),
        ("CacheHitRatioLow", 'sum by (service, cache) (rate(cache_hits_total[5m])) / (sum by (service, cache) (rate(cache_hits_total[5m])) + sum by (service, cache) (rate(cache_misses_total[5m]))) < 0.5'),
        ("FdsNearLimit", 'process_open_fds / process_max_fds > 0.9'),
        ("GoroutinesHigh", 'avg_over_time(go_goroutines[5m]) > 900'),
        ("ProcessCpuHigh", 'rate(process_cpu_seconds_total[5m]) > 1.4'),
        ("ProcessMemoryHigh", 'process_resident_memory_bytes > 3.2e9'),
        ("ServiceMemoryTop", 'topk(5, sum by (service) (process_resident_memory_bytes)) > 6e10'),
        ("MemoryGrowth", 'deriv(process_resident_memory_bytes[5m]) > 1e6'),
        ("InstancesUneven", 'stddev by (service) (sum by (service, instance) (rate(http_requests_total[5m]))) > 50'),
        ("QueueQuantile", 'quantile by (queue) (0.9, queue_depth) > 1200'),
    ],
    "node": [
        ("CpuBusy", '1 - avg by (service, instance) (rate(node_cpu_seconds_total{mode="idle"}[5m])) > 0.9'),
        ("CpuIowait", 'avg by (service, instance) (rate(node_cpu_seconds_total{mode="iowait"}[5m])) > 0.2'),
        ("CpuSystem", 'avg by (service, instance) (rate(node_cpu_seconds_total{mode="system"}[5m])) > 0.3'),
        ("ServiceCpu", 'sum by (service) (rate(node_cpu_seconds_total{mode!="idle"}[5m])) > 40'),
        ("CpuSteadyHigh", 'avg_over_time((1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[1m])))[4m:1m]) > 0.85'),
        ("DiskWillFill", 'predict_linear(node_filesystem_avail_bytes[5m], 4 * 3600) < 0'),
        ("DiskAlmostFull", 'node_filesystem_avail_bytes / node_filesystem_size_bytes < 0.06'),
        ("DiskAlmostFullAvg", 'avg_over_time(node_filesystem_avail_bytes[5m]) / on (service, instance, mountpoint) node_filesystem_size_bytes < 0.07'),
        ("DataDiskLow", 'min by (service) (node_filesystem_avail_bytes{mountpoint="/data"} / node_filesystem_size_bytes{mountpoint="/data"}) < 0.05'),
        ("MemoryLow", 'node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes < 0.1'),
        ("MemoryLowAvg", 'avg_over_time(node_memory_MemAvailable_bytes[5m]) / node_memory_MemTotal_bytes < 0.12'),
        ("MemoryMin", 'min_over_time(node_memory_MemAvailable_bytes[5m]) < 1e9'),
        ("ProcessRestarted", 'changes(process_start_time_seconds[5m]) > 0'),
        ("CounterReset", 'resets(process_cpu_seconds_total[5m]) > 0'),
        ("ProcessYoung", 'time() - process_start_time_seconds < 300'),
        ("CpuIdleQuantile", 'quantile_over_time(0.1, node_memory_MemAvailable_bytes[5m]) < 2e9'),
        ("CpuCountMismatch", 'count by (service, instance) (node_cpu_seconds_total{mode="idle"}) != 4'),
        ("MemoryStddev", 'stddev_over_time(node_memory_MemAvailable_bytes[5m]) > 1e9'),
        ("NodeLoadSkew", 'max by (service) (rate(node_cpu_seconds_total{mode="user"}[5m])) > 3 * min by (service) (rate(node_cpu_seconds_total{mode="user"}[5m]))'),
        ("FsSizeChanged", 'changes(node_filesystem_size_bytes[5m]) > 0'),
    ],
    "availability": [
        ("TargetDown", 'up == 0'),
        ("ScrapeSlow", 'max_over_time(scrape_duration_seconds[5m]) > 10'),
        ("MissingInstances", 'count by (service) (process_start_time_seconds) < 2'),
        ("InstanceFlapping", 'count by (service) (changes(process_start_time_seconds[5m]) > 0) > 3'),
        ("NoRequestsMetric", 'absent(http_requests_total)'),
        ("NoLatencyMetric", 'absent(http_request_duration_seconds_bucket)'),
        ("NoQueueMetric", 'absent_over_time(queue_depth[5m])'),
        ("StaleInstance", 'present_over_time(process_start_time_seconds[5m]) unless process_start_time_seconds'),
        ("HealthzErrors", f'sum by (service, instance) (rate(http_requests_total{{handler="/healthz",{ERR}}}[5m])) > 0.2'),
        ("ServiceUnavailable", 'sum by (service) (rate(http_requests_total{code="503"}[5m])) / sum by (service) (rate(http_requests_total[5m])) > 0.02'),
        ("NoSuccess", 'sum by (service) (rate(http_requests_total{code=~"2.."}[5m])) == 0'),
        ("SloBurnFast", f'(sum by (service) (increase(http_requests_total{{{ERR}}}[5m])) / sum by (service) (increase(http_requests_total[5m]))) > 14.4 * 0.001'),
        ("CountValues", 'count_values by (service) ("fds", process_max_fds) > 100'),
        ("InstanceShare", 'sum by (service, instance) (rate(http_requests_total[5m])) / on (service) group_left sum by (service) (rate(http_requests_total[5m])) > 0.2'),
        ("LabelCheck", 'label_replace(sum by (service) (rate(http_requests_total[5m])), "team", "$1", "service", "svc-(.*)") > 1e6'),
    ],
}

# One per service and group: the same questions asked with a service's own threshold.
PER_SERVICE = {
    "http": ('{s}ErrorBudget', 'sum(rate(http_requests_total{{service="{s}",' + ERR + '}}[5m])) / sum(rate(http_requests_total{{service="{s}"}}[5m])) > {t}', lambda i: 0.01 + 0.002 * i),
    "latency": ('{s}LatencyP99', 'histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{{service="{s}"}}[5m]))) > {t}', lambda i: 0.5 + 0.05 * i),
    "saturation": ('{s}QueueBacklog', 'sum by (queue) (queue_depth{{service="{s}"}}) > {t}', lambda i: 8000 + 100 * i),
    "node": ('{s}CpuSaturated', 'avg(rate(node_cpu_seconds_total{{service="{s}",mode!="idle"}}[5m])) > {t}', lambda i: 0.4 + 0.01 * i),
    "availability": ('{s}Absent', 'absent(http_requests_total{{service="{s}",handler="/healthz"}})', lambda i: 0),
}


def camel(service):
    return "Svc" + service.split("-")[1]


def main():
    out = ["groups:"]
    total = 0
    for group, rules in GENERIC.items():
        out.append(f"  - name: {group}")
        out.append("    interval: 15s")
        out.append("    rules:")
        name_t, expr_t, threshold = PER_SERVICE[group]
        per_service = 40 - len(rules)
        rules = rules + [
            (name_t.format(s=camel(s)), expr_t.format(s=s, t=round(threshold(i), 4)))
            for i, s in enumerate(SERVICES[:per_service])
        ]
        for name, expr in rules:
            out.append(f"      - alert: {name}")
            out.append(f"        expr: '{expr}'")
            out.append("        for: 1m")
            out.append("        labels:")
            out.append("          severity: warning")
            out.append(f"          group: {group}")
            out.append("        annotations:")
            out.append("          summary: '{{ $labels.service }} " + name + " at {{ $value | humanize }}'")
            total += 1
    assert total == 200, total
    print("\n".join(out))


if __name__ == "__main__":
    main()
