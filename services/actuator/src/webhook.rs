//! The webhook receiver: one POST of an Alertmanager v4 body.

use crate::error::DeliveryError;
use crate::http::send;
use std::time::Duration;

/// POSTs `body` as JSON; returns the 2xx status.
pub async fn post_webhook(
    client: &reqwest::Client,
    url: &str,
    body: &serde_json::Value,
    timeout: Duration,
) -> Result<u16, DeliveryError> {
    let request = client.post(url).timeout(timeout).json(body);
    let response = send("webhook POST", request).await?;
    Ok(response.status().as_u16())
}
