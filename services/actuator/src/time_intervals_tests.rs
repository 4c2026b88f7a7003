//! Time-interval cases after Alertmanager's `timeinterval_test.go`: the
//! YAML it accepts and refuses, and which instants fall inside.

use super::*;

fn interval(yaml: &str) -> TimeInterval {
    let spec: TimeIntervalSpec = serde_yaml::from_str(yaml).unwrap();
    TimeInterval::parse(&spec).unwrap()
}

fn refused(yaml: &str) -> String {
    let spec: TimeIntervalSpec = serde_yaml::from_str(yaml).unwrap();
    TimeInterval::parse(&spec).unwrap_err()
}

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

#[test]
fn times_of_day_include_the_start_and_exclude_the_end() {
    let i = interval("times: [{start_time: '09:00', end_time: '17:00'}]");
    assert!(i.contains(t("2026-12-07T09:00:00Z")));
    assert!(i.contains(t("2026-12-07T16:59:59Z")));
    assert!(!i.contains(t("2026-12-07T17:00:00Z")));
    assert!(!i.contains(t("2026-12-07T08:59:00Z")));
    let to_midnight = interval("times: [{start_time: '22:00', end_time: '24:00'}]");
    assert!(to_midnight.contains(t("2026-12-07T23:59:00Z")));
}

#[test]
fn weekdays_months_and_years_are_inclusive_ranges() {
    // 2026-12-07 is a Monday.
    let i =
        interval("weekdays: ['monday:friday']\nmonths: ['december', '1:2']\nyears: ['2026:2027']");
    assert!(i.contains(t("2026-12-07T12:00:00Z")));
    assert!(i.contains(t("2026-12-11T12:00:00Z")), "friday");
    assert!(!i.contains(t("2026-12-12T12:00:00Z")), "saturday");
    assert!(i.contains(t("2027-02-01T12:00:00Z")), "february, monday");
    assert!(!i.contains(t("2027-03-01T12:00:00Z")), "march");
    assert!(!i.contains(t("2028-12-04T12:00:00Z")), "2028");
    let sunday = interval("weekdays: [Sunday]");
    assert!(sunday.contains(t("2026-12-06T00:00:00Z")));
}

#[test]
fn negative_days_count_from_the_end_of_each_month() {
    let last_two = interval("days_of_month: ['-2:-1']");
    assert!(last_two.contains(t("2026-02-27T00:00:00Z")));
    assert!(last_two.contains(t("2026-02-28T00:00:00Z")));
    assert!(!last_two.contains(t("2026-02-26T00:00:00Z")));
    assert!(last_two.contains(t("2026-12-31T00:00:00Z")));
    assert!(!last_two.contains(t("2026-12-29T00:00:00Z")));
    let first_to_last = interval("days_of_month: ['1:-1']");
    assert!(first_to_last.contains(t("2026-04-30T00:00:00Z")));
    // Day 31 does not exist in April: a range from it matches nothing.
    let thirty_first = interval("days_of_month: ['31']");
    assert!(!thirty_first.contains(t("2026-04-30T00:00:00Z")));
}

#[test]
fn the_location_decides_the_local_time() {
    let berlin =
        interval("times: [{start_time: '09:00', end_time: '10:00'}]\nlocation: Europe/Berlin");
    // 08:30 UTC is 09:30 in Berlin in winter.
    assert!(berlin.contains(t("2026-12-07T08:30:00Z")));
    assert!(!berlin.contains(t("2026-12-07T09:30:00Z")));
}

#[test]
fn what_alertmanager_refuses_is_refused_with_the_reason() {
    assert!(refused("times: [{start_time: '17:00', end_time: '09:00'}]").contains("before"));
    assert!(refused("times: [{start_time: '24:30', end_time: '25:00'}]").contains("time of day"));
    assert!(refused("weekdays: ['friday:monday']").contains("ends before"));
    assert!(refused("weekdays: ['fryday']").contains("weekday"));
    assert!(refused("months: ['13']").contains("month"));
    assert!(refused("days_of_month: ['0']").contains("1..31"));
    assert!(refused("days_of_month: ['-1:5']").contains("month's end"));
    assert!(refused("days_of_month: ['10:2']").contains("ends before"));
    assert!(refused("years: ['2027:2026']").contains("ends before"));
    assert!(refused("location: Mars/Olympus").contains("unknown location"));
}

#[test]
fn a_name_matches_if_any_of_its_intervals_does() {
    let entries: Vec<TimeIntervalConfig> = serde_yaml::from_str(
        "- name: weekends\n  time_intervals: [{weekdays: [saturday, sunday]}]\n\
         - name: nights\n  time_intervals: [{times: [{start_time: '00:00', end_time: '06:00'}]}, {times: [{start_time: '22:00', end_time: '24:00'}]}]",
    )
    .unwrap();
    let named = TimeIntervals::parse(
        entries
            .into_iter()
            .enumerate()
            .map(|(i, e)| (format!("time_intervals[{i}]"), e)),
    )
    .unwrap();
    let both = ["weekends".to_string(), "nights".to_string()];
    assert!(named.any_contains(&both, t("2026-12-07T23:00:00Z")));
    assert!(named.any_contains(&both, t("2026-12-06T12:00:00Z")));
    assert!(!named.any_contains(&both, t("2026-12-07T12:00:00Z")));
    assert!(named.knows("nights") && !named.knows("days"));
}
