//! The live engine writes `ALERTS` series as Prometheus does, so a rule can
//! alert on another alert, and ends them with a stale marker on resolve.

use closeloop_core::{EventPayload, LabelSet};
use closeloop_evaluator::deploys::Attribution;
use closeloop_evaluator::{parse_rule_file, Evaluator, EvaluatorConfig};

#[test]
fn a_rule_over_alerts_sees_the_alerts_of_earlier_rules() {
    let groups = parse_rule_file(
        r#"
groups:
  - name: g
    interval: 1m
    rules:
      - alert: Base
        expr: vector(1)
      - alert: Meta
        expr: count(ALERTS{alertname="Base", alertstate="firing"}) > 0
"#,
        "g.yml",
    )
    .unwrap();
    let config = EvaluatorConfig {
        default_interval_ms: 60_000,
        lookback_ms: 300_000,
        attribution: Attribution {
            window_ms: 3_600_000,
            service_label: "service".into(),
            environment_label: "environment".into(),
        },
        external_labels: LabelSet::new(),
        external_url: "http://closeloop".into(),
    };
    let mut evaluator = Evaluator::new(config, groups);
    evaluator.start_at(0);
    let decisions = evaluator.advance_to(0);
    let firing: Vec<&str> = decisions
        .iter()
        .filter_map(|d| match &d.payload {
            EventPayload::AlertFiring(e) => Some(e.alertname.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(firing, ["Base", "Meta"]);
}
