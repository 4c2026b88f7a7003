//! Deploy JSON (schemas/DeployRequest.json) into `POST /api/v1/deploys`.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    closeloop_fuzz::check_request(
        "POST",
        "/api/v1/deploys",
        &[("content-type", "application/json")],
        body,
    );
});
