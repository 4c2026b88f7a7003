//! Pushgateway pushes in the text exposition format 0.0.4.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    closeloop_fuzz::check_request(
        "PUT",
        "/metrics/job/fuzz/instance/a",
        &[("content-type", "text/plain; version=0.0.4")],
        body,
    );
});
