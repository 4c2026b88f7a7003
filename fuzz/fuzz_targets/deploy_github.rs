//! GitHub `deployment_status` deliveries, correctly signed, into
//! `POST /api/v1/deploys/github`.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let signature =
        closeloop_ingest::github_signature(closeloop_fuzz::WEBHOOK_SECRET.as_bytes(), body);
    let headers = [
        ("content-type", "application/json"),
        ("x-github-event", "deployment_status"),
        ("x-hub-signature-256", signature.as_str()),
    ];
    closeloop_fuzz::check_request("POST", "/api/v1/deploys/github", &headers, body);
});
