//! Per-request limits on what a client sends, shared by every decoder:
//! how many series one request may carry (413 above) and how long a label
//! name or value may be (400 above). Each refusal names the limit and its
//! configured value, so the sender's operator knows what to change.

use crate::error::IngestError;
use crate::IngestLimits;

/// Checks the series count of one request.
pub fn check_series_count(limits: &IngestLimits, series: usize) -> Result<(), IngestError> {
    if limits.max_series_per_request > 0 && series > limits.max_series_per_request {
        return Err(IngestError::TooLarge(format!(
            "request has more than {} series, the limit ingest.max_series_per_request",
            limits.max_series_per_request
        )));
    }
    Ok(())
}

/// Checks one label of series `index` of a request.
pub fn check_label(
    limits: &IngestLimits,
    index: usize,
    name: &str,
    value: &str,
) -> Result<(), IngestError> {
    if limits.max_label_name_length > 0 && name.len() > limits.max_label_name_length {
        return Err(IngestError::BadRequest(format!(
            "series {index}: label name of {} bytes is longer than ingest.max_label_name_length = {}",
            name.len(),
            limits.max_label_name_length
        )));
    }
    if limits.max_label_value_length > 0 && value.len() > limits.max_label_value_length {
        return Err(IngestError::BadRequest(format!(
            "series {index}: value of label {name:?} ({} bytes) is longer than ingest.max_label_value_length = {}",
            value.len(),
            limits.max_label_value_length
        )));
    }
    Ok(())
}

/// Checks series `index` (0-based) of a request and its labels.
pub fn check_series<'a>(
    limits: &IngestLimits,
    index: usize,
    labels: impl Iterator<Item = (&'a str, &'a str)>,
) -> Result<(), IngestError> {
    check_series_count(limits, index + 1)?;
    for (name, value) in labels {
        check_label(limits, index, name, value)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    fn limits() -> IngestLimits {
        IngestLimits {
            max_series_per_request: 2,
            max_label_name_length: 8,
            max_label_value_length: 4,
            ..IngestLimits::default()
        }
    }

    #[test]
    fn each_refusal_names_its_limit_and_status() {
        let ok = [("__name__", "up")];
        assert!(check_series(&limits(), 1, ok.into_iter()).is_ok());
        let err = check_series(&limits(), 2, ok.into_iter()).unwrap_err();
        assert_eq!(err.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert!(
            err.to_string().contains("ingest.max_series_per_request"),
            "{err}"
        );
        let err = check_series(&limits(), 0, [("long_name_", "x")].into_iter()).unwrap_err();
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
        assert!(
            err.to_string().contains("ingest.max_label_name_length = 8"),
            "{err}"
        );
        let err = check_series(&limits(), 0, [("job", "toolong")].into_iter()).unwrap_err();
        assert!(
            err.to_string()
                .contains("ingest.max_label_value_length = 4"),
            "{err}"
        );
    }

    #[test]
    fn zero_means_unlimited() {
        let none = IngestLimits {
            max_series_per_request: 0,
            max_label_name_length: 0,
            max_label_value_length: 0,
            ..IngestLimits::default()
        };
        let long = "x".repeat(100_000);
        assert!(check_series(
            &none,
            1_000_000,
            [(long.as_str(), long.as_str())].into_iter()
        )
        .is_ok());
    }
}
