//! OTLP/HTTP ExportMetricsServiceRequest bodies in OTLP's JSON mapping.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    closeloop_fuzz::check_request(
        "POST",
        "/v1/metrics",
        &[("content-type", "application/json")],
        body,
    );
});
