//! The actuator's config as users write it in `closeloop.yml`: parsing,
//! validation messages that name the place, and secrets from files.

use closeloop_actuator::{ActuatorConfig, GroupBy, OnResolved, RouteTree};
use secrecy::ExposeSecret;
use std::io::Write;

const EXAMPLE: &str = r#"
route:
  receiver: default
  group_by: [alertname]
  continue: false
  matchers: []
  routes:
    - receiver: backlog
      matchers: ['severity="page"', 'team=~"a|b"']
      group_wait: 30s
      routes:
        - matchers: [env=staging]
receivers:
  - name: default
    webhook_configs: [{url: "http://127.0.0.1:5001/", send_resolved: true, max_alerts: 0}]
  - name: backlog
    redmine_configs:
      - url: http://127.0.0.1:3300
        api_key: s3cret-key
        project: checkout
        tracker_id: 1
        on_resolved: comment
"#;

fn parse(yaml: &str) -> ActuatorConfig {
    serde_yaml::from_str(yaml).unwrap_or_else(|e| panic!("config does not parse: {e}"))
}

fn problems(yaml: &str) -> Vec<(String, String)> {
    match parse(yaml).validate() {
        Ok(()) => Vec::new(),
        Err(e) => e.0.into_iter().map(|p| (p.path, p.message)).collect(),
    }
}

#[test]
fn the_documented_example_parses_and_validates_with_defaults_filled_in() {
    let config = parse(EXAMPLE);
    config.validate().expect("example is valid");
    let redmine = &config.receivers[1].redmine_configs[0];
    assert_eq!(redmine.on_resolved, OnResolved::Comment);
    assert_eq!(redmine.closed_status_id, 5);
    assert_eq!(redmine.subject_labels, ["service", "environment"]);
    assert!(config.receivers[0].webhook_configs[0].send_resolved);

    let tree = RouteTree::new(&config.route).expect("tree compiles");
    let child = &tree.root.routes[0];
    assert_eq!(child.key, r#"{}/{severity="page",team=~"a|b"}"#);
    // The grandchild inherits receiver and grouping.
    assert_eq!(child.routes[0].receiver, "backlog");
    assert_eq!(
        child.routes[0].group_by,
        GroupBy::Labels(vec!["alertname".into()])
    );
}

#[test]
fn a_route_naming_an_unknown_receiver_is_reported_with_its_path() {
    let yaml =
        "route: {receiver: default, routes: [{receiver: nobody}]}\nreceivers: [{name: default}]";
    assert_eq!(
        problems(yaml),
        vec![(
            "route.routes[0].receiver".to_string(),
            r#"unknown receiver "nobody" (not in receivers)"#.to_string()
        )]
    );
}

#[test]
fn duplicate_receiver_names_are_reported() {
    let yaml = "route: {receiver: a}\nreceivers: [{name: a}, {name: a}]";
    assert_eq!(
        problems(yaml),
        vec![(
            "receivers[1].name".to_string(),
            r#"duplicate receiver name "a""#.to_string()
        )]
    );
}

#[test]
fn a_bad_matcher_is_reported_with_its_path_and_text() {
    let yaml = "route: {receiver: a, routes: [{matchers: ['severity=\"page\"', 'team=~\"(\"']}]}\nreceivers: [{name: a}]";
    let found = problems(yaml);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, "route.routes[0].matchers[1]");
    assert!(found[0].1.contains("invalid regex"), "{}", found[0].1);
}

#[test]
fn every_problem_is_reported_at_once() {
    let yaml = r#"
route: {matchers: ['a="b"']}
receivers:
  - name: r
    webhook_configs: [{url: "not a url"}]
    redmine_configs: [{url: "http://x", project: ""}]
"#;
    let paths: Vec<String> = problems(yaml).into_iter().map(|(p, _)| p).collect();
    assert_eq!(
        paths,
        [
            "receivers[0].webhook_configs[0].url",
            "receivers[0].redmine_configs[0].project",
            "receivers[0].redmine_configs[0]",
            "route.receiver",
            "route.matchers",
        ]
    );
}

#[test]
fn unknown_keys_are_rejected_by_name() {
    let err = serde_yaml::from_str::<ActuatorConfig>(
        "route: {receiver: a}\nreceivers: [{name: a, slack_configs: []}]",
    )
    .expect_err("slack_configs is not supported");
    assert!(err.to_string().contains("slack_configs"), "{err}");
}

#[test]
fn a_bad_duration_is_rejected_when_parsing() {
    let err = serde_yaml::from_str::<ActuatorConfig>("route: {receiver: a, group_wait: 5 minutes}")
        .expect_err("not a Prometheus duration");
    assert!(err.to_string().contains("5 minutes"), "{err}");
}

#[test]
fn the_api_key_file_is_read_at_startup_and_the_key_never_printed() {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    writeln!(file, "from-file-key").expect("write key");
    let yaml = format!(
        "route: {{receiver: b}}\nreceivers:\n  - name: b\n    redmine_configs: [{{url: 'http://x', project: p, api_key_file: '{}'}}]",
        file.path().display()
    );
    let mut config = parse(&yaml);
    config.load_secrets().expect("key file readable");
    config.validate().expect("valid after loading");
    let key = config.receivers[0].redmine_configs[0]
        .api_key
        .as_ref()
        .expect("key loaded");
    assert_eq!(key.expose_secret(), "from-file-key");
    assert!(!format!("{config:?}").contains("from-file-key"));
    assert!(!format!("{:?}", parse(EXAMPLE)).contains("s3cret-key"));
}

#[test]
fn a_missing_api_key_file_fails_startup_naming_the_file() {
    let yaml = "route: {receiver: b}\nreceivers:\n  - name: b\n    redmine_configs: [{url: 'http://x', project: p, api_key_file: /nonexistent/key}]";
    let err = parse(yaml).load_secrets().expect_err("file is missing");
    assert_eq!(
        err.0[0].path,
        "receivers[0].redmine_configs[0].api_key_file"
    );
    assert!(err.0[0].message.contains("/nonexistent/key"));
}

const TRACKERS: &str = r#"
route:
  receiver: team
receivers:
  - name: team
    github_configs:
      - api_url: https://ghe.example/api/v3
        repository: acme/shop
        token_env: CLOSELOOP_TEST_GITHUB_TOKEN
        labels: [incident]
        assignees: [alice]
        on_resolved: label
        reopen_window: 2h
        rate_limit: {requests_per_minute: 20, burst: 5}
    gitlab_configs:
      - url: https://gitlab.example
        project: group/shop
        token: glpat-x
        not_planned_label: "won't fix"
    jira_configs:
      - url: https://acme.atlassian.net
        api_version: 2
        user: bot@acme.example
        token: t
        project_key: OPS
        custom_fields: {customfield_10010: {id: "42"}}
"#;

#[test]
fn tracker_receivers_parse_with_their_defaults_and_a_token_from_the_environment() {
    std::env::set_var("CLOSELOOP_TEST_GITHUB_TOKEN", "ghp_from_env\n");
    let mut config = parse(TRACKERS);
    config.load_secrets().expect("token from the environment");
    config.validate().expect("valid");
    let github = &config.receivers[0].github_configs[0];
    assert_eq!(
        github.token.as_ref().map(|t| t.expose_secret().to_string()),
        Some("ghp_from_env".to_string())
    );
    assert_eq!(github.on_resolved, OnResolved::Label);
    assert_eq!(github.resolved_label, "resolved");
    assert_eq!(github.reopen_window, std::time::Duration::from_secs(7200));
    let gitlab = &config.receivers[0].gitlab_configs[0];
    assert_eq!(gitlab.not_planned_label, "won't fix");
    assert_eq!(gitlab.rate_limit.requests_per_minute, 30);
    let jira = &config.receivers[0].jira_configs[0];
    assert_eq!(jira.api_version, closeloop_actuator::JiraApiVersion::V2);
    assert_eq!(jira.issue_type, "Bug");
    assert_eq!(jira.wont_fix_resolutions, ["Won't Do", "Won't Fix"]);
    assert!(
        !format!("{github:?}").contains("ghp_from_env"),
        "token never printed"
    );
}

#[test]
fn tracker_receivers_name_what_is_wrong() {
    let yaml = r#"
route: {receiver: team}
receivers:
  - name: team
    github_configs:
      - repository: just-a-name
        title: "{{ $labels.alertname"
        rate_limit: {requests_per_minute: 0, burst: 1}
    redmine_configs:
      - {url: "http://127.0.0.1:3300", api_key: k, project: p, on_resolved: label}
"#;
    let found = problems(yaml);
    let paths: Vec<&str> = found.iter().map(|(p, _)| p.as_str()).collect();
    for wanted in [
        "receivers[0].github_configs[0].repository",
        "receivers[0].github_configs[0]",
        "receivers[0].github_configs[0].title",
        "receivers[0].github_configs[0].rate_limit.requests_per_minute",
        "receivers[0].redmine_configs[0].on_resolved",
    ] {
        assert!(paths.contains(&wanted), "{wanted} missing from {found:?}");
    }
}
