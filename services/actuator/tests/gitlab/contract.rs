//! GitLab's REST v4 contract for the fake in `fake.rs`: the operations
//! closeloop uses, transcribed from GitLab's API reference into
//! `gitlab-v4.openapi.json` beside this file (its `info.description` cites
//! each page). GitLab publishes its REST reference as Markdown pages, and
//! its own OpenAPI file does not cover issues, so no published
//! description could be installed here; the transcription is checked by
//! the same OpenAPI checker as the Jira fake (`tests/openapi/mod.rs`).

use crate::openapi::OpenApi;
use std::sync::OnceLock;

const DOCUMENT: &str = include_str!("gitlab-v4.openapi.json");

/// The contract, parsed once per test binary.
pub fn contract() -> &'static OpenApi {
    static CONTRACT: OnceLock<OpenApi> = OnceLock::new();
    CONTRACT.get_or_init(|| {
        let doc = serde_json::from_str(DOCUMENT).expect("gitlab-v4.openapi.json is JSON");
        OpenApi::new("GitLab REST v4", "https://openapi.gitlab.test/v4.json", doc)
    })
}
