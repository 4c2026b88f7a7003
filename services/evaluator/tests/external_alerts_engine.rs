//! External alerts in the engine: only the evaluator owning the shard key
//! `external;external` decides, suspect deploys come from the same deploy
//! tracker as for rule alerts, and the configured resolve timeout applies.

use closeloop_core::events::{
    DeployRecorded, DeployStatus, ExternalAlertReceived, ExternalAlertSource,
};
use closeloop_core::time::from_millis;
use closeloop_core::{fingerprint, EventPayload, LabelSet};
use closeloop_evaluator::deploys::Attribution;
use closeloop_evaluator::external::{EXTERNAL_GROUP, EXTERNAL_GROUP_KEY};
use closeloop_evaluator::{Evaluator, EvaluatorConfig};
use uuid::Uuid;

fn evaluator() -> Evaluator {
    Evaluator::new(
        EvaluatorConfig {
            default_interval_ms: 60_000,
            lookback_ms: 300_000,
            attribution: Attribution {
                window_ms: 3_600_000,
                service_label: "service".into(),
                environment_label: "environment".into(),
            },
            external_labels: LabelSet::new(),
            external_url: "http://closeloop".into(),
        },
        Vec::new(),
    )
}

fn receipt() -> ExternalAlertReceived {
    let labels: LabelSet = [
        ("alertname", "Down"),
        ("service", "api"),
        ("environment", "prod"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    ExternalAlertReceived {
        fingerprint: fingerprint(&labels).to_string(),
        source: ExternalAlertSource::AlertmanagerApiV2,
        labels,
        annotations: LabelSet::new(),
        starts_at: Some(from_millis(100_000)),
        ends_at: None,
        generator_url: None,
    }
}

#[test]
fn only_the_owner_of_the_external_shard_key_decides() {
    let mut other = evaluator();
    other.set_owned(|key| key != EXTERNAL_GROUP_KEY);
    other.receive_external(&receipt(), 100_000);
    assert!(other.decide_external(100_000).is_empty());

    let mut owner = evaluator();
    owner.set_owned(|key| key == EXTERNAL_GROUP_KEY);
    owner.receive_external(&receipt(), 100_000);
    let decisions = owner.decide_external(100_000);
    assert_eq!(decisions.len(), 1);
    assert_eq!(decisions[0].key, receipt().fingerprint);
    let EventPayload::AlertFiring(alert) = &decisions[0].payload else {
        panic!("not firing: {:?}", decisions[0]);
    };
    assert_eq!(alert.rule_group, EXTERNAL_GROUP);
}

#[test]
fn a_firing_external_alert_names_the_deploy_before_it_and_resolves_after_the_configured_timeout() {
    let mut evaluator = evaluator();
    evaluator.set_resolve_timeout(60_000);
    let deploy = DeployRecorded {
        service: "api".into(),
        environment: "prod".into(),
        version: "v9".into(),
        status: DeployStatus::Succeeded,
        started_at: None,
        finished_at: None,
        commits: Vec::new(),
        actor: None,
        url: None,
        labels: LabelSet::new(),
    };
    evaluator.record_deploy(Uuid::now_v7(), &deploy, 90_000);
    evaluator.receive_external(&receipt(), 100_000);
    let fired = evaluator.decide_external(100_000);
    let EventPayload::AlertFiring(alert) = &fired[0].payload else {
        panic!("not firing");
    };
    assert_eq!(alert.suspect_deploys[0].version, "v9");
    assert!(evaluator.decide_external(159_999).is_empty());
    let resolved = evaluator.decide_external(160_000);
    assert!(matches!(
        &resolved[0].payload,
        EventPayload::AlertResolved(_)
    ));
    assert_eq!(resolved[0].occurred_at_ms, 160_000);
}
