//! Every event type round-trips through its JSON Schema in `schemas/`: a
//! realistic instance, serialized by `Event::to_json`, validates against
//! `schemas/<Type>.json` and decodes back to the same event. Also checks that
//! the set of schema files matches `EventPayload::TYPE_NAMES` exactly.

use chrono::{DateTime, Utc};
use closeloop_core::events::{
    ActionFailed, AlertEvent, Commit, DeployRecorded, DeployStatus, IssueAction, IssueClosed,
    IssueCommented, IssueFiled, IssueReopened, IssueRequested, SamplesReceived, SamplesRecorded,
    SuspectDeploy, WebhookDelivered, WebhookRequested, REMOTE_WRITE_V1_SNAPPY,
};
use closeloop_core::events::{ExternalAlertReceived, ExternalAlertSource};
use closeloop_core::events::{PushGroupDeleted, PushGroupRejected, PushGroupReplaced};
use closeloop_core::events::{
    ScaleApplied, ScaleCause, ScaleLimit, ScaleOutcome, ScaleRequested, ScaleTrigger,
};
use closeloop_core::events::{SilenceExpired, SilenceMatcher, SilenceSet};
use closeloop_core::pushed::float::PromFloat;
use closeloop_core::pushed::{MetricKind, PushedFamily, PushedMetric, PushedValue};
use closeloop_core::remote_write::{decode, Label, Sample, TimeSeries, WriteRequest};
use closeloop_core::{fingerprint, Event, EventPayload, LabelSet};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::PathBuf;
use uuid::Uuid;

fn schemas_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../schemas")
}

fn testdata() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/testdata")
}

fn validator(name: &str) -> jsonschema::Validator {
    let path = schemas_dir().join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let schema: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}.json is not JSON: {e}"));
    jsonschema::draft202012::options()
        // Formats are annotations by default in 2020-12; we want them checked.
        .should_validate_formats(true)
        .build(&schema)
        .unwrap_or_else(|e| panic!("{name}.json is not a valid schema: {e}"))
}

fn errors(validator: &jsonschema::Validator, instance: &Value) -> Vec<String> {
    validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect()
}

fn assert_valid(name: &str, instance: &Value) {
    let found = errors(&validator(name), instance);
    assert!(
        found.is_empty(),
        "{name} instance does not match its schema: {found:#?}\n{instance:#}"
    );
}

fn assert_invalid(name: &str, instance: &Value, why: &str) {
    assert!(
        !validator(name).is_valid(instance),
        "{name} schema accepted an instance that {why}:\n{instance:#}"
    );
}

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|e| panic!("bad test time {text}: {e}"))
}

fn labels(pairs: &[(&str, &str)]) -> LabelSet {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn event(payload: EventPayload, source: &str, key: &str, occurred_at: &str) -> Event {
    let occurred_at = at(occurred_at);
    let recorded_at = occurred_at + chrono::Duration::milliseconds(1234);
    Event::new(payload, source, key.to_string(), occurred_at, recorded_at)
}

fn alert_labels() -> LabelSet {
    labels(&[
        ("alertname", "HighErrorRatio"),
        ("environment", "production"),
        ("service", "checkout"),
        ("severity", "page"),
    ])
}

fn suspect() -> SuspectDeploy {
    SuspectDeploy {
        deploy_id: Uuid::now_v7(),
        service: "checkout".into(),
        environment: "production".into(),
        version: "v2.14.0".into(),
        deployed_at: at("2024-05-02T09:58:12.345Z"),
        url: Some("https://ci.example.com/checkout/pipelines/8812".into()),
        actor: Some("alice".into()),
        commits: vec![
            "9fceb02d0ae598e95dc970b74767f19372d61af8".into(),
            "e83c5163316f89bfbde7d9ab23ca2e25604af290".into(),
        ],
    }
}

fn alert(fired: bool, resolved: bool) -> AlertEvent {
    let alert_labels = alert_labels();
    AlertEvent {
        fingerprint: fingerprint(&alert_labels).to_string(),
        rule_group: "checkout.rules".into(),
        alertname: "HighErrorRatio".into(),
        labels: alert_labels,
        annotations: labels(&[
            ("summary", "checkout error ratio above 5%"),
            ("runbook_url", "https://runbooks.example.com/checkout"),
        ]),
        value: 0.0731,
        active_at: at("2024-05-02T10:03:00Z"),
        fired_at: fired.then(|| at("2024-05-02T10:08:00Z")),
        resolved_at: resolved.then(|| at("2024-05-02T10:41:30Z")),
        suspect_deploys: vec![suspect()],
        generator_url: Some("http://prometheus:9090/graph?g0.expr=job%3Aerrors%3Aratio5m".into()),
    }
}

fn samples_received() -> SamplesReceived {
    let body = std::fs::read(testdata().join("prometheus-2.42/sample.remote_write.bin"))
        .expect("captured remote-write body");
    let request = decode(&body, 64 << 20).expect("captured body decodes");
    let timestamps = request
        .timeseries
        .iter()
        .flat_map(|s| s.samples.iter().map(|x| x.timestamp));
    SamplesReceived {
        format: REMOTE_WRITE_V1_SNAPPY.into(),
        series: request.timeseries.len() as u32,
        samples: request
            .timeseries
            .iter()
            .map(|s| s.samples.len() as u32)
            .sum(),
        metadata: request.metadata.len() as u32,
        min_timestamp_ms: timestamps.clone().min(),
        max_timestamp_ms: timestamps.max(),
        body: body.into(),
    }
}

/// A batch job's push: a gauge, a counter with labels, a histogram and a
/// summary, as `prometheus_client` would send them.
fn push_group_replaced() -> PushGroupReplaced {
    let metric = |labels: &[(&str, &str)], value: PushedValue| PushedMetric {
        labels: labels
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
        value,
        timestamp_ms: None,
    };
    let f = PromFloat;
    PushGroupReplaced {
        grouping: [("job", "backup"), ("instance", "db1")]
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
        whole_group: true,
        families: vec![
            PushedFamily {
                name: "backup_last_success_seconds".into(),
                help: "Last time the backup succeeded.".into(),
                kind: MetricKind::Gauge,
                metrics: vec![metric(&[], PushedValue::Value(f(1_714_644_000.5)))],
            },
            PushedFamily {
                name: "backup_bytes_total".into(),
                help: String::new(),
                kind: MetricKind::Counter,
                metrics: vec![metric(
                    &[("volume", "data")],
                    PushedValue::Value(f(f64::INFINITY)),
                )],
            },
            PushedFamily {
                name: "backup_duration_seconds".into(),
                help: "How long it took.".into(),
                kind: MetricKind::Histogram,
                metrics: vec![metric(
                    &[],
                    PushedValue::Histogram {
                        count: f(1.0),
                        sum: f(42.0),
                        buckets: vec![
                            (f(30.0), f(0.0)),
                            (f(60.0), f(1.0)),
                            (f(f64::INFINITY), f(1.0)),
                        ],
                    },
                )],
            },
            PushedFamily {
                name: "backup_chunk_seconds".into(),
                help: String::new(),
                kind: MetricKind::Summary,
                metrics: vec![metric(
                    &[],
                    PushedValue::Summary {
                        count: f(10.0),
                        sum: f(5.0),
                        quantiles: vec![(f(0.5), f(0.4)), (f(0.99), f(f64::NAN))],
                    },
                )],
            },
        ],
        pushed_at_ms: 1_714_644_005_000,
    }
}

/// A recording rule's output at one tick, encoded as the evaluator does.
fn samples_recorded() -> SamplesRecorded {
    let series = |value: f64| TimeSeries {
        labels: vec![
            Label {
                name: "__name__".into(),
                value: "job:http_requests:rate5m".into(),
            },
            Label {
                name: "job".into(),
                value: "checkout".into(),
            },
        ],
        samples: vec![Sample {
            value,
            timestamp: 1_714_644_030_000,
        }],
        ..Default::default()
    };
    let request = WriteRequest {
        timeseries: vec![series(12.5)],
        metadata: vec![],
    };
    SamplesRecorded::new(
        "rules/http.yml",
        "http",
        1_714_644_030_000,
        1_714_644_030_000,
        &request,
    )
    .expect("encodes")
}

/// A metric decision capped by the Pods policy, or an alert step.
fn scale_requested(alert_step: bool) -> ScaleRequested {
    ScaleRequested {
        scaler: "checkout-workers".into(),
        request_id: Uuid::now_v7(),
        trigger: if alert_step {
            ScaleTrigger::Alert
        } else {
            ScaleTrigger::Metric
        },
        from_replicas: 4,
        to_replicas: 8,
        query_value: (!alert_step).then_some(612.5),
        raw_desired: Some(13),
        stabilized: (!alert_step).then_some(13),
        limited_by: vec![ScaleLimit::Policy],
        limiting_policy: (!alert_step).then(|| "scale_up.policies[1] (Pods 4 per 15s)".into()),
        cause: alert_step.then(|| ScaleCause {
            alert_event_id: Uuid::now_v7(),
            fingerprint: fingerprint(&alert_labels()).to_string(),
            alertname: "HighErrorRatio".into(),
        }),
        tick_at: at("2024-05-02T10:08:15Z"),
    }
}

/// One realistic event per type, in `TYPE_NAMES` order where it matters not.
fn examples() -> Vec<Event> {
    let fp = fingerprint(&alert_labels()).to_string();
    let request_id = Uuid::now_v7();
    let deploy = DeployRecorded {
        service: "checkout".into(),
        environment: "production".into(),
        version: "v2.14.0".into(),
        status: DeployStatus::Succeeded,
        started_at: Some(at("2024-05-02T09:55:01Z")),
        finished_at: Some(at("2024-05-02T09:58:12.345Z")),
        commits: vec![
            Commit {
                sha: "9f2c1e7a4b0d3c5e8f1a2b3c4d5e6f7a8b9c0d1e".into(),
                authored_at: Some(at("2024-05-01T16:20:00+00:00")),
            },
            Commit {
                sha: "1a2b3c4".into(),
                authored_at: None,
            },
        ],
        actor: Some("alice".into()),
        url: Some("https://ci.example.com/checkout/pipelines/8812".into()),
        labels: labels(&[("team", "payments"), ("region", "eu-west-1")]),
    };
    vec![
        event(
            EventPayload::SamplesReceived(samples_received()),
            "ingest",
            "3",
            "2024-05-02T10:00:00Z",
        ),
        event(
            EventPayload::SamplesRecorded(samples_recorded()),
            "evaluator",
            "11834263731232125745",
            "2024-05-02T10:00:30Z",
        ),
        event(
            EventPayload::PushGroupReplaced(push_group_replaced()),
            "ingest",
            "instance=db1,job=backup",
            "2024-05-02T10:00:05Z",
        ),
        event(
            EventPayload::PushGroupDeleted(PushGroupDeleted {
                grouping: push_group_replaced().grouping,
                deleted_at_ms: 1_714_644_600_000,
            }),
            "ingest",
            "instance=db1,job=backup",
            "2024-05-02T10:10:00Z",
        ),
        event(
            EventPayload::PushGroupRejected(PushGroupRejected {
                grouping: push_group_replaced().grouping,
                rejected_at_ms: 1_714_644_610_000,
                reason: "pushed metrics must not have timestamps".into(),
            }),
            "ingest",
            "instance=db1,job=backup",
            "2024-05-02T10:10:10Z",
        ),
        event(
            EventPayload::SilenceSet(SilenceSet {
                id: "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b".into(),
                matchers: vec![
                    SilenceMatcher {
                        name: "alertname".into(),
                        value: "CheckoutErrors".into(),
                        is_regex: false,
                        is_equal: true,
                    },
                    SilenceMatcher {
                        name: "env".into(),
                        value: "dev|test".into(),
                        is_regex: true,
                        is_equal: false,
                    },
                ],
                starts_at: at("2024-05-02T10:00:00Z"),
                ends_at: at("2024-05-02T12:00:00Z"),
                created_by: "alice".into(),
                comment: "maintenance window".into(),
                updated_at: at("2024-05-02T09:59:00Z"),
            }),
            "api",
            "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
            "2024-05-02T09:59:00Z",
        ),
        event(
            EventPayload::SilenceExpired(SilenceExpired {
                id: "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b".into(),
                expired_at: at("2024-05-02T11:00:00Z"),
            }),
            "api",
            "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
            "2024-05-02T11:00:00Z",
        ),
        event(
            EventPayload::DeployRecorded(deploy.clone()),
            "ingest",
            &deploy.key(),
            "2024-05-02T09:58:12.345Z",
        ),
        event(
            EventPayload::ExternalAlertReceived(ExternalAlertReceived {
                fingerprint: fp.clone(),
                source: ExternalAlertSource::AlertmanagerApiV2,
                labels: alert_labels(),
                annotations: labels(&[("summary", "checkout error ratio above 5%")]),
                starts_at: Some(at("2024-05-02T10:03:00Z")),
                ends_at: Some(at("2024-05-02T10:07:00Z")),
                generator_url: Some("http://vmalert:8880/vmalert/alert?group_id=1".into()),
            }),
            "ingest",
            &fp,
            "2024-05-02T10:03:01Z",
        ),
        event(
            EventPayload::AlertPending(alert(false, false)),
            "evaluator",
            &fp,
            "2024-05-02T10:03:00Z",
        ),
        event(
            EventPayload::AlertFiring(alert(true, false)),
            "evaluator",
            &fp,
            "2024-05-02T10:08:00Z",
        ),
        event(
            EventPayload::AlertResolved(alert(true, true)),
            "evaluator",
            &fp,
            "2024-05-02T10:41:30Z",
        ),
        event(
            EventPayload::IssueRequested(IssueRequested {
                receiver: "payments-team".into(),
                integration: "redmine_configs[0]".into(),
                action: IssueAction::Open,
                cause_event_id: Uuid::now_v7(),
                alert: alert(true, false),
            }),
            "actuator",
            &fp,
            "2024-05-02T10:08:00Z",
        ),
        event(
            EventPayload::WebhookRequested(WebhookRequested {
                receiver: "payments-team".into(),
                integration: "webhook_configs[0]".into(),
                url: "http://127.0.0.1:5001/hook".into(),
                cause_event_id: Uuid::now_v7(),
                payload: json!({
                    "version": "4",
                    "groupKey": "{}:{alertname=\"HighErrorRatio\"}",
                    "status": "firing",
                    "receiver": "payments-team",
                    "alerts": [{"status": "firing", "labels": {"alertname": "HighErrorRatio"}}],
                }),
            }),
            "actuator",
            &fp,
            "2024-05-02T10:08:00Z",
        ),
        event(
            EventPayload::ScaleRequested(scale_requested(false)),
            "evaluator",
            "checkout-workers",
            "2024-05-02T10:08:15Z",
        ),
        event(
            EventPayload::ScaleApplied(ScaleApplied {
                scaler: "checkout-workers".into(),
                request_id,
                target: "kubernetes".into(),
                outcome: ScaleOutcome::Applied,
                observed_replicas: 4,
                applied_replicas: 8,
                status_replicas: Some(4),
                answer: "resourceVersion 48213".into(),
                attempts: 1,
            }),
            "actuator",
            "checkout-workers",
            "2024-05-02T10:08:16Z",
        ),
        event(
            EventPayload::IssueFiled(IssueFiled {
                request_id,
                fingerprint: fp.clone(),
                receiver: "payments-team".into(),
                integration: "redmine_configs[0]".into(),
                tracker: "redmine".into(),
                issue_id: "4711".into(),
                issue_url: "http://127.0.0.1:3000/issues/4711".into(),
                title: "[FIRING] HighErrorRatio checkout production".into(),
                adopted: false,
                suspect_deploys: vec![suspect()],
            }),
            "actuator",
            &fp,
            "2024-05-02T10:08:02Z",
        ),
        event(
            EventPayload::IssueCommented(IssueCommented {
                request_id,
                fingerprint: fp.clone(),
                receiver: "payments-team".into(),
                integration: "redmine_configs[0]".into(),
                tracker: "redmine".into(),
                issue_id: "4711".into(),
                reason: "recurred".into(),
                occurrences: 2,
            }),
            "actuator",
            &fp,
            "2024-05-02T11:15:00Z",
        ),
        event(
            EventPayload::IssueClosed(IssueClosed {
                request_id,
                fingerprint: fp.clone(),
                receiver: "payments-team".into(),
                integration: "redmine_configs[0]".into(),
                tracker: "redmine".into(),
                issue_id: "4711".into(),
            }),
            "actuator",
            &fp,
            "2024-05-02T10:41:31Z",
        ),
        event(
            EventPayload::IssueReopened(IssueReopened {
                request_id,
                fingerprint: fp.clone(),
                receiver: "payments-team".into(),
                integration: "redmine_configs[0]".into(),
                tracker: "redmine".into(),
                issue_id: "4711".into(),
            }),
            "actuator",
            &fp,
            "2024-05-02T11:15:00Z",
        ),
        event(
            EventPayload::WebhookDelivered(WebhookDelivered {
                request_id,
                receiver: "payments-team".into(),
                integration: "webhook_configs[0]".into(),
                url: "http://127.0.0.1:5001/hook".into(),
                status: 200,
                attempts: 2,
            }),
            "actuator",
            &fp,
            "2024-05-02T10:08:03Z",
        ),
        event(
            EventPayload::ActionFailed(ActionFailed {
                request_id,
                receiver: "payments-team".into(),
                integration: "webhook_configs[0]".into(),
                attempt: 1,
                error: "endpoint answered 503 Service Unavailable".into(),
                retryable: true,
                gave_up: false,
                next_attempt_at: Some(at("2024-05-02T10:08:05Z")),
            }),
            "actuator",
            &fp,
            "2024-05-02T10:08:01Z",
        ),
    ]
}

#[test]
fn every_event_type_validates_against_its_schema_and_round_trips() {
    let examples = examples();
    let covered: BTreeSet<&str> = examples.iter().map(|e| e.event_type()).collect();
    let all: BTreeSet<&str> = EventPayload::TYPE_NAMES.iter().copied().collect();
    assert_eq!(covered, all, "every event type needs an example here");

    for original in examples {
        let name = original.event_type();
        let bytes = original.to_json();
        let instance: Value = serde_json::from_slice(&bytes).expect("to_json writes JSON");
        assert_valid(name, &instance);
        let decoded = Event::from_json(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(decoded, original, "{name} did not round-trip");
    }
}

#[test]
fn every_type_name_has_a_schema_file_and_every_event_schema_a_type() {
    let mut files = BTreeSet::new();
    for entry in std::fs::read_dir(schemas_dir()).expect("schemas/ exists") {
        let path = entry.expect("schemas/ entry").path();
        if path.extension().and_then(|x| x.to_str()) == Some("json") {
            let stem = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default();
            files.insert(stem.to_string());
        }
    }
    // Request bodies of the HTTP API live beside the event schemas.
    let api_bodies = ["DeployRequest"];
    let mut expected: BTreeSet<String> = EventPayload::TYPE_NAMES
        .iter()
        .map(|s| s.to_string())
        .collect();
    expected.extend(api_bodies.iter().map(|s| s.to_string()));
    assert_eq!(files, expected);

    for name in EventPayload::TYPE_NAMES {
        let schema: Value = serde_json::from_str(
            &std::fs::read_to_string(schemas_dir().join(format!("{name}.json")))
                .expect("schema file"),
        )
        .expect("schema is JSON");
        assert_eq!(
            schema["title"],
            json!(name),
            "{name}.json has the wrong title"
        );
        assert_eq!(
            schema["properties"]["type"]["const"],
            json!(name),
            "{name}.json must pin `type` to its own name"
        );
    }
}

#[test]
fn schemas_refuse_what_the_rust_types_refuse() {
    let deploy = examples()
        .into_iter()
        .find(|e| e.event_type() == "DeployRecorded")
        .expect("deploy example");
    let good: Value = serde_json::from_slice(&deploy.to_json()).expect("JSON");

    let mut bad = good.clone();
    bad["payload"]["status"] = json!("exploded");
    assert_invalid("DeployRecorded", &bad, "has an unknown deploy status");
    assert!(Event::from_json(&serde_json::to_vec(&bad).expect("JSON")).is_err());

    let mut bad = good.clone();
    bad["payload"]
        .as_object_mut()
        .expect("object")
        .remove("version");
    assert_invalid("DeployRecorded", &bad, "lacks the version");

    let mut bad = good.clone();
    bad["occurred_at"] = json!("yesterday");
    assert_invalid("DeployRecorded", &bad, "has a malformed occurred_at");

    let mut bad = good.clone();
    bad["type"] = json!("AlertFiring");
    assert_invalid("DeployRecorded", &bad, "names another type");

    let mut bad = good;
    bad["payload"]["colour"] = json!("blue");
    assert_invalid(
        "DeployRecorded",
        &bad,
        "has a field the payload does not know",
    );
}

#[test]
fn alert_values_that_json_cannot_hold_are_written_as_text_the_schema_accepts() {
    for (value, text) in [
        (f64::NAN, "NaN"),
        (f64::INFINITY, "inf"),
        (f64::NEG_INFINITY, "-inf"),
    ] {
        let mut pending = alert(false, false);
        pending.value = value;
        let event = event(
            EventPayload::AlertPending(pending),
            "evaluator",
            "k",
            "2024-05-02T10:03:00Z",
        );
        let instance: Value = serde_json::from_slice(&event.to_json()).expect("JSON");
        assert_eq!(instance["payload"]["value"], json!(text));
        assert_valid("AlertPending", &instance);
    }
}

#[test]
fn firing_and_resolved_alerts_must_say_when() {
    let firing = event(
        EventPayload::AlertFiring(alert(false, false)),
        "evaluator",
        "k",
        "2024-05-02T10:08:00Z",
    );
    let instance: Value = serde_json::from_slice(&firing.to_json()).expect("JSON");
    assert_invalid("AlertFiring", &instance, "fired without fired_at");

    // A pending alert that went away without firing resolves with no fired_at.
    let cleared = event(
        EventPayload::AlertResolved(alert(false, true)),
        "evaluator",
        "k",
        "2024-05-02T10:05:00Z",
    );
    let instance: Value = serde_json::from_slice(&cleared.to_json()).expect("JSON");
    assert_valid("AlertResolved", &instance);
}

#[test]
fn deploy_request_schema_matches_the_documented_body() {
    let minimal = json!({"service": "checkout", "environment": "production", "version": "v2.14.0"});
    assert_valid("DeployRequest", &minimal);

    let full = json!({
        "service": "checkout",
        "environment": "production",
        "version": "v2.14.0",
        "status": "rolled_back",
        "started_at": "2024-05-02T09:55:01Z",
        "finished_at": "2024-05-02T09:58:12.345+02:00",
        "commits": [{"sha": "9f2c1e7", "authored_at": "2024-05-01T16:20:00Z"}, {"sha": "1a2b3c4"}],
        "actor": "alice",
        "url": "https://ci.example.com/checkout/pipelines/8812",
        "labels": {"team": "payments"},
    });
    assert_valid("DeployRequest", &full);

    for (field, value, why) in [
        ("service", json!(""), "has an empty service"),
        ("environment", json!("   "), "has a blank environment"),
        ("status", json!("done"), "has an unknown status"),
        (
            "started_at",
            json!("2024-05-02 09:55"),
            "has a malformed time",
        ),
        (
            "commits",
            json!([{"authored_at": "2024-05-01T16:20:00Z"}]),
            "has a commit without sha",
        ),
        ("labels", json!({"team": 7}), "has a non-string label value"),
        ("colour", json!("blue"), "has an unknown field"),
    ] {
        let mut bad = full.clone();
        bad[field] = value;
        assert_invalid("DeployRequest", &bad, why);
    }
    let mut bad = full;
    bad.as_object_mut().expect("object").remove("environment");
    assert_invalid("DeployRequest", &bad, "lacks the environment");
}

#[test]
fn a_minimal_started_deploy_with_nanosecond_times_validates() {
    let e = event(
        EventPayload::DeployRecorded(DeployRecorded {
            service: "s".into(),
            environment: "e".into(),
            version: "1".into(),
            status: DeployStatus::Started,
            started_at: Some(at("2024-05-02T10:00:00.123456789Z")),
            finished_at: None,
            commits: vec![],
            actor: None,
            url: None,
            labels: LabelSet::new(),
        }),
        "ingest",
        "s/e",
        "2024-05-02T10:00:00Z",
    );
    let instance: Value = serde_json::from_slice(&e.to_json()).expect("JSON");
    assert_valid("DeployRecorded", &instance);
    assert_eq!(Event::from_json(&e.to_json()).expect("decodes"), e);
}

#[test]
fn scale_events_validate_without_optional_fields_and_refuse_unknown_limits() {
    let mut minimal = scale_requested(true);
    minimal.query_value = None;
    minimal.raw_desired = None;
    minimal.limited_by = vec![];
    minimal.cause = None;
    for request in [scale_requested(true), minimal] {
        let e = event(
            EventPayload::ScaleRequested(request),
            "evaluator",
            "checkout-workers",
            "2024-05-02T10:08:15Z",
        );
        let instance: Value = serde_json::from_slice(&e.to_json()).expect("JSON");
        assert_valid("ScaleRequested", &instance);
        assert_eq!(Event::from_json(&e.to_json()).expect("decodes"), e);

        let mut bad = instance.clone();
        bad["payload"]["limited_by"] = json!(["luck"]);
        assert_invalid("ScaleRequested", &bad, "names an unknown limit");
        assert!(Event::from_json(&serde_json::to_vec(&bad).expect("JSON")).is_err());
    }
}
