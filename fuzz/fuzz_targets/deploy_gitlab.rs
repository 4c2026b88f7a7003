//! GitLab deployment events with the right token into
//! `POST /api/v1/deploys/gitlab`.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    closeloop_fuzz::check_request(
        "POST",
        "/api/v1/deploys/gitlab",
        &[
            ("content-type", "application/json"),
            ("x-gitlab-event", "Deployment Hook"),
            ("x-gitlab-token", closeloop_fuzz::WEBHOOK_SECRET),
        ],
        body,
    );
});
