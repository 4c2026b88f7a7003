//! The resolve-timeout state machine, decision by decision, and its
//! agreement between a live run and a replay of the same log.

use super::*;
use closeloop_core::fingerprint;

const MIN: i64 = 60_000;

fn labels() -> LabelSet {
    [
        ("alertname", "Down"),
        ("service", "api"),
        ("environment", "prod"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn receipt(source: ExternalAlertSource, ends_at_ms: Option<i64>) -> ExternalAlertReceived {
    ExternalAlertReceived {
        fingerprint: fingerprint(&labels()).to_string(),
        source,
        labels: labels(),
        annotations: LabelSet::new(),
        starts_at: Some(from_millis(0)),
        ends_at: ends_at_ms.map(from_millis),
        generator_url: None,
    }
}

fn no_suspects(_: &LabelSet, _: i64) -> Vec<SuspectDeploy> {
    Vec::new()
}

fn kinds(decisions: &[ExternalDecision]) -> Vec<(&'static str, i64)> {
    decisions
        .iter()
        .map(|(p, at, _)| (p.type_name(), *at))
        .collect()
}

#[test]
fn an_alert_without_ends_at_fires_on_receipt_and_resolves_the_timeout_after_its_last_receipt() {
    let mut alerts = ExternalAlerts::new(5 * MIN);
    alerts.receive(&receipt(ExternalAlertSource::AlertmanagerApiV2, None), MIN);
    assert_eq!(
        kinds(&alerts.decide(MIN, &no_suspects)),
        [("AlertFiring", MIN)]
    );
    alerts.receive(
        &receipt(ExternalAlertSource::AlertmanagerApiV2, None),
        3 * MIN,
    );
    assert!(
        alerts.decide(7 * MIN, &no_suspects).is_empty(),
        "re-sent at 3m: alive until 8m"
    );
    let resolved = alerts.decide(8 * MIN, &no_suspects);
    assert_eq!(kinds(&resolved), [("AlertResolved", 8 * MIN)]);
    let EventPayload::AlertResolved(event) = &resolved[0].0 else {
        unreachable!()
    };
    assert_eq!(event.rule_group, EXTERNAL_GROUP);
    assert_eq!(event.alertname, "Down");
    assert!(alerts.is_empty());
}

#[test]
fn an_ends_at_in_the_past_resolves_a_firing_alert_and_drops_an_unseen_one() {
    let mut alerts = ExternalAlerts::new(5 * MIN);
    alerts.receive(
        &receipt(ExternalAlertSource::AlertmanagerApiV2, Some(4 * MIN)),
        MIN,
    );
    assert_eq!(
        kinds(&alerts.decide(MIN, &no_suspects)),
        [("AlertFiring", MIN)]
    );
    // Prometheus says it resolved at 2m (endsAt now in the past).
    alerts.receive(
        &receipt(ExternalAlertSource::AlertmanagerApiV2, Some(2 * MIN)),
        2 * MIN,
    );
    assert_eq!(
        kinds(&alerts.decide(2 * MIN, &no_suspects)),
        [("AlertResolved", 2 * MIN)]
    );

    let mut unseen = ExternalAlerts::new(5 * MIN);
    unseen.receive(
        &receipt(ExternalAlertSource::AlertmanagerApiV2, Some(MIN)),
        2 * MIN,
    );
    assert!(unseen.decide(2 * MIN, &no_suspects).is_empty());
    assert!(unseen.is_empty());
}

#[test]
fn a_webhook_alert_stays_firing_until_alertmanager_says_resolved() {
    let mut alerts = ExternalAlerts::new(5 * MIN);
    alerts.receive(
        &receipt(ExternalAlertSource::AlertmanagerWebhook, None),
        MIN,
    );
    assert_eq!(
        kinds(&alerts.decide(MIN, &no_suspects)),
        [("AlertFiring", MIN)]
    );
    assert!(alerts.decide(300 * MIN, &no_suspects).is_empty());
    alerts.receive(
        &receipt(ExternalAlertSource::AlertmanagerWebhook, Some(301 * MIN)),
        301 * MIN,
    );
    assert_eq!(
        kinds(&alerts.decide(301 * MIN, &no_suspects)),
        [("AlertResolved", 301 * MIN)]
    );
}

#[test]
fn the_suspect_deploys_are_asked_for_at_the_alerts_start() {
    let mut alerts = ExternalAlerts::new(5 * MIN);
    alerts.receive(&receipt(ExternalAlertSource::AlertmanagerApiV2, None), MIN);
    let asked = std::cell::RefCell::new(None);
    let suspects = |labels: &LabelSet, at: i64| {
        *asked.borrow_mut() = Some((labels.get("service").cloned(), at));
        Vec::new()
    };
    alerts.decide(MIN, &suspects);
    assert_eq!(*asked.borrow(), Some((Some("api".to_string()), 0)));
}

/// The live decider folds its own decisions after deciding; a replay folds
/// the log in order before deciding. Both must end with the same alerts
/// and decide nothing more, including when a receipt landed in the log
/// between the state the decider saw and its resolution.
#[test]
fn replaying_the_log_with_the_decisions_in_it_decides_nothing_again() {
    let mut live = ExternalAlerts::new(5 * MIN);
    let mut log: Vec<(EventPayload, i64)> = Vec::new();
    let first = receipt(ExternalAlertSource::AlertmanagerApiV2, None);
    live.receive(&first, MIN);
    log.push((EventPayload::ExternalAlertReceived(first.clone()), MIN));
    for (payload, at, _) in live.decide(MIN, &no_suspects) {
        log.push((payload, at));
    }
    // A late re-send is in the log before the resolution the decider
    // makes without having read it.
    let resolved = live.decide(6 * MIN, &no_suspects);
    assert_eq!(kinds(&resolved), [("AlertResolved", 6 * MIN)]);
    log.push((EventPayload::ExternalAlertReceived(first.clone()), 7 * MIN));
    log.extend(resolved.into_iter().map(|(p, at, _)| (p, at)));
    live.receive(&first, 7 * MIN);
    let refired = live.decide(7 * MIN, &no_suspects);
    assert_eq!(kinds(&refired), [("AlertFiring", 7 * MIN)]);
    log.extend(refired.into_iter().map(|(p, at, _)| (p, at)));

    let mut replay = ExternalAlerts::new(5 * MIN);
    for (payload, at) in &log {
        match payload {
            EventPayload::ExternalAlertReceived(r) => replay.receive(r, *at),
            other => replay.fold_decision(other),
        }
    }
    assert!(replay.decide(7 * MIN, &no_suspects).is_empty());
    assert_eq!(replay.by_fingerprint, live.by_fingerprint);
}
