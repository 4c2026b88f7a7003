//! Alertmanager webhook v4 payloads into `POST /api/v1/alertmanager`.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    closeloop_fuzz::check_request(
        "POST",
        "/api/v1/alertmanager",
        &[("content-type", "application/json")],
        body,
    );
});
