//! Alertmanager API v2 PostableAlerts into `POST /api/v2/alerts`.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    closeloop_fuzz::check_request(
        "POST",
        "/api/v2/alerts",
        &[("content-type", "application/json")],
        body,
    );
});
