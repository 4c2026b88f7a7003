//! Aggregation groups against the timeline `dispatch_test.go`'s
//! `TestAggrGroup` walks through: first flush after `group_wait`, later
//! ones every `group_interval`, resolved alerts dropped once flushed.

use super::*;
use crate::config::RouteConfig;
use crate::routing::RouteTree;

fn tree(yaml: &str) -> RouteTree {
    let config: RouteConfig = serde_yaml::from_str(yaml).unwrap();
    RouteTree::new(&config).unwrap()
}

fn t(s: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
}

fn alert(name: &str, cluster: &str, starts: i64, ends: Option<i64>, at: i64) -> GroupedAlert {
    let labels: LabelSet = [("alertname", name), ("cluster", cluster)]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    GroupedAlert {
        fingerprint: closeloop_core::fingerprint(&labels).to_string(),
        labels,
        annotations: LabelSet::new(),
        starts_at: t(starts),
        ends_at: ends.map(t),
        generator_url: String::new(),
        updated_at: t(at),
    }
}

const ROUTE: &str = "{receiver: r, group_by: [cluster], group_wait: 30s, group_interval: 5m}";

fn names(flush: &Flush) -> Vec<(String, bool)> {
    flush
        .alerts
        .iter()
        .map(|a| (a.labels["alertname"].clone(), a.ends_at.is_some()))
        .collect()
}

#[test]
fn the_first_flush_waits_group_wait_then_every_group_interval() {
    let tree = tree(ROUTE);
    let route = &tree.root;
    let mut groups = Groups::default();
    groups.insert(0, route, alert("A", "c1", 0, None, 0), t(0));
    groups.insert(0, route, alert("B", "c1", 10, None, 10), t(10));
    assert_eq!(groups.next_due(), Some(t(30)));
    assert!(groups.take_due(Due::UpTo(t(29))).is_none());

    let first = groups
        .take_due(Due::UpTo(t(30)))
        .expect("due at group_wait");
    assert_eq!(first.at, t(30));
    assert_eq!(first.key, r#"{}:{cluster="c1"}"#);
    assert_eq!(
        names(&first),
        vec![("A".into(), false), ("B".into(), false)]
    );
    groups.flushed(&first);
    assert_eq!(groups.next_due(), Some(t(330)));

    // A resolves: it is in the next flush, then leaves the group.
    groups.insert(0, route, alert("A", "c1", 0, Some(100), 100), t(100));
    let second = groups.take_due(Due::UpTo(t(330))).unwrap();
    assert_eq!(second.at, t(330));
    assert_eq!(
        names(&second),
        vec![("A".into(), true), ("B".into(), false)]
    );
    groups.flushed(&second);
    let third = groups.take_due(Due::UpTo(t(630))).unwrap();
    assert_eq!(names(&third), vec![("B".into(), false)]);
}

#[test]
fn each_group_by_value_is_its_own_group_and_empty_groups_go() {
    let tree = tree(ROUTE);
    let route = &tree.root;
    let mut groups = Groups::default();
    groups.insert(0, route, alert("A", "c1", 0, None, 0), t(0));
    groups.insert(0, route, alert("A", "c2", 5, None, 5), t(5));
    assert_eq!(groups.len(), 2);
    let first = groups.take_due(Due::UpTo(t(100))).unwrap();
    assert_eq!((first.at, first.labels["cluster"].as_str()), (t(30), "c1"));
    let second = groups.take_due(Due::UpTo(t(100))).unwrap();
    assert_eq!(
        (second.at, second.labels["cluster"].as_str()),
        (t(35), "c2")
    );

    // c1's alert resolves; once that is flushed the group is gone.
    groups.flushed(&first);
    groups.flushed(&second);
    groups.insert(0, route, alert("A", "c1", 0, Some(40), 40), t(40));
    let resolved = groups.take_due(Due::UpTo(t(330))).unwrap();
    groups.flushed(&resolved);
    assert_eq!(groups.len(), 1);
}

#[test]
fn an_alert_older_than_group_wait_flushes_a_new_group_at_once() {
    let tree = tree(ROUTE);
    let mut groups = Groups::default();
    // Started 2 minutes before it reached the group.
    groups.insert(0, &tree.root, alert("A", "c1", 0, None, 120), t(120));
    assert_eq!(groups.next_due(), Some(t(120)));
}

#[test]
fn a_resolved_alert_that_fires_again_before_the_flush_is_kept() {
    let tree = tree(ROUTE);
    let route = &tree.root;
    let mut groups = Groups::default();
    groups.insert(0, route, alert("A", "c1", 0, Some(10), 10), t(10));
    let flush = groups.take_due(Due::UpTo(t(40))).unwrap();
    // Fired again after the flush was taken, before it was acted on.
    groups.insert(0, route, alert("A", "c1", 20, None, 20), t(20));
    groups.flushed(&flush);
    assert_eq!(groups.len(), 1, "the new firing state must not be dropped");
}

#[test]
fn an_end_time_still_ahead_of_the_flush_reads_as_firing() {
    let tree = tree(ROUTE);
    let mut groups = Groups::default();
    groups.insert(0, &tree.root, alert("A", "c1", 0, Some(100), 0), t(0));
    let flush = groups.take_due(Due::UpTo(t(30))).unwrap();
    assert_eq!(names(&flush), vec![("A".into(), false)]);
}

#[test]
fn huge_timers_saturate_instead_of_overflowing() {
    let tree = tree("{receiver: r, group_wait: 100000000y}");
    let mut groups = Groups::default();
    groups.insert(0, &tree.root, alert("A", "c1", 0, None, 0), t(0));
    assert_eq!(groups.next_due(), Some(DateTime::<Utc>::MAX_UTC));
}

#[test]
fn an_event_at_a_timer_instant_joins_the_flush_only_with_before() {
    let tree = tree(ROUTE);
    let mut groups = Groups::default();
    groups.insert(0, &tree.root, alert("A", "c1", 0, None, 0), t(0));
    assert!(groups.take_due(Due::Before(t(30))).is_none());
    assert!(groups.take_due(Due::UpTo(t(30))).is_some());
}
