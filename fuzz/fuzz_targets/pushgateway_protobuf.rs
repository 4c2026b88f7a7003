//! Pushgateway pushes as delimited `io.prometheus.client.MetricFamily`.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    closeloop_fuzz::check_request(
        "POST",
        "/metrics/job@base64/ZnV6eg/instance/a",
        &[(
            "content-type",
            "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited",
        )],
        body,
    );
});
