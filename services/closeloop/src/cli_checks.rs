//! The offline commands: `rules check`, `rules test`, `promql test`,
//! `config check`.
//! Each prints a verdict per input and returns whether all passed.

use crate::config::Config;
use anyhow::Result;
use std::path::PathBuf;

pub fn rules_check(files: &[PathBuf]) -> Result<bool> {
    let mut all_ok = true;
    for file in files {
        match closeloop_evaluator::load_rule_file(file) {
            Ok(groups) => {
                let rules: usize = groups.iter().map(|g| g.rules.len()).sum();
                println!(
                    "Checking {}\n  SUCCESS: {rules} rules found\n",
                    file.display()
                );
            }
            Err(err) => {
                all_ok = false;
                println!("Checking {}\n  FAILED:\n{err}\n", file.display());
            }
        }
    }
    Ok(all_ok)
}

/// Runs promtool-format rule unit tests; the last line counts test groups.
pub fn rules_test(files: &[PathBuf]) -> Result<bool> {
    let (mut passed, mut failed) = (0usize, 0usize);
    for file in files {
        let report = closeloop_evaluator::unit_test::run_test_file(file);
        println!("{}", report.render());
        passed += report.groups_passed();
        failed += report.groups_failed();
    }
    println!("{passed} passed, {failed} failed");
    Ok(failed == 0)
}

pub fn promql_test(files: &[PathBuf]) -> Result<bool> {
    let (mut passed, mut failed, mut skipped) = (0usize, 0usize, 0usize);
    for file in files {
        let text = std::fs::read_to_string(file)
            .map_err(|e| anyhow::anyhow!("reading {}: {e}", file.display()))?;
        let report = closeloop_promql::promqltest::run_script(&text, &file.display().to_string());
        for failure in report.failures() {
            println!("{failure}");
        }
        passed += report.passed;
        failed += report.failed;
        skipped += report.skipped;
    }
    println!("{passed} passed, {failed} failed, {skipped} skipped");
    Ok(failed == 0)
}

pub fn config_check(path: &std::path::Path) -> Result<bool> {
    let config = Config::load(path)?;
    let mut ok = true;
    // The secrets `auth:` names must be readable where closeloop runs.
    let secrets = config
        .auth
        .load(&config.base_dir)
        .and_then(|_| config.auth.webhook_secrets(&config.base_dir));
    if let Err(err) = secrets {
        println!("FAILED: {err:#}");
        ok = false;
    }
    for file in config.rule_file_paths()? {
        if let Err(err) = closeloop_evaluator::load_rule_file(&file) {
            println!("FAILED: {err}");
            ok = false;
        }
    }
    if ok {
        println!("SUCCESS: {} is valid", path.display());
    }
    Ok(ok)
}
