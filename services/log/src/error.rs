//! What can go wrong with the log, in terms a caller can act on.

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The log cannot take or serve data right now; retrying later may work.
    #[error("event log unavailable: {0}")]
    Unavailable(String),
    /// The request itself is wrong (unknown partition, bad topic name, ...).
    #[error("invalid log request: {0}")]
    Invalid(String),
    /// Stored data failed its checksum or could not be read.
    #[error("event log corrupt: {0}")]
    Corrupt(String),
    #[error("event log I/O: {0}")]
    Io(#[from] std::io::Error),
}
