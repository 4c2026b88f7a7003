//! Runs the script named by PROMQL_SCRIPT and prints every outcome (debug aid).
#[test]
fn a_script_named_by_promql_script_is_run_and_its_outcomes_printed() {
    let Ok(path) = std::env::var("PROMQL_SCRIPT") else {
        return;
    };
    let text = std::fs::read_to_string(&path).expect("script");
    let r = closeloop_promql::promqltest::run_script(&text, &path);
    for e in &r.errors {
        println!("ERR {e}");
    }
    for e in &r.evals {
        if e.status != closeloop_promql::promqltest::EvalStatus::Passed {
            println!("{e}");
        }
    }
    println!(
        "{} passed {} failed {} skipped",
        r.passed, r.failed, r.skipped
    );
}
