//! The fuzz harness shared by every target: the real ingest router over a
//! log that accepts and forgets everything, and the one property each
//! target checks — any body gets a 2xx or a 4xx with a message, never a
//! panic and never a 5xx.

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use closeloop_ingest::{router, IngestLimits, IngestState, WebhookSecrets};
use closeloop_log::{
    CommittedPosition, EventLog, LogError, Membership, NewRecord, Offset, StoredRecord,
};
use http_body_util::BodyExt;
use secrecy::SecretString;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tower::ServiceExt;

/// Takes every append: a fuzz run is about decoding, not storage.
struct DiscardLog;

#[async_trait]
impl EventLog for DiscardLog {
    async fn append(
        &self,
        _: &str,
        records: Vec<NewRecord>,
    ) -> Result<Vec<(u32, Offset)>, LogError> {
        Ok((0..records.len() as u64).map(|o| (0, o)).collect())
    }
    async fn partitions(&self, _: &str) -> Result<u32, LogError> {
        Ok(1)
    }
    async fn read(
        &self,
        _: &str,
        _: u32,
        _: Offset,
        _: usize,
        _: Duration,
    ) -> Result<Vec<StoredRecord>, LogError> {
        Ok(vec![])
    }
    async fn end_offset(&self, _: &str, _: u32) -> Result<Offset, LogError> {
        Ok(0)
    }
    async fn commit(&self, _: &str, _: &str, _: u32, _: CommittedPosition) -> Result<(), LogError> {
        Ok(())
    }
    async fn committed(
        &self,
        _: &str,
        _: &str,
        _: u32,
    ) -> Result<Option<CommittedPosition>, LogError> {
        Ok(None)
    }
    async fn join(&self, _: &str, _: &str) -> Result<Membership, LogError> {
        Ok(Membership::fixed([0]))
    }
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a current-thread runtime")
    })
}

/// The GitHub and GitLab webhook secret of the fuzzed router, so the
/// webhook targets get past verification to the payload mapping.
pub const WEBHOOK_SECRET: &str = "fuzz-secret";

/// Sends `body` as `method path` with the given headers through the ingest
/// router and panics (a fuzz finding) on a 5xx or a 4xx without a message.
pub fn check_request(method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) {
    let mut state = IngestState::new(Arc::new(DiscardLog), "closeloop", small_limits());
    state.webhooks = WebhookSecrets {
        github: Some(Arc::new(SecretString::from(WEBHOOK_SECRET))),
        gitlab: Some(Arc::new(SecretString::from(WEBHOOK_SECRET))),
    };
    let mut request = Request::builder().method(method).uri(path);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request
        .body(Body::from(body.to_vec()))
        .expect("a request from fixed parts");
    runtime().block_on(async move {
        let response = router(state)
            .oneshot(request)
            .await
            .expect("infallible service");
        let status = response.status();
        let text = response
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        assert!(
            !status.is_server_error(),
            "{method} {path}: {status} for a client's body: {}",
            String::from_utf8_lossy(&text)
        );
        if status.is_client_error() && status != StatusCode::UNSUPPORTED_MEDIA_TYPE {
            assert!(
                !text.is_empty(),
                "{method} {path}: {status} without a message"
            );
        }
    });
}

/// Small enough that the 413 paths are reached by fuzzed inputs too.
fn small_limits() -> IngestLimits {
    IngestLimits {
        max_body_bytes: 1 << 20,
        max_decoded_bytes: 4 << 20,
        ..IngestLimits::default()
    }
}
