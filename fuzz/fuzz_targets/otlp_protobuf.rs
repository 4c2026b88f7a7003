//! OTLP/HTTP ExportMetricsServiceRequest bodies in protobuf.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    closeloop_fuzz::check_request(
        "POST",
        "/v1/metrics",
        &[("content-type", "application/x-protobuf")],
        body,
    );
});
