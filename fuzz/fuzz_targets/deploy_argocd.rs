//! Argo CD notification bodies into `POST /api/v1/deploys/argocd`.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    closeloop_fuzz::check_request(
        "POST",
        "/api/v1/deploys/argocd",
        &[("content-type", "application/json")],
        body,
    );
});
