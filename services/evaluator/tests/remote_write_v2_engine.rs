//! A rule sees remote write 2.0 samples: a v2 body, built with the prost
//! messages declared from the published proto (core's test support),
//! goes into the window through `append_received` exactly as the runner
//! reads a `SamplesReceived`, and an alert over it fires with the series'
//! labels; the created timestamp's zero sample makes `increase` count the
//! counter's first value.

#[path = "../../core/tests/support/remote_v2_proto.rs"]
mod remote_v2_proto;

use closeloop_core::events::REMOTE_WRITE_V2_SNAPPY;
use closeloop_core::{EventPayload, LabelSet};
use closeloop_evaluator::deploys::Attribution;
use closeloop_evaluator::{parse_rule_file, Evaluator, EvaluatorConfig};
use prost::Message;
use remote_v2_proto::RequestBuilder;

#[test]
fn an_alert_fires_on_samples_that_came_as_remote_write_2() {
    let groups = parse_rule_file(
        r#"
groups:
  - name: g
    interval: 1m
    rules:
      - alert: JobsStarted
        expr: increase(jobs_total[5m]) >= 3
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

    let mut b = RequestBuilder::new();
    // One sample only: without the zero sample at its created timestamp,
    // `increase` over one point is empty and the alert could not fire.
    b.series(
        &[("job", "batch"), ("__name__", "jobs_total")],
        &[(60_000, 3.0)],
    )
    .created_timestamp = 30_000;
    let body = snap::raw::Encoder::new()
        .compress_vec(&b.request.encode_to_vec())
        .unwrap();
    evaluator
        .append_received(REMOTE_WRITE_V2_SNAPPY, &body, 1 << 20)
        .unwrap();

    let firing: Vec<String> = evaluator
        .advance_to(60_000)
        .iter()
        .filter_map(|d| match &d.payload {
            EventPayload::AlertFiring(e) => {
                Some(format!("{} {:?}", e.alertname, e.labels.get("job")))
            }
            _ => None,
        })
        .collect();
    assert_eq!(firing, ["JobsStarted Some(\"batch\")"]);
}
