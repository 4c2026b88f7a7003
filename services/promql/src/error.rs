//! Errors of parsing and evaluation.

use thiserror::Error;

/// A query that does not parse; the message says where and why.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{message}")]
pub struct ParseError {
    pub message: String,
}

/// A query that parsed but could not be evaluated. Messages follow
/// Prometheus' wording so users can search for them.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EvalError {
    #[error("vector cannot contain metrics with the same labelset")]
    DuplicateLabelset,
    #[error("{0}")]
    VectorMatching(String),
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    InvalidQuery(String),
    #[error("{0} is not supported")]
    Unsupported(String),
}
