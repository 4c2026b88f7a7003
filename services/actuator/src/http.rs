//! Sending one request and turning what comes back into a response or a
//! [`DeliveryError`] that knows whether to retry.

use crate::error::DeliveryError;
use crate::retry::parse_retry_after;
use chrono::Utc;

/// `closeloop/<version>`, sent on every outgoing request.
pub const USER_AGENT: &str = concat!("closeloop/", env!("CARGO_PKG_VERSION"));

/// How much of an error body goes into events and logs.
const MAX_ERROR_BODY: usize = 512;

/// Sends the request; a non-2xx answer becomes `DeliveryError::Status`.
pub async fn send(
    what: &str,
    request: reqwest::RequestBuilder,
) -> Result<reqwest::Response, DeliveryError> {
    let response = request
        .header(reqwest::header::USER_AGENT, USER_AGENT)
        .send()
        .await
        .map_err(|e| DeliveryError::from_reqwest(what, &e))?;
    into_result(what, response).await
}

/// A 2xx answer as it is; anything else as `DeliveryError::Status`.
pub async fn into_result(
    what: &str,
    response: reqwest::Response,
) -> Result<reqwest::Response, DeliveryError> {
    if response.status().is_success() {
        return Ok(response);
    }
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    // The body only helps the operator; failing to read it is not an error.
    let body = response.text().await.unwrap_or_default();
    Err(status_error(what, status, &headers, &body))
}

pub fn status_error(
    what: &str,
    status: u16,
    headers: &reqwest::header::HeaderMap,
    body: &str,
) -> DeliveryError {
    let retry_after = headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, Utc::now()));
    DeliveryError::Status {
        what: what.to_string(),
        status,
        body: truncate(body.trim(), MAX_ERROR_BODY),
        retry_after,
    }
}

fn truncate(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_string();
    }
    let cut: String = text.chars().take(max_chars).collect();
    format!("{cut}…")
}

/// A 2xx answer's JSON body as `T`; a body that is not what the API
/// documents is `DeliveryError::Invalid` (retrying will not mend it).
pub async fn json_body<T: serde::de::DeserializeOwned>(
    what: &str,
    response: reqwest::Response,
) -> Result<T, DeliveryError> {
    let bytes = response
        .bytes()
        .await
        .map_err(|e| DeliveryError::from_reqwest(what, &e))?;
    serde_json::from_slice(&bytes).map_err(|e| DeliveryError::Invalid {
        what: what.to_string(),
        reason: format!("unexpected answer: {e}"),
    })
}

/// A tracker's base URL from its config: trailing `/` dropped; `None`
/// when it does not parse or cannot take path segments (`mailto:`).
pub fn base_url(text: &str) -> Option<reqwest::Url> {
    reqwest::Url::parse(text.trim_end_matches('/'))
        .ok()
        .filter(|u| !u.cannot_be_a_base())
}

/// `base` with these path segments appended, each escaped (a `/` inside
/// one becomes `%2F`).
pub fn with_segments(base: &reqwest::Url, segments: &[&str]) -> reqwest::Url {
    let mut url = base.clone();
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty().extend(segments);
    }
    url
}
