//! What can fail in the actuator: the run as a whole ([`ActuatorError`])
//! and one call to a receiver ([`DeliveryError`]), which knows whether
//! trying again can help.

use closeloop_log::LogError;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ActuatorError {
    #[error("event log: {0}")]
    Log(#[from] LogError),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("building the HTTP client: {0}")]
    HttpClient(String),
}

/// One failed call to a webhook or tracker.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// The server answered with a non-success status.
    #[error("{what}: HTTP {status}: {body}")]
    Status {
        what: String,
        status: u16,
        /// The start of the response body, for the operator.
        body: String,
        retry_after: Option<Duration>,
    },
    #[error("{what}: timed out")]
    Timeout { what: String },
    /// Connecting failed, or the connection broke mid-request.
    #[error("{what}: {reason}")]
    Network { what: String, reason: String },
    /// A 2xx whose body is not what the API documents, or a request that
    /// could not be built: trying again will not help.
    #[error("{what}: {reason}")]
    Invalid { what: String, reason: String },
}

impl DeliveryError {
    /// 5xx, 429, timeouts and network errors may succeed later; other 4xx
    /// and malformed answers will not.
    pub fn retryable(&self) -> bool {
        match self {
            DeliveryError::Status { status, .. } => *status >= 500 || *status == 429,
            DeliveryError::Timeout { .. } | DeliveryError::Network { .. } => true,
            DeliveryError::Invalid { .. } => false,
        }
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            DeliveryError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Classifies a reqwest error of a request described by `what`.
    pub fn from_reqwest(what: &str, e: &reqwest::Error) -> DeliveryError {
        let what = what.to_string();
        if e.is_timeout() {
            DeliveryError::Timeout { what }
        } else if e.is_builder() || e.is_decode() {
            DeliveryError::Invalid {
                what,
                reason: error_chain(e),
            }
        } else {
            DeliveryError::Network {
                what,
                reason: error_chain(e),
            }
        }
    }
}

/// reqwest's top-level message is generic ("error sending request"); the
/// cause says what actually happened.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
