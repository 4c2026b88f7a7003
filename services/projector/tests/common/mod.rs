//! Builders of realistic events and batches shared by the projector's
//! tests.
#![allow(dead_code)]

use chrono::{DateTime, Utc};
use closeloop_core::events::{
    ActionFailed, AlertEvent, Commit, DeployRecorded, DeployStatus, IssueClosed, IssueCommented,
    IssueFiled, IssueReopened, SuspectDeploy, WebhookDelivered,
};
use closeloop_core::{fingerprint, Event, EventPayload, LabelSet};
use closeloop_projector::projection;
use closeloop_projector::store::{Batch, Checkpoint, CONSUMER};
use closeloop_projector::SqliteStore;
use std::sync::Arc;
use uuid::Uuid;

pub fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|e| panic!("bad test time {text}: {e}"))
}

pub fn labels(pairs: &[(&str, &str)]) -> LabelSet {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub async fn temp_store() -> (tempfile::TempDir, Arc<SqliteStore>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(dir.path().join("read.db"))
        .await
        .expect("open store");
    (dir, Arc::new(store))
}

fn event(payload: EventPayload, key: String, occurred_at: &str) -> Event {
    let t = at(occurred_at);
    Event::new(payload, "test", key, t, t)
}

pub fn deploy(service: &str, environment: &str, version: &str, finished_at: &str) -> Event {
    let d = DeployRecorded {
        service: service.into(),
        environment: environment.into(),
        version: version.into(),
        status: DeployStatus::Succeeded,
        started_at: Some(at(finished_at) - chrono::Duration::minutes(3)),
        finished_at: Some(at(finished_at)),
        commits: vec![Commit {
            sha: "9f2c1e7a4b0d".into(),
            authored_at: Some(at(finished_at) - chrono::Duration::hours(20)),
        }],
        actor: Some("alice".into()),
        url: Some(format!("https://ci.example.com/{service}/{version}")),
        labels: labels(&[("team", "payments")]),
    };
    let key = d.key();
    event(EventPayload::DeployRecorded(d), key, finished_at)
}

pub fn alert_labels(alertname: &str) -> LabelSet {
    labels(&[
        ("alertname", alertname),
        ("service", "checkout"),
        ("severity", "page"),
    ])
}

pub fn fp(alertname: &str) -> String {
    fingerprint(&alert_labels(alertname)).to_string()
}

/// An alert transition: `pending`, `firing`, `resolved` (after firing) or
/// `cleared` (resolved without ever firing).
pub fn alert(alertname: &str, transition: &str, occurred_at: &str) -> Event {
    let active_at = at("2024-05-02T10:00:00Z");
    let now = at(occurred_at);
    let (fired_at, resolved_at) = match transition {
        "pending" => (None, None),
        "firing" => (Some(now), None),
        "resolved" => (Some(at("2024-05-02T10:05:00Z")), Some(now)),
        "cleared" => (None, Some(now)),
        other => panic!("unknown transition {other}"),
    };
    let labels = alert_labels(alertname);
    let body = AlertEvent {
        fingerprint: fingerprint(&labels).to_string(),
        rule_group: "checkout.rules".into(),
        alertname: alertname.into(),
        labels,
        annotations: labels_of_summary(alertname),
        value: 0.07,
        active_at,
        fired_at,
        resolved_at,
        suspect_deploys: vec![SuspectDeploy {
            deploy_id: Uuid::now_v7(),
            service: "checkout".into(),
            environment: "production".into(),
            version: "v2.14.0".into(),
            deployed_at: at("2024-05-02T09:58:00Z"),
            url: None,
            actor: Some("alice".into()),
            commits: Vec::new(),
        }],
        generator_url: None,
    };
    let key = body.fingerprint.clone();
    let payload = match transition {
        "pending" => EventPayload::AlertPending(body),
        "firing" => EventPayload::AlertFiring(body),
        _ => EventPayload::AlertResolved(body),
    };
    event(payload, key, occurred_at)
}

fn labels_of_summary(alertname: &str) -> LabelSet {
    labels(&[("summary", &format!("{alertname} on checkout"))])
}

pub const RECEIVER: &str = "payments-team";
pub const INTEGRATION: &str = "redmine_configs[0]";

pub fn issue_filed(alertname: &str, issue_id: &str, occurred_at: &str) -> Event {
    let fp = fp(alertname);
    event(
        EventPayload::IssueFiled(IssueFiled {
            request_id: Uuid::now_v7(),
            fingerprint: fp.clone(),
            receiver: RECEIVER.into(),
            integration: INTEGRATION.into(),
            tracker: "redmine".into(),
            issue_id: issue_id.into(),
            issue_url: format!("http://127.0.0.1:3000/issues/{issue_id}"),
            title: format!("[FIRING] {alertname}"),
            adopted: false,
            suspect_deploys: Vec::new(),
        }),
        fp,
        occurred_at,
    )
}

pub fn issue_commented(
    alertname: &str,
    issue_id: &str,
    occurrences: u32,
    occurred_at: &str,
) -> Event {
    let fp = fp(alertname);
    event(
        EventPayload::IssueCommented(IssueCommented {
            request_id: Uuid::now_v7(),
            fingerprint: fp.clone(),
            receiver: RECEIVER.into(),
            integration: INTEGRATION.into(),
            tracker: "redmine".into(),
            issue_id: issue_id.into(),
            reason: "recurred".into(),
            occurrences,
        }),
        fp,
        occurred_at,
    )
}

pub fn issue_closed(alertname: &str, issue_id: &str, occurred_at: &str) -> Event {
    let fp = fp(alertname);
    event(
        EventPayload::IssueClosed(IssueClosed {
            request_id: Uuid::now_v7(),
            fingerprint: fp.clone(),
            receiver: RECEIVER.into(),
            integration: INTEGRATION.into(),
            tracker: "redmine".into(),
            issue_id: issue_id.into(),
        }),
        fp,
        occurred_at,
    )
}

pub fn issue_reopened(alertname: &str, issue_id: &str, occurred_at: &str) -> Event {
    let fp = fp(alertname);
    event(
        EventPayload::IssueReopened(IssueReopened {
            request_id: Uuid::now_v7(),
            fingerprint: fp.clone(),
            receiver: RECEIVER.into(),
            integration: INTEGRATION.into(),
            tracker: "redmine".into(),
            issue_id: issue_id.into(),
        }),
        fp,
        occurred_at,
    )
}

pub fn webhook_delivered(request_id: Uuid, occurred_at: &str) -> Event {
    event(
        EventPayload::WebhookDelivered(WebhookDelivered {
            request_id,
            receiver: RECEIVER.into(),
            integration: "webhook_configs[0]".into(),
            url: "http://127.0.0.1:5001/hook".into(),
            status: 200,
            attempts: 2,
        }),
        "group".into(),
        occurred_at,
    )
}

pub fn action_failed(request_id: Uuid, occurred_at: &str) -> Event {
    event(
        EventPayload::ActionFailed(ActionFailed {
            request_id,
            receiver: RECEIVER.into(),
            integration: "webhook_configs[0]".into(),
            attempt: 1,
            error: "endpoint answered 503".into(),
            retryable: true,
            gave_up: false,
            next_attempt_at: Some(at(occurred_at) + chrono::Duration::seconds(2)),
        }),
        "group".into(),
        occurred_at,
    )
}

/// The batch a follower would build from `events` stored at consecutive
/// offsets from `first_offset` of partition 0 of `topic`.
pub fn batch(topic: &str, first_offset: u64, events: Vec<Event>) -> Batch {
    let next_offset = first_offset + events.len() as u64;
    let changes = events
        .into_iter()
        .zip(first_offset..)
        .flat_map(|(event, offset)| {
            projection::changes(event)
                .into_iter()
                .map(move |c| (offset, c))
        })
        .collect();
    Batch {
        checkpoint: Checkpoint {
            consumer: CONSUMER.into(),
            topic: topic.into(),
            partition: 0,
            next_offset,
        },
        changes,
    }
}

/// A deploy report with a status and commits given as (sha, authored_at),
/// `authored_at` empty for a commit without one.
pub fn deploy_report(
    service: &str,
    environment: &str,
    version: &str,
    status: DeployStatus,
    occurred_at: &str,
    commits: &[(&str, &str)],
) -> Event {
    let d = DeployRecorded {
        service: service.into(),
        environment: environment.into(),
        version: version.into(),
        status,
        started_at: None,
        finished_at: Some(at(occurred_at)),
        commits: commits
            .iter()
            .map(|(sha, authored)| Commit {
                sha: (*sha).into(),
                authored_at: (!authored.is_empty()).then(|| at(authored)),
            })
            .collect(),
        actor: Some("alice".into()),
        url: None,
        labels: LabelSet::new(),
    };
    let key = d.key();
    event(EventPayload::DeployRecorded(d), key, occurred_at)
}

/// An `IssueFiled` by `receiver` for the alert `alertname`, naming the
/// suspect deploy (service, environment, version) if one is given.
pub fn issue_filed_for(
    alertname: &str,
    receiver: &str,
    issue_id: &str,
    occurred_at: &str,
    suspect: Option<(&str, &str, &str)>,
) -> Event {
    let fp = fp(alertname);
    let suspect_deploys = suspect
        .map(|(service, environment, version)| SuspectDeploy {
            deploy_id: Uuid::now_v7(),
            service: service.into(),
            environment: environment.into(),
            version: version.into(),
            deployed_at: at(occurred_at) - chrono::Duration::minutes(30),
            url: None,
            actor: None,
            commits: vec!["9f2c1e7a4b0d".into()],
        })
        .into_iter()
        .collect();
    event(
        EventPayload::IssueFiled(IssueFiled {
            request_id: Uuid::now_v7(),
            fingerprint: fp.clone(),
            receiver: receiver.into(),
            integration: INTEGRATION.into(),
            tracker: "redmine".into(),
            issue_id: issue_id.into(),
            issue_url: format!("http://127.0.0.1:3000/issues/{issue_id}"),
            title: format!("[FIRING] {alertname}"),
            adopted: false,
            suspect_deploys,
        }),
        fp,
        occurred_at,
    )
}
