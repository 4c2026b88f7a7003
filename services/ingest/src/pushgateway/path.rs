//! The grouping key of a Pushgateway URL:
//! `/metrics/job/<job>{/<label>/<value>}`, where `<name>@base64` marks a
//! value (or, in `/metrics/job@base64/<job>`, the job) as base64url
//! (RFC 4648, padding optional; `=` alone is the empty value). Names and
//! errors as `handler/push.go` of prometheus/pushgateway 1.x has them.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use closeloop_core::pushed::{valid_label_name, GroupingKey};

const BASE64_SUFFIX: &str = "@base64";

/// `rest` is the decoded path after `/metrics/job/` (or `job@base64/`):
/// the job, then label/value pairs.
pub fn grouping_key(rest: &str, job_base64: bool) -> Result<GroupingKey, String> {
    let (job, labels) = match rest.split_once('/') {
        Some((job, labels)) => (job, Some(labels)),
        None => (rest, None),
    };
    let job = if job_base64 {
        decode(job).map_err(|e| format!("invalid base64 encoding in job name {job:?}: {e}"))?
    } else {
        job.to_string()
    };
    let mut key = GroupingKey::new();
    if let Some(labels) = labels.filter(|l| !l.is_empty()) {
        let parts: Vec<&str> = labels.split('/').collect();
        if parts.len() % 2 != 0 {
            return Err(format!(
                "odd number of components in label string \"/{labels}\""
            ));
        }
        for pair in parts.chunks(2) {
            let (name, value) = (pair[0], pair[1]);
            let trimmed = name.strip_suffix(BASE64_SUFFIX).unwrap_or(name);
            if !valid_label_name(trimmed) || trimmed.starts_with("__") {
                return Err(format!("improper label name {trimmed:?}"));
            }
            let value = if trimmed.len() == name.len() {
                value.to_string()
            } else {
                decode(value).map_err(|e| {
                    format!("invalid base64 encoding for label {trimmed}={value:?}: {e}")
                })?
            };
            key.insert(trimmed.to_string(), value);
        }
    }
    if job.is_empty() {
        return Err("job name is required".into());
    }
    key.insert("job".into(), job);
    Ok(key)
}

/// The event key of a group: `name=value` pairs in name order, so every
/// push to one group lands in one partition, in order.
pub fn event_key(key: &GroupingKey) -> String {
    let pairs: Vec<String> = key.iter().map(|(n, v)| format!("{n}={v}")).collect();
    pairs.join(",")
}

fn decode(text: &str) -> Result<String, String> {
    let bytes = URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .map_err(|e| e.to_string())?;
    String::from_utf8(bytes).map_err(|_| "not UTF-8".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(key: &GroupingKey) -> Vec<(&str, &str)> {
        key.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect()
    }

    #[test]
    fn plain_and_base64_labels() {
        let key = grouping_key("backup/instance/db1/path@base64/L3Zhci90bXA", false).unwrap();
        assert_eq!(
            pairs(&key),
            [("instance", "db1"), ("job", "backup"), ("path", "/var/tmp")]
        );
        // `=` alone is the empty value; padding is optional.
        let key = grouping_key("j/empty@base64/=/pad@base64/YQ==", false).unwrap();
        assert_eq!(pairs(&key), [("empty", ""), ("job", "j"), ("pad", "a")]);
        let key = grouping_key("L2pvYi9h", true).unwrap();
        assert_eq!(pairs(&key), [("job", "/job/a")]);
    }

    #[test]
    fn refusals_say_what_is_wrong() {
        assert_eq!(
            grouping_key("j/instance", false).unwrap_err(),
            "odd number of components in label string \"/instance\""
        );
        assert_eq!(
            grouping_key("j/__x/1", false).unwrap_err(),
            "improper label name \"__x\""
        );
        assert_eq!(
            grouping_key("j/1a/1", false).unwrap_err(),
            "improper label name \"1a\""
        );
        assert!(grouping_key("j/a@base64/!!", false)
            .unwrap_err()
            .starts_with("invalid base64 encoding for label a=\"!!\""));
        assert_eq!(grouping_key("", false).unwrap_err(), "job name is required");
        // A trailing slash is no label at all, as in the Pushgateway.
        assert_eq!(pairs(&grouping_key("j/", false).unwrap()), [("job", "j")]);
    }

    #[test]
    fn event_keys_are_sorted_pairs() {
        let key = grouping_key("backup/zone/eu/instance/db1", false).unwrap();
        assert_eq!(event_key(&key), "instance=db1,job=backup,zone=eu");
    }
}
