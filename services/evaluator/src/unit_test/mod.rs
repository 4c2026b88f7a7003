//! Rule unit tests in promtool's format (`promtool test rules`): input
//! series in the expanding notation, rule groups stepped from time 0 with
//! the evaluator's own rule loading, alert state machine and templates,
//! and expected firing alerts and PromQL results compared as promtool
//! compares them. Failures print as promtool prints them.
//!
//! Semantics are Prometheus 3's where 2.42 differs: range selectors and the
//! lookback window are left-open (a sample exactly `range` before the
//! evaluation time is outside; 2.42 includes it), and a test group without
//! `interval` uses `evaluation_interval` (2.42 uses 0, stacking every input
//! sample at time 0).

mod format;

mod runner;
mod spec;

use runner::{run_test_group, FileSettings};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum UnitTestError {
    #[error("{file}: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}: {message}")]
    Yaml { file: String, message: String },
    #[error("invalid rule_files pattern {pattern}: {message}")]
    Glob { pattern: String, message: String },
    #[error("group name repeated in evaluation order: {0}")]
    RepeatedGroupInOrder(String),
}

/// The outcome of one test group (an entry of `tests`).
#[derive(Debug, Clone)]
pub struct GroupReport {
    /// Its `name`, possibly empty.
    pub name: String,
    /// promtool's error lines; empty when the group passed.
    pub errors: Vec<String>,
}

impl GroupReport {
    pub fn passed(&self) -> bool {
        self.errors.is_empty()
    }
}

/// The outcome of one unit-test file.
#[derive(Debug)]
pub struct FileReport {
    pub file: String,
    /// Non-fatal notes, e.g. a `rule_files` pattern that matched nothing.
    pub warnings: Vec<String>,
    /// Set when the file itself could not be used; no group ran then.
    pub error: Option<UnitTestError>,
    pub groups: Vec<GroupReport>,
}

impl FileReport {
    pub fn passed(&self) -> bool {
        self.error.is_none() && self.groups.iter().all(GroupReport::passed)
    }

    /// Test groups that passed.
    pub fn groups_passed(&self) -> usize {
        self.groups.iter().filter(|g| g.passed()).count()
    }

    /// Test groups that failed; an unusable file counts as one.
    pub fn groups_failed(&self) -> usize {
        let failed = self.groups.iter().filter(|g| !g.passed()).count();
        failed + usize::from(self.error.is_some())
    }

    /// The report as promtool prints it (on one stream, in order).
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "Unit Testing:  {}", self.file);
        for warning in &self.warnings {
            let _ = writeln!(out, "{warning}");
        }
        if self.passed() {
            out.push_str("  SUCCESS\n");
        } else {
            out.push_str("  FAILED:\n");
            let errors = self
                .error
                .iter()
                .map(ToString::to_string)
                .chain(self.groups.iter().flat_map(|g| g.errors.iter().cloned()));
            for error in errors {
                let _ = writeln!(out, "{error}\n");
            }
        }
        out
    }
}

/// Runs every test group of the unit-test file at `path`.
pub fn run_test_file(path: &Path) -> FileReport {
    let file = path.display().to_string();
    let mut report = FileReport {
        file: file.clone(),
        warnings: Vec::new(),
        error: None,
        groups: Vec::new(),
    };
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(source) => {
            report.error = Some(UnitTestError::Read { file, source });
            return report;
        }
    };
    let base_dir = path.parent().unwrap_or_else(|| Path::new("."));
    match prepare(&text, &file, base_dir, &mut report.warnings) {
        Ok((settings, tests)) => {
            report.groups = tests
                .iter()
                .map(|test| GroupReport {
                    name: test.name.clone(),
                    errors: run_test_group(test, &settings),
                })
                .collect();
        }
        Err(e) => report.error = Some(e),
    }
    report
}

fn prepare(
    text: &str,
    file: &str,
    base_dir: &Path,
    warnings: &mut Vec<String>,
) -> Result<(FileSettings, Vec<spec::TestGroup>), UnitTestError> {
    let doc = spec::parse(text, file)?;
    let rule_files = spec::resolve_rule_files(base_dir, &doc.rule_files, warnings)?;
    let mut group_order = HashMap::new();
    for (index, name) in doc.group_eval_order.iter().enumerate() {
        if group_order.insert(name.clone(), index).is_some() {
            return Err(UnitTestError::RepeatedGroupInOrder(name.clone()));
        }
    }
    let settings = FileSettings {
        eval_interval_ms: if doc.evaluation_interval > 0 {
            doc.evaluation_interval
        } else {
            60_000
        },
        group_order,
        rule_files,
        fuzzy_compare: doc.fuzzy_compare,
    };
    Ok((settings, doc.tests))
}
