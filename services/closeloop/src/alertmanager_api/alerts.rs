//! `GET /api/v2/alerts` and `/api/v2/alerts/groups`: the firing alerts
//! (what Prometheus would have sent an Alertmanager) as `gettableAlert`s,
//! with their receivers from the route tree, `silencedBy` from the
//! silences active now and `inhibitedBy` from the inhibit rules over the
//! firing alerts; filters `filter` (matchers), `active`,
//! `silenced`, `inhibited`, `receiver` (a regex) as Alertmanager's.

use super::{error, AlertmanagerState};
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use closeloop_actuator::inhibit::inhibiting;
use closeloop_actuator::matcher::{parse_matcher, Matcher};
use closeloop_actuator::{route, GroupBy};
use closeloop_core::events::AlertState;
use closeloop_core::LabelSet;
use closeloop_projector::store::{AlertFilter, AlertRow};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// How long after its last update Alertmanager would resolve an alert
/// that is no longer re-sent: its `endsAt` while firing.
const RESOLVE_TIMEOUT: Duration = Duration::minutes(5);

struct Filters {
    matchers: Vec<Matcher>,
    active: bool,
    silenced: bool,
    inhibited: bool,
    receiver: Option<regex::Regex>,
}

fn filters(query: Option<&str>) -> Result<Filters, String> {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(query.unwrap_or_default()).map_err(|e| e.to_string())?;
    let flag = |name: &str| -> Result<bool, String> {
        match pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
        {
            None => Ok(true),
            Some("true") => Ok(true),
            Some("false") => Ok(false),
            Some(other) => Err(format!("{name}: {other:?} is not a boolean")),
        }
    };
    let matchers = pairs
        .iter()
        .filter(|(n, _)| n == "filter")
        .map(|(_, v)| parse_matcher(v).map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    let receiver = match pairs.iter().find(|(n, _)| n == "receiver") {
        Some((_, r)) => Some(
            regex::Regex::new(&format!("^(?:{r})$"))
                .map_err(|e| format!("failed to parse receiver param: {e}"))?,
        ),
        None => None,
    };
    Ok(Filters {
        matchers,
        active: flag("active")?,
        silenced: flag("silenced")?,
        inhibited: flag("inhibited")?,
        receiver,
    })
}

/// The alerts that pass the filters, each as JSON with its receivers.
async fn selected(
    state: &AlertmanagerState,
    query: Option<&str>,
) -> Result<Vec<(AlertRow, Vec<String>, Value)>, Response> {
    let filters = filters(query).map_err(|e| error(StatusCode::BAD_REQUEST, &e))?;
    let rows = state
        .store
        .alerts(&AlertFilter {
            state: Some(AlertState::Firing),
        })
        .await
        .map_err(|e| error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()))?;
    let now = Utc::now();
    let silences = {
        let mut view = state.silences.lock().await;
        if let Err(e) = view.catch_up(&*state.log, &state.prefix).await {
            return Err(error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()));
        }
        view.silences().clone()
    };
    let firing: Vec<(String, LabelSet)> = rows
        .iter()
        .map(|r| (r.fingerprint.clone(), r.labels.clone()))
        .collect();
    let mut out = Vec::new();
    for row in rows {
        if !filters.matchers.iter().all(|m| m.matches(&row.labels)) {
            continue;
        }
        let mut receivers: Vec<String> = Vec::new();
        for r in route(&state.tree, &row.labels) {
            if !receivers.contains(&r.receiver) {
                receivers.push(r.receiver.clone());
            }
        }
        if let Some(re) = &filters.receiver {
            if !receivers.iter().any(|r| re.is_match(r)) {
                continue;
            }
        }
        let silenced_by = silences.silencing(&row.labels, now);
        let inhibited_by = inhibiting(
            &state.inhibit_rules,
            &row.fingerprint,
            &row.labels,
            firing.iter().map(|(fp, l)| (fp.as_str(), l)),
        );
        // Alertmanager's filter: each flag off hides the alerts in that state.
        let active = silenced_by.is_empty() && inhibited_by.is_empty();
        if (!filters.silenced && !silenced_by.is_empty())
            || (!filters.inhibited && !inhibited_by.is_empty())
            || (!filters.active && active)
        {
            continue;
        }
        let json = alert_json(&row, &receivers, &silenced_by, &inhibited_by);
        out.push((row, receivers, json));
    }
    Ok(out)
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn alert_json(
    row: &AlertRow,
    receivers: &[String],
    silenced_by: &[String],
    inhibited_by: &[String],
) -> Value {
    let suppressed = !silenced_by.is_empty() || !inhibited_by.is_empty();
    let receivers: Vec<Value> = receivers.iter().map(|r| json!({"name": r})).collect();
    let mut alert = json!({
        "labels": row.labels,
        "annotations": row.annotations,
        "receivers": receivers,
        "fingerprint": row.fingerprint,
        "startsAt": time(row.active_at),
        "updatedAt": time(row.updated_at),
        "endsAt": time(row.updated_at + RESOLVE_TIMEOUT),
        "status": {
            "state": if suppressed { "suppressed" } else { "active" },
            "silencedBy": silenced_by,
            "inhibitedBy": inhibited_by,
        },
    });
    if let Some(url) = &row.generator_url {
        alert["generatorURL"] = json!(url);
    }
    alert
}

pub async fn list(State(state): State<AlertmanagerState>, RawQuery(q): RawQuery) -> Response {
    match selected(&state, q.as_deref()).await {
        Ok(alerts) => {
            let alerts: Vec<Value> = alerts.into_iter().map(|(_, _, json)| json).collect();
            Json(alerts).into_response()
        }
        Err(response) => response,
    }
}

/// One group per (receiver, values of the route's `group_by`), as
/// Alertmanager's dispatcher forms them.
pub async fn groups(State(state): State<AlertmanagerState>, RawQuery(q): RawQuery) -> Response {
    let alerts = match selected(&state, q.as_deref()).await {
        Ok(alerts) => alerts,
        Err(response) => return response,
    };
    let mut groups: BTreeMap<(String, String), (LabelSet, Vec<Value>)> = BTreeMap::new();
    for (row, _, json) in alerts {
        for r in route(&state.tree, &row.labels) {
            let labels: LabelSet = match &r.group_by {
                GroupBy::All => row.labels.clone(),
                GroupBy::Labels(names) => row
                    .labels
                    .iter()
                    .filter(|(n, _)| names.contains(n))
                    .map(|(n, v)| (n.clone(), v.clone()))
                    .collect(),
            };
            let key = (r.receiver.clone(), format!("{}{labels:?}", r.key));
            let entry = groups.entry(key).or_insert_with(|| (labels, Vec::new()));
            entry.1.push(json.clone());
        }
    }
    let out: Vec<Value> = groups
        .into_iter()
        .map(|((receiver, _), (labels, alerts))| {
            json!({"labels": labels, "receiver": {"name": receiver}, "alerts": alerts})
        })
        .collect();
    Json(out).into_response()
}
