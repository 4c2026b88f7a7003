//! `GET|POST /api/v2/silences` and `GET|DELETE /api/v2/silence/{id}`, with
//! Alertmanager's rules: a posted silence is validated; posting with the
//! id of a silence that may be updated in place (same matchers, pending or
//! active, see `can_update`) keeps the id, any other change expires the
//! old one and creates a new id; an unknown id is 404; expiring an
//! expired silence is 400. Every change is an event appended before the
//! answer, under one lock so two writers cannot race on one silence.

use super::{error, AlertmanagerState};
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, SecondsFormat, Utc};
use closeloop_actuator::matcher::parse_matcher;
use closeloop_actuator::silences::{can_update, validate, Silence, SilenceState};
use closeloop_core::events::{SilenceExpired, SilenceMatcher, SilenceSet};
use closeloop_core::topics::Topic;
use closeloop_core::{Event, EventPayload};
use closeloop_log::NewRecord;
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PostableMatcher {
    name: String,
    value: String,
    is_regex: bool,
    #[serde(default = "yes")]
    is_equal: bool,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PostableSilence {
    #[serde(default)]
    id: Option<String>,
    matchers: Vec<PostableMatcher>,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    created_by: String,
    comment: String,
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn silence_json(s: &Silence, now: DateTime<Utc>) -> Value {
    let matchers: Vec<Value> = s
        .set
        .matchers
        .iter()
        .map(|m| json!({"name": m.name, "value": m.value, "isRegex": m.is_regex, "isEqual": m.is_equal}))
        .collect();
    json!({
        "id": s.set.id,
        "status": {"state": s.state_at(now).as_str()},
        "updatedAt": time(s.set.updated_at),
        "matchers": matchers,
        "startsAt": time(s.set.starts_at),
        "endsAt": time(s.set.ends_at),
        "createdBy": s.set.created_by,
        "comment": s.set.comment,
    })
}

async fn append(
    state: &AlertmanagerState,
    id: &str,
    payload: EventPayload,
) -> Result<(), Response> {
    let now = Utc::now();
    let event = Event::new(payload, "api", id.to_string(), now, now);
    let record = NewRecord {
        key: id.as_bytes().to_vec().into(),
        value: event.to_json().into(),
        timestamp_ms: now.timestamp_millis(),
    };
    state
        .log
        .append(&Topic::Silences.name(&state.prefix), vec![record])
        .await
        .map(|_| ())
        .map_err(|e| {
            tracing::warn!(error = %e, "silence append failed");
            let mut response = error(
                StatusCode::SERVICE_UNAVAILABLE,
                "event log cannot take the silence; retry later",
            );
            response
                .headers_mut()
                .insert("retry-after", axum::http::HeaderValue::from_static("5"));
            response
        })
}

pub async fn list(State(state): State<AlertmanagerState>, RawQuery(q): RawQuery) -> Response {
    let pairs: Vec<(String, String)> =
        match serde_urlencoded::from_str(q.as_deref().unwrap_or_default()) {
            Ok(p) => p,
            Err(e) => return error(StatusCode::BAD_REQUEST, &e.to_string()),
        };
    let mut filter = Vec::new();
    for (_, text) in pairs.iter().filter(|(n, _)| n == "filter") {
        match parse_matcher(text) {
            Ok(m) => filter.push(m),
            Err(e) => return error(StatusCode::BAD_REQUEST, &e.to_string()),
        }
    }
    let mut view = state.silences.lock().await;
    if let Err(e) = view.catch_up(&*state.log, &state.prefix).await {
        return error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string());
    }
    let now = Utc::now();
    // As Alertmanager's CheckSilenceMatchesFilterLabels: every filter
    // matcher must equal one of the silence's matchers in name, type and
    // value (`team=~"d.*"` finds a silence on `team=~"d.*"`, not on
    // `team="db"`).
    let out: Vec<Value> = view
        .silences()
        .listed(now)
        .into_iter()
        .filter(|s| filter.iter().all(|f| s.has_matcher(f)))
        .map(|s| silence_json(s, now))
        .collect();
    Json(out).into_response()
}

pub async fn get_one(State(state): State<AlertmanagerState>, Path(id): Path<String>) -> Response {
    let mut view = state.silences.lock().await;
    if let Err(e) = view.catch_up(&*state.log, &state.prefix).await {
        return error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string());
    }
    match view.silences().get(&id) {
        Some(s) => Json(silence_json(s, Utc::now())).into_response(),
        None => error(StatusCode::NOT_FOUND, &format!("silence {id} not found")),
    }
}

pub async fn post(State(state): State<AlertmanagerState>, body: Bytes) -> Response {
    let posted: PostableSilence = match serde_json::from_slice(&body) {
        Ok(p) => p,
        Err(e) => return error(StatusCode::BAD_REQUEST, &format!("invalid silence: {e}")),
    };
    let now = Utc::now();
    let mut set = SilenceSet {
        id: String::new(),
        matchers: posted
            .matchers
            .into_iter()
            .map(|m| SilenceMatcher {
                name: m.name,
                value: m.value,
                is_regex: m.is_regex,
                is_equal: m.is_equal,
            })
            .collect(),
        // A start in the past begins now, as in Alertmanager.
        starts_at: posted.starts_at.max(now),
        ends_at: posted.ends_at,
        created_by: posted.created_by,
        comment: posted.comment,
        updated_at: now,
    };
    if let Err(reason) = validate(&set, now) {
        return error(
            StatusCode::BAD_REQUEST,
            &format!("invalid silence: {reason}"),
        );
    }
    let mut view = state.silences.lock().await;
    if let Err(e) = view.catch_up(&*state.log, &state.prefix).await {
        return error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string());
    }
    let mut expire_old = None;
    match posted.id.filter(|id| !id.is_empty()) {
        Some(id) => match view.silences().get(&id) {
            None => return error(StatusCode::NOT_FOUND, &format!("silence {id} not found")),
            Some(prev) => {
                if can_update(prev, &set, now) {
                    if prev.state_at(now) == SilenceState::Active {
                        set.starts_at = prev.set.starts_at;
                    }
                    set.id = id;
                } else {
                    if prev.state_at(now) != SilenceState::Expired {
                        expire_old = Some(id);
                    }
                    set.id = Uuid::now_v7().to_string();
                }
            }
        },
        None => set.id = Uuid::now_v7().to_string(),
    }
    if let Some(old) = expire_old {
        let expired = EventPayload::SilenceExpired(SilenceExpired {
            id: old.clone(),
            expired_at: now,
        });
        if let Err(response) = append(&state, &old, expired).await {
            return response;
        }
    }
    let id = set.id.clone();
    if let Err(response) = append(&state, &id, EventPayload::SilenceSet(set)).await {
        return response;
    }
    let _ = view.catch_up(&*state.log, &state.prefix).await;
    Json(json!({"silenceID": id})).into_response()
}

pub async fn delete(State(state): State<AlertmanagerState>, Path(id): Path<String>) -> Response {
    let mut view = state.silences.lock().await;
    if let Err(e) = view.catch_up(&*state.log, &state.prefix).await {
        return error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string());
    }
    let now = Utc::now();
    match view.silences().get(&id) {
        None => return error(StatusCode::NOT_FOUND, &format!("silence {id} not found")),
        Some(s) if s.state_at(now) == SilenceState::Expired => {
            return error(StatusCode::BAD_REQUEST, "silence already expired")
        }
        Some(_) => {}
    }
    let expired = EventPayload::SilenceExpired(SilenceExpired {
        id: id.clone(),
        expired_at: now,
    });
    if let Err(response) = append(&state, &id, expired).await {
        return response;
    }
    let _ = view.catch_up(&*state.log, &state.prefix).await;
    StatusCode::OK.into_response()
}
