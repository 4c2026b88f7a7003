//! Topic directories: which names are allowed, which topics exist on disk,
//! and creating a topic's partition directories atomically.

use super::fsutil::sync_dir;
use crate::LogError;
use std::fs;
use std::path::Path;

/// Directory of consumer group checkpoints, beside the topics; reserved.
pub(crate) const GROUPS_DIR: &str = "_groups";
/// Suffix of a topic directory being created. `~` cannot occur in a topic
/// name, so a half-created topic never looks like a real one.
const CREATING_SUFFIX: &str = "~creating";
/// Kafka's limit, so a name that works here also works there.
const MAX_NAME_LEN: usize = 249;

/// Checks a topic or group name: `[A-Za-z0-9._-]+`, as in Kafka. The names
/// become directory names, so `.` and `..` are refused as well.
pub(crate) fn validate_name(kind: &str, name: &str) -> Result<(), LogError> {
    let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-');
    if name.is_empty() || name.len() > MAX_NAME_LEN || !name.bytes().all(allowed) {
        return Err(LogError::Invalid(format!(
            "{kind} name {name:?} must be 1 to {MAX_NAME_LEN} characters of [A-Za-z0-9._-]"
        )));
    }
    if name == "." || name == ".." {
        return Err(LogError::Invalid(format!(
            "{kind} name {name:?} is reserved"
        )));
    }
    Ok(())
}

pub(crate) fn validate_topic(name: &str) -> Result<(), LogError> {
    validate_name("topic", name)?;
    if name == GROUPS_DIR {
        return Err(LogError::Invalid(format!(
            "topic name {name:?} is reserved"
        )));
    }
    Ok(())
}

/// Topics found in the log directory with their partition counts; removes
/// leftovers of topic creations a crash interrupted.
pub(crate) fn discover(dir: &Path) -> Result<Vec<(String, u32)>, LogError> {
    let mut topics = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if !entry.file_type()?.is_dir() {
            continue;
        }
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if name.ends_with(CREATING_SUFFIX) {
            tracing::warn!(path = %entry.path().display(), "removing interrupted topic creation");
            fs::remove_dir_all(entry.path())?;
            continue;
        }
        if validate_topic(&name).is_err() {
            continue;
        }
        let partitions = count_partitions(&entry.path())?;
        topics.push((name, partitions));
    }
    topics.sort();
    Ok(topics)
}

/// Partition directories are `0`..`n-1`; a gap means damage, not a choice.
fn count_partitions(topic_dir: &Path) -> Result<u32, LogError> {
    let mut ids = Vec::new();
    for entry in fs::read_dir(topic_dir)? {
        let entry = entry?;
        if !entry.file_type()?.is_dir() {
            continue;
        }
        if let Some(id) = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse::<u32>().ok())
        {
            ids.push(id);
        }
    }
    ids.sort_unstable();
    let contiguous = ids
        .iter()
        .enumerate()
        .all(|(i, id)| u32::try_from(i) == Ok(*id));
    if ids.is_empty() || !contiguous {
        return Err(LogError::Corrupt(format!(
            "{}: partition directories {ids:?} are not 0..n",
            topic_dir.display()
        )));
    }
    Ok(ids.len() as u32)
}

/// Creates `<dir>/<topic>/0..partitions` in a scratch directory and renames
/// it into place, so a crash leaves either the whole topic or none of it.
pub(crate) fn create_topic_dirs(
    dir: &Path,
    topic: &str,
    partitions: u32,
    fsync: bool,
) -> Result<(), LogError> {
    let scratch = dir.join(format!("{topic}{CREATING_SUFFIX}"));
    if scratch.exists() {
        fs::remove_dir_all(&scratch)?;
    }
    fs::create_dir(&scratch)?;
    for partition in 0..partitions {
        fs::create_dir(scratch.join(partition.to_string()))?;
    }
    if fsync {
        sync_dir(&scratch)?;
    }
    fs::rename(&scratch, dir.join(topic))?;
    if fsync {
        sync_dir(dir)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names_follow_kafka_rules() {
        for good in ["closeloop.samples", "a", "A-b_c.9", "__consumer_offsets"] {
            assert!(validate_topic(good).is_ok(), "{good}");
        }
        let too_long = "x".repeat(250);
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "a b",
            "ü",
            "_groups",
            "x~creating",
            too_long.as_str(),
        ] {
            assert!(
                matches!(validate_topic(bad), Err(LogError::Invalid(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn interrupted_topic_creation_is_removed_on_discovery() {
        let dir = tempfile::tempdir().expect("temp dir");
        create_topic_dirs(dir.path(), "orders", 3, true).expect("create");
        fs::create_dir_all(dir.path().join("half~creating").join("0")).expect("scratch");
        let found = discover(dir.path()).expect("discover");
        assert_eq!(found, vec![("orders".to_string(), 3)]);
        assert!(!dir.path().join("half~creating").exists());
    }
}
