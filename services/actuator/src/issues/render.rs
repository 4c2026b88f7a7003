//! The text closeloop writes into trackers: issue titles, descriptions with
//! the suspect deploys, notes, and the marker lines that let closeloop find
//! its own issues again. Kept to plain lines, lists and `<pre>` blocks so
//! it reads the same in Textile and Markdown.
//!
//! A receiver's `title`, `body` and `labels` may be templates in
//! Prometheus' template language (`closeloop-template`), seeing what alert
//! templates see: `$labels`, `$value` (`$externalLabels` and
//! `$externalURL` are empty here).

use super::decide::Previous;
use crate::webhook_payload::go_time;
use closeloop_core::events::AlertEvent;
use closeloop_core::LabelSet;

/// Longest title trackers accept without complaint (Redmine: 255).
const MAX_TITLE_CHARS: usize = 255;

/// The line that identifies an alert's issue: `closeloop-fingerprint: <hex>`.
pub fn fingerprint_marker(fingerprint: &str) -> String {
    format!("closeloop-fingerprint: {fingerprint}")
}

/// Second marker line: two receivers filing into one project keep apart.
pub fn receiver_marker(receiver: &str) -> String {
    format!("closeloop-receiver: {receiver}")
}

/// Both marker lines, as the tracker's `hide_marker` wraps them.
pub fn marker_lines(fingerprint: &str, receiver: &str) -> String {
    format!(
        "{}\n{}",
        fingerprint_marker(fingerprint),
        receiver_marker(receiver)
    )
}

/// True when `description` carries both markers, each as a whole line
/// once the wrapping of a hidden marker (`<!--`, `-->`) is taken off.
pub fn has_markers(description: &str, fingerprint: &str, receiver: &str) -> bool {
    let fp = fingerprint_marker(fingerprint);
    let rc = receiver_marker(receiver);
    let has = |wanted: &str| {
        description.lines().any(|line| {
            let line = line.trim();
            let line = line.strip_prefix("<!--").unwrap_or(line);
            let line = line.strip_suffix("-->").unwrap_or(line);
            line.trim() == wanted
        })
    };
    has(&fp) && has(&rc)
}

/// Parses a template as the config is checked, naming Go's parse error.
pub fn check_template(text: &str) -> Result<(), String> {
    closeloop_template::check("issue", text)
}

/// Expands one receiver template for `alert`.
pub fn expand(name: &str, text: &str, alert: &AlertEvent) -> String {
    let none = LabelSet::new();
    let data = closeloop_template::TemplateData {
        labels: &alert.labels,
        external_labels: &none,
        external_url: "",
        value: alert.value,
    };
    closeloop_template::expand(name, text, &data)
}

/// The configured labels expanded for `alert`; empty results dropped.
pub fn labels(configured: &[String], alert: &AlertEvent) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for text in configured {
        let label = expand("label", text, alert).trim().to_string();
        if !label.is_empty() && !out.contains(&label) {
            out.push(label);
        }
    }
    out
}

/// The title: the receiver's template, else the alert name and its key
/// labels; one line, cut to the length trackers take.
pub fn title_for(alert: &AlertEvent, template: Option<&str>, subject_labels: &[String]) -> String {
    match template {
        Some(text) => one_line(&expand("title", text, alert)),
        None => title(alert, subject_labels),
    }
}

/// The body: the receiver's template, else the default body; the link to
/// the issue this one follows is added either way.
pub fn body_for(alert: &AlertEvent, template: Option<&str>, previous: Option<&Previous>) -> String {
    match template {
        None => body(alert, previous),
        Some(text) => {
            let mut out = expand("body", text, alert);
            if let Some(previous) = previous {
                out.push_str(&format!(
                    "\n\nThis alert fired before; earlier issue: {} ({})\n",
                    previous.url, previous.issue_id
                ));
            }
            out
        }
    }
}

fn one_line(text: &str) -> String {
    let text = text.replace(['\n', '\r'], " ").trim().to_string();
    if text.chars().count() <= MAX_TITLE_CHARS {
        return text;
    }
    let cut: String = text.chars().take(MAX_TITLE_CHARS - 1).collect();
    format!("{cut}…")
}

/// `[closeloop] HighErrorRate service=checkout environment=prod`: the alert
/// name and the `subject_labels` present, in their configured order; all
/// other labels when none of those is present.
pub fn title(alert: &AlertEvent, subject_labels: &[String]) -> String {
    let mut parts = vec![format!("[closeloop] {}", alert.alertname)];
    let named: Vec<String> = subject_labels
        .iter()
        .filter_map(|n| alert.labels.get(n).map(|v| format!("{n}={v}")))
        .collect();
    if named.is_empty() {
        parts.extend(
            alert
                .labels
                .iter()
                .filter(|(k, _)| k.as_str() != "alertname")
                .map(|(k, v)| format!("{k}={v}")),
        );
    } else {
        parts.extend(named);
    }
    let text = parts.join(" ").replace(['\n', '\r'], " ");
    if text.chars().count() <= MAX_TITLE_CHARS {
        return text;
    }
    let cut: String = text.chars().take(MAX_TITLE_CHARS - 1).collect();
    format!("{cut}…")
}

/// The default body followed by the plain marker lines (Redmine's form).
pub fn description(alert: &AlertEvent, receiver: &str) -> String {
    format!(
        "{}\n{}\n",
        body(alert, None),
        marker_lines(&alert.fingerprint, receiver)
    )
}

/// The default body: what fired, since when, its value, labels,
/// annotations, the generator and runbook links, the suspect deploys with
/// version, commits, actor and CI URL, and the issue this one follows.
pub fn body(alert: &AlertEvent, previous: Option<&Previous>) -> String {
    let started = alert.fired_at.unwrap_or(alert.active_at);
    let mut out = format!(
        "Alert *{}* is firing since {} (rule group {}).\n\n",
        alert.alertname,
        go_time(started),
        alert.rule_group
    );
    out.push_str(&format!("Value: {}\n", format_value(alert.value)));
    if let Some(url) = &alert.generator_url {
        out.push_str(&format!("Source: {url}\n"));
    }
    for name in ["runbook_url", "runbook"] {
        if let Some(url) = alert.annotations.get(name) {
            out.push_str(&format!("Runbook: {url}\n"));
        }
    }
    if let Some(previous) = previous {
        out.push_str(&format!(
            "\nThis alert fired before; earlier issue: {} ({})\n",
            previous.url, previous.issue_id
        ));
    }
    out.push_str("\nLabels:\n\n");
    out.push_str(&pre_block(&alert.labels));
    if !alert.annotations.is_empty() {
        out.push_str("\nAnnotations:\n\n");
        out.push_str(&pre_block(&alert.annotations));
    }
    out.push('\n');
    out.push_str(&suspects(alert));
    out
}

fn suspects(alert: &AlertEvent) -> String {
    if alert.suspect_deploys.is_empty() {
        return "Suspect deploys: no deploy of the same service/environment in the \
                attribution window.\n"
            .to_string();
    }
    let mut out =
        String::from("Suspect deploys (same service/environment, in the attribution window):\n\n");
    for deploy in &alert.suspect_deploys {
        out.push_str(&format!(
            "* {} {} in {}, deployed at {}",
            deploy.service,
            deploy.version,
            deploy.environment,
            go_time(deploy.deployed_at)
        ));
        if let Some(actor) = &deploy.actor {
            out.push_str(&format!(" by {actor}"));
        }
        if let Some(url) = &deploy.url {
            out.push_str(&format!(": {url}"));
        }
        out.push('\n');
        if !deploy.commits.is_empty() {
            out.push_str(&format!("  commits: {}\n", deploy.commits.join(", ")));
        }
    }
    out
}

pub fn recurrence_note(alert: &AlertEvent, occurrences: u32) -> String {
    let at = alert.fired_at.unwrap_or(alert.active_at);
    let mut note = format!(
        "Fired again at {} (occurrence {occurrences}), value {}.\n",
        go_time(at),
        format_value(alert.value)
    );
    if let Some(deploy) = alert.suspect_deploys.first() {
        note.push_str(&format!(
            "\nLatest suspect deploy: {} {} at {}\n",
            deploy.service,
            deploy.version,
            go_time(deploy.deployed_at)
        ));
    }
    note
}

pub fn reopen_note(alert: &AlertEvent, occurrences: u32) -> String {
    format!(
        "Reopened by closeloop: the alert fired again.\n\n{}",
        recurrence_note(alert, occurrences)
    )
}

pub fn resolved_note(alert: &AlertEvent, closing: bool) -> String {
    let at = alert
        .resolved_at
        .map(go_time)
        .unwrap_or_else(|| "an unknown time".to_string());
    let tail = if closing { " Closing." } else { "" };
    format!("Resolved at {at}.{tail}\n")
}

fn format_value(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_string()
    } else {
        value.to_string()
    }
}

fn pre_block(labels: &LabelSet) -> String {
    let mut out = String::from("<pre>\n");
    for (name, value) in labels {
        out.push_str(&escape_html(&format!("{name}={value}")));
        out.push('\n');
    }
    out.push_str("</pre>\n");
    out
}

/// Inside `<pre>` both Redmine formatters still read tags.
fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};
    use closeloop_core::events::SuspectDeploy;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn alert() -> AlertEvent {
        let labels: LabelSet = [
            ("alertname", "HighErrorRate"),
            ("environment", "prod"),
            ("service", "checkout"),
            ("severity", "page"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        AlertEvent {
            fingerprint: closeloop_core::fingerprint(&labels).to_string(),
            rule_group: "checkout".into(),
            alertname: "HighErrorRate".into(),
            labels,
            annotations: [("summary".to_string(), "5xx <above> 5%".to_string())].into(),
            value: 0.12,
            active_at: at("2026-11-22T02:30:00Z"),
            fired_at: Some(at("2026-11-22T02:35:00Z")),
            resolved_at: None,
            suspect_deploys: vec![SuspectDeploy {
                deploy_id: uuid::Uuid::nil(),
                service: "checkout".into(),
                environment: "prod".into(),
                version: "1.4.2".into(),
                deployed_at: at("2026-11-22T02:20:00Z"),
                url: Some("https://ci.example/run/42".into()),
                actor: Some("alice".into()),
                commits: vec!["9fceb02d0ae598e95dc970b74767f19372d61af8".into()],
            }],
            generator_url: Some("http://prom/graph?g0.expr=x".into()),
        }
    }

    #[test]
    fn the_title_names_the_alert_and_its_key_labels_in_order() {
        let labels = ["service".to_string(), "environment".to_string()];
        assert_eq!(
            title(&alert(), &labels),
            "[closeloop] HighErrorRate service=checkout environment=prod"
        );
    }

    #[test]
    fn without_key_labels_the_title_lists_every_other_label() {
        let mut a = alert();
        a.labels.remove("service");
        a.labels.remove("environment");
        assert_eq!(
            title(&a, &["service".to_string()]),
            "[closeloop] HighErrorRate severity=page"
        );
    }

    #[test]
    fn the_description_names_the_suspect_deploy_and_ends_with_the_markers() {
        let text = description(&alert(), "backlog");
        assert!(text.contains("* checkout 1.4.2 in prod, deployed at 2026-11-22T02:20:00Z by alice: https://ci.example/run/42"));
        assert!(text.contains("summary=5xx &lt;above&gt; 5%"));
        assert!(text.contains("Value: 0.12"));
        assert!(has_markers(&text, &alert().fingerprint, "backlog"));
        assert!(!has_markers(&text, &alert().fingerprint, "backlog2"));
    }

    #[test]
    fn the_description_says_when_no_deploy_is_suspect() {
        let mut a = alert();
        a.suspect_deploys.clear();
        assert!(description(&a, "r")
            .contains("no deploy of the same service/environment in the attribution window"));
    }

    #[test]
    fn markers_match_whole_lines_even_with_crlf_line_ends() {
        let stored = "x\r\ncloseloop-fingerprint: 776a2feeb0b80e00\r\ncloseloop-receiver: b\r\n";
        assert!(has_markers(stored, "776a2feeb0b80e00", "b"));
        assert!(!has_markers(stored, "776a2feeb0b80e0", "b"));
    }

    #[test]
    fn title_body_and_labels_templates_see_the_alerts_labels_and_value() {
        let a = alert();
        assert_eq!(
            title_for(
                &a,
                Some("{{ $labels.severity | toUpper }}: {{ $labels.alertname }} at {{ $value }}"),
                &[]
            ),
            "PAGE: HighErrorRate at 0.12"
        );
        let labels = labels(
            &[
                "team:{{ $labels.service }}".into(),
                "{{ $labels.missing }}".into(),
                "incident".into(),
            ],
            &a,
        );
        assert_eq!(labels, ["team:checkout", "incident"]);
        let previous = Previous {
            issue_id: "7".into(),
            url: "https://t/7".into(),
        };
        let text = body_for(
            &a,
            Some("{{ $labels.service }} is failing"),
            Some(&previous),
        );
        assert!(text.starts_with("checkout is failing"));
        assert!(text.contains("earlier issue: https://t/7"));
        assert!(check_template("{{ $labels.x").is_err());
    }
}
