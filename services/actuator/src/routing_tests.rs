//! Routing cases taken from Alertmanager's own `dispatch/route_test.go`
//! (`TestRouteMatchers`, `TestRouteWalk`), with the same expected receivers,
//! grouping and route keys.

use super::*;

const ALERTMANAGER_EXAMPLE: &str = r#"
receiver: 'notify-def'
routes:
- matchers: ['{owner="team-A"}', '{level!="critical"}']
  receiver: 'notify-A'
  routes:
  - matchers: ['{env="testing"}', '{baz!~".*quux"}']
    receiver: 'notify-testing'
    group_by: [...]
  - matchers: ['{env="production"}']
    receiver: 'notify-productionA'
    group_wait: 1m
    continue: true
  - matchers: [ env=~"produ.*", job=~".*"]
    receiver: 'notify-productionB'
    group_wait: 30s
    group_interval: 5m
    repeat_interval: 1h
    group_by: ['job']
- matchers: [owner=~"team-(B|C)"]
  group_by: ['foo', 'bar']
  group_wait: 2m
  receiver: 'notify-BC'
- matchers: [group_by="role"]
  group_by: ['role']
  routes:
  - matchers: ['{env="testing"}']
    receiver: 'notify-testing'
    routes:
    - matchers: [wait="long"]
      group_wait: 2m
"#;

fn tree() -> RouteTree {
    let config: RouteConfig = serde_yaml::from_str(ALERTMANAGER_EXAMPLE).unwrap();
    RouteTree::new(&config).unwrap()
}

fn labels(pairs: &[(&str, &str)]) -> LabelSet {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn names(list: &[&str]) -> GroupBy {
    GroupBy::Labels(list.iter().map(|s| s.to_string()).collect())
}

/// (receiver, group_by, key) of each route an alert goes to.
fn routed(pairs: &[(&str, &str)]) -> Vec<(String, GroupBy, String)> {
    let tree = tree();
    route(&tree, &labels(pairs))
        .into_iter()
        .map(|r| (r.receiver.clone(), r.group_by.clone(), r.key.clone()))
        .collect()
}

fn expect(receiver: &str, group_by: GroupBy, key: &str) -> (String, GroupBy, String) {
    (receiver.to_string(), group_by, key.to_string())
}

#[test]
fn an_alert_matching_a_child_but_none_of_its_children_goes_to_that_child() {
    assert_eq!(
        routed(&[("owner", "team-A")]),
        vec![expect(
            "notify-A",
            names(&[]),
            r#"{}/{level!="critical",owner="team-A"}"#
        )]
    );
    assert_eq!(
        routed(&[("owner", "team-A"), ("env", "unset")]),
        vec![expect(
            "notify-A",
            names(&[]),
            r#"{}/{level!="critical",owner="team-A"}"#
        )]
    );
}

#[test]
fn a_regex_matcher_routes_and_its_own_group_by_applies() {
    assert_eq!(
        routed(&[("owner", "team-C")]),
        vec![expect(
            "notify-BC",
            names(&["foo", "bar"]),
            r#"{}/{owner=~"team-(B|C)"}"#
        )]
    );
}

#[test]
fn group_by_dots_groups_by_every_label() {
    assert_eq!(
        routed(&[("owner", "team-A"), ("env", "testing")]),
        vec![expect(
            "notify-testing",
            GroupBy::All,
            r#"{}/{level!="critical",owner="team-A"}/{baz!~".*quux",env="testing"}"#
        )]
    );
}

#[test]
fn continue_lets_the_next_sibling_match_too() {
    assert_eq!(
        routed(&[("owner", "team-A"), ("env", "production")]),
        vec![
            expect(
                "notify-productionA",
                names(&[]),
                r#"{}/{level!="critical",owner="team-A"}/{env="production"}"#
            ),
            expect(
                "notify-productionB",
                names(&["job"]),
                r#"{}/{level!="critical",owner="team-A"}/{env=~"produ.*",job=~".*"}"#
            ),
        ]
    );
}

#[test]
fn a_route_without_receiver_inherits_its_parents_receiver_and_grouping() {
    assert_eq!(
        routed(&[("group_by", "role")]),
        vec![expect(
            "notify-def",
            names(&["role"]),
            r#"{}/{group_by="role"}"#
        )]
    );
    assert_eq!(
        routed(&[("env", "testing"), ("group_by", "role"), ("wait", "long")]),
        vec![expect(
            "notify-testing",
            names(&["role"]),
            r#"{}/{group_by="role"}/{env="testing"}/{wait="long"}"#
        )]
    );
}

#[test]
fn an_alert_no_child_matches_goes_to_the_root() {
    assert_eq!(
        routed(&[("owner", "team-Z")]),
        vec![expect("notify-def", names(&[]), "{}")]
    );
}

#[test]
fn a_failing_matcher_on_the_parent_hides_all_its_children() {
    // level="critical" fails team-A's `level!="critical"`: falls to the root.
    assert_eq!(
        routed(&[
            ("owner", "team-A"),
            ("level", "critical"),
            ("env", "testing")
        ]),
        vec![expect("notify-def", names(&[]), "{}")]
    );
}

#[test]
fn walking_the_tree_visits_receivers_depth_first() {
    let tree = tree();
    let receivers: Vec<&str> = tree.walk().iter().map(|r| r.receiver.as_str()).collect();
    assert_eq!(
        receivers,
        [
            "notify-def",
            "notify-A",
            "notify-testing",
            "notify-productionA",
            "notify-productionB",
            "notify-BC",
            "notify-def",
            "notify-testing",
            "notify-testing",
        ]
    );
}

#[test]
fn group_key_is_the_route_key_and_the_group_labels_as_alertmanager_prints_them() {
    let config: RouteConfig =
        serde_yaml::from_str("receiver: webhook\ngroup_by: [alertname]").unwrap();
    let tree = RouteTree::new(&config).unwrap();
    let alert = labels(&[("alertname", "ScaleUpNeeded"), ("service", "api")]);
    let routes = route(&tree, &alert);
    // From alertmanager-0.25/alertmanager_webhook.json.
    assert_eq!(
        routes[0].group_key(&alert),
        r#"{}:{alertname="ScaleUpNeeded"}"#
    );

    let config: RouteConfig = serde_yaml::from_str("receiver: w\ngroup_by: [b, a]").unwrap();
    let tree = RouteTree::new(&config).unwrap();
    let alert = labels(&[("a", "x\"y"), ("b", "2")]);
    assert_eq!(tree.root.group_key(&alert), r#"{}:{a="x\"y", b="2"}"#);
}

#[test]
fn a_bad_matcher_is_reported_with_its_path() {
    let config: RouteConfig =
        serde_yaml::from_str("receiver: r\nroutes:\n- matchers: ['severity']").unwrap();
    let err = RouteTree::new(&config).unwrap_err();
    assert_eq!(err.0[0].path, "route.routes[0].matchers[0]");
}

/// (wait, interval, repeat) in seconds of each route an alert goes to.
fn timers(pairs: &[(&str, &str)]) -> Vec<(u64, u64, u64)> {
    let tree = tree();
    route(&tree, &labels(pairs))
        .into_iter()
        .map(|r| {
            let t = r.timers;
            (t.wait.as_secs(), t.interval.as_secs(), t.repeat.as_secs())
        })
        .collect()
}

#[test]
fn group_timers_are_inherited_and_default_as_in_alertmanager() {
    // The RouteOpts route_test.go expects for the same tree.
    assert_eq!(timers(&[("owner", "team-X")]), vec![(30, 300, 14400)]);
    assert_eq!(
        timers(&[("owner", "team-A"), ("env", "production")]),
        vec![(60, 300, 14400), (30, 300, 3600)]
    );
    assert_eq!(timers(&[("owner", "team-C")]), vec![(120, 300, 14400)]);
    assert_eq!(
        timers(&[("group_by", "role"), ("env", "testing"), ("wait", "long")]),
        vec![(120, 300, 14400)]
    );
}

#[test]
fn a_zero_group_interval_is_refused() {
    let config: RouteConfig =
        serde_yaml::from_str("{receiver: a, routes: [{group_interval: 0s}]}").unwrap();
    let err = RouteTree::new(&config).unwrap_err().to_string();
    assert!(err.contains("route.routes[0].group_interval"), "{err}");
}
