//! promtool is the oracle: `closeloop rules check` and `closeloop rules test`
//! must reach the verdicts `promtool check rules` and `promtool test rules`
//! (Prometheus 2.42, Debian package `prometheus`) reach on the same files,
//! per file and, for unit tests, per test group.
//!
//! Where 2.42 and Prometheus 3 differ, closeloop follows 3 and the corpus
//! stays off the difference or names it:
//! - range selectors and the lookback window: 2.42 includes a sample exactly
//!   `range` before the evaluation time, 3.x does not (left-open). The unit
//!   test rules use ranges that are not a multiple of the input interval
//!   (`[5m30s]` over 1m samples) and never query exactly 5m after a sample.
//! - `rate()` extrapolation multiplies in a different order in 3.x, so the
//!   last bit of a rate can differ; expected values are ratios of rates
//!   (exact) or comparisons, never a bare rate.
//! - a test group without `interval`: 2.42 loads every sample at time 0,
//!   3.x uses `evaluation_interval`; every group here sets `interval`.
//! - group `labels` and `query_offset` exist only from 2.51/2.53: the files
//!   `prometheus3_only_*.yml` are valid for closeloop and invalid for 2.42,
//!   and this test checks exactly that.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn promtool() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("promtool"))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "promtool is not on PATH: install the Debian package `prometheus` \
                 (tests/setup/packages.sh) — it is the oracle for these tests"
            )
        })
}

fn corpus(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../evaluator/tests")
        .join(name)
}

fn yaml_files(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no {suffix} files in {}", dir.display());
    files
}

fn run(program: &Path, args: &[&str], file: &Path) -> Output {
    Command::new(program)
        .args(args)
        .arg(file)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", program.display()))
}

fn closeloop() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_closeloop"))
}

fn verdict(output: &Output) -> &'static str {
    if output.status.success() {
        "valid/passed"
    } else {
        "invalid/failed"
    }
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn rules_check_gives_promtools_verdict_on_every_file() {
    let promtool = promtool();
    let mut disagreements = Vec::new();
    for file in yaml_files(&corpus("rules_check"), ".yml") {
        let name = file.file_name().unwrap_or_default().to_string_lossy();
        let theirs = run(&promtool, &["check", "rules"], &file);
        let ours = run(&closeloop(), &["rules", "check"], &file);
        if name.starts_with("prometheus3_only_") {
            if theirs.status.success() || !ours.status.success() {
                disagreements.push(format!(
                    "{name}: expected promtool 2.42 to refuse and closeloop to accept a Prometheus 3 feature\n{}\n{}",
                    text(&theirs),
                    text(&ours)
                ));
            }
            continue;
        }
        let expected = if name.starts_with("valid_") {
            "valid/passed"
        } else {
            "invalid/failed"
        };
        if verdict(&theirs) != expected {
            disagreements.push(format!(
                "{name}: the corpus says {expected} but promtool says otherwise:\n{}",
                text(&theirs)
            ));
        }
        if verdict(&ours) != verdict(&theirs) {
            disagreements.push(format!(
                "{name}: promtool {} but closeloop {}\n--- promtool\n{}--- closeloop\n{}",
                verdict(&theirs),
                verdict(&ours),
                text(&theirs),
                text(&ours)
            ));
        }
    }
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
}

#[test]
fn rules_test_gives_promtools_verdict_on_every_file() {
    let promtool = promtool();
    let mut disagreements = Vec::new();
    for file in yaml_files(&corpus("rules_unit"), "_test.yml") {
        let name = file.file_name().unwrap_or_default().to_string_lossy();
        let theirs = run(&promtool, &["test", "rules"], &file);
        let ours = run(&closeloop(), &["rules", "test"], &file);
        let expected = if name.starts_with("failing_") {
            "invalid/failed"
        } else {
            "valid/passed"
        };
        if verdict(&theirs) != expected {
            disagreements.push(format!(
                "{name}: the corpus says {expected} but promtool says otherwise:\n{}",
                text(&theirs)
            ));
        }
        if verdict(&ours) != verdict(&theirs) {
            disagreements.push(format!(
                "{name}: promtool {} but closeloop {}\n--- promtool\n{}--- closeloop\n{}",
                verdict(&theirs),
                verdict(&ours),
                text(&theirs),
                text(&ours)
            ));
        }
    }
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
}

/// promtool prints no per-group verdict, so each test group is written to
/// a file of its own (same settings, rule files made absolute) and both
/// tools run on that; closeloop's `N passed, M failed` on the whole file
/// must then count the groups promtool passed and failed.
#[test]
fn rules_test_passes_and_fails_the_same_test_groups_as_promtool() {
    let promtool = promtool();
    let scratch = tempfile::tempdir().expect("a temporary directory");
    let mut disagreements = Vec::new();
    let mut groups_checked = 0;
    for file in yaml_files(&corpus("rules_unit"), "_test.yml") {
        let name = file
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let source = std::fs::read_to_string(&file).expect("reading a corpus file");
        let doc: serde_yaml::Value = serde_yaml::from_str(&source).expect("corpus files are YAML");
        let dir = file.parent().expect("a corpus file has a directory");
        let tests = doc
            .get("tests")
            .and_then(|t| t.as_sequence())
            .cloned()
            .unwrap_or_default();
        let (mut promtool_passed, mut promtool_failed) = (0, 0);
        for (index, group) in tests.into_iter().enumerate() {
            let mut single = doc.clone();
            if let Some(map) = single.as_mapping_mut() {
                map.insert("tests".into(), serde_yaml::Value::Sequence(vec![group]));
                if let Some(rule_files) =
                    map.get_mut("rule_files").and_then(|r| r.as_sequence_mut())
                {
                    for entry in rule_files.iter_mut() {
                        if let Some(pattern) = entry.as_str() {
                            *entry = dir.join(pattern).to_string_lossy().into_owned().into();
                        }
                    }
                }
            }
            let path = scratch.path().join(format!("{name}.group{index}.yml"));
            std::fs::write(&path, serde_yaml::to_string(&single).expect("YAML out"))
                .expect("writing a single-group file");
            let theirs = run(&promtool, &["test", "rules"], &path);
            let ours = run(&closeloop(), &["rules", "test"], &path);
            groups_checked += 1;
            if theirs.status.success() {
                promtool_passed += 1;
            } else {
                promtool_failed += 1;
            }
            if verdict(&ours) != verdict(&theirs) {
                disagreements.push(format!(
                    "{name}, test group {index}: promtool {} but closeloop {}\n--- promtool\n{}--- closeloop\n{}",
                    verdict(&theirs),
                    verdict(&ours),
                    text(&theirs),
                    text(&ours)
                ));
            }
        }
        let whole = run(&closeloop(), &["rules", "test"], &file);
        let summary = String::from_utf8_lossy(&whole.stdout)
            .lines()
            .last()
            .unwrap_or_default()
            .to_string();
        // A file closeloop cannot use at all counts as one failed group.
        let expected = format!("{promtool_passed} passed, {promtool_failed} failed");
        if summary != expected && !(promtool_passed == 0 && summary == "0 passed, 1 failed") {
            disagreements.push(format!(
                "{name}: closeloop summarises {summary:?}, promtool's groups give {expected:?}"
            ));
        }
    }
    assert!(
        groups_checked >= 20,
        "only {groups_checked} test groups in the corpus"
    );
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
}
