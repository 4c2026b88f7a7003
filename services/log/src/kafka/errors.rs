//! librdkafka's errors in the log's terms: the caller's mistake is
//! `Invalid`, damaged data is `Corrupt`, and everything a broker or the
//! network may get over is `Unavailable` (ingest answers 503 and the sender
//! retries), which is also the answer for anything not recognised.

use crate::LogError;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};

/// `context` says what was being done ("append to closeloop.samples").
pub(crate) fn log_error(context: &str, error: &KafkaError) -> LogError {
    let message = format!("{context}: {error}");
    match error.rdkafka_error_code() {
        Some(code) => from_code(code, message),
        // Configuration and client creation failures without a code: a
        // bad pass-through property is the operator's to fix.
        None => match error {
            KafkaError::ClientConfig(..) | KafkaError::ClientCreation(_) => {
                LogError::Invalid(message)
            }
            _ => LogError::Unavailable(message),
        },
    }
}

pub(crate) fn from_code(code: RDKafkaErrorCode, message: String) -> LogError {
    use RDKafkaErrorCode as C;
    match code {
        C::InvalidTopic
        | C::UnknownPartition
        | C::InvalidArgument
        | C::InvalidPartitions
        | C::InvalidReplicationFactor
        | C::InvalidConfig
        | C::PolicyViolation
        | C::MessageSizeTooLarge
        | C::InvalidMessageSize
        | C::MessageBatchTooLarge
        | C::OffsetMetadataTooLarge
        | C::InvalidRecord
        | C::InvalidTimestamp
        | C::InvalidRequest
        | C::InvalidGroupId
        | C::InvalidCommitOffsetSize
        | C::OffsetOutOfRange
        | C::AutoOffsetReset => LogError::Invalid(message),
        C::BadMessage | C::BadCompression | C::InvalidMessage | C::KafkaStorageError => {
            LogError::Corrupt(message)
        }
        _ => LogError::Unavailable(message),
    }
}

/// The broker no longer knows the topic (deleted, or a broker without
/// persistent storage restarted): the cached partition count is stale.
pub(crate) fn is_unknown_topic(error: &KafkaError) -> bool {
    matches!(
        error.rdkafka_error_code(),
        Some(RDKafkaErrorCode::UnknownTopicOrPartition | RDKafkaErrorCode::UnknownTopic)
    )
}

/// librdkafka gave up waiting for an acknowledgement.
pub(crate) fn is_timeout(error: &KafkaError) -> bool {
    matches!(
        error.rdkafka_error_code(),
        Some(RDKafkaErrorCode::MessageTimedOut | RDKafkaErrorCode::RequestTimedOut)
    )
}

/// The producer hit a fatal error (e.g. an idempotence sequence it cannot
/// recover) and refuses every further message until replaced.
pub(crate) fn is_fatal(error: &KafkaError) -> bool {
    matches!(error.rdkafka_error_code(), Some(RDKafkaErrorCode::Fatal))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_and_broker_outages_are_unavailable() {
        for code in [
            RDKafkaErrorCode::MessageTimedOut,
            RDKafkaErrorCode::AllBrokersDown,
            RDKafkaErrorCode::BrokerTransportFailure,
            RDKafkaErrorCode::QueueFull,
            RDKafkaErrorCode::NotEnoughReplicas,
            RDKafkaErrorCode::LeaderNotAvailable,
            RDKafkaErrorCode::Fatal,
        ] {
            let error = KafkaError::MessageProduction(code);
            assert!(
                matches!(log_error("append", &error), LogError::Unavailable(_)),
                "{code:?}"
            );
        }
    }

    #[test]
    fn oversized_records_and_bad_offsets_are_invalid() {
        for error in [
            KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge),
            KafkaError::MessageConsumption(RDKafkaErrorCode::OffsetOutOfRange),
            KafkaError::ConsumerCommit(RDKafkaErrorCode::OffsetMetadataTooLarge),
        ] {
            assert!(
                matches!(log_error("op", &error), LogError::Invalid(_)),
                "{error:?}"
            );
        }
    }
}
