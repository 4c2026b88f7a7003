//! The order Alertmanager lists a group's alerts in (`types.AlertSlice`):
//! by `job`, then `instance` (an alert that has the label before one that
//! has not), then by the whole label set as `model.LabelSet.Before`
//! compares them (fewer labels first, then name by name).

use super::GroupedAlert;
use closeloop_core::LabelSet;
use std::cmp::Ordering;

pub fn sort_as_alertmanager(alerts: &mut [GroupedAlert]) {
    // Stable, as Alertmanager's `sort.Stable`.
    alerts.sort_by(|a, b| compare(&a.labels, &b.labels));
}

fn compare(a: &LabelSet, b: &LabelSet) -> Ordering {
    for key in ["job", "instance"] {
        match (a.get(key), b.get(key)) {
            (None, None) => continue,
            (None, Some(_)) => return Ordering::Greater,
            (Some(_), None) => return Ordering::Less,
            (Some(x), Some(y)) if x != y => return x.cmp(y),
            _ => {}
        }
    }
    label_set_before(a, b)
}

/// `LabelSet.Before` as an ordering: over the sorted union of names, the
/// first name one set lacks or whose values differ decides.
fn label_set_before(a: &LabelSet, b: &LabelSet) -> Ordering {
    if a.len() != b.len() {
        return a.len().cmp(&b.len());
    }
    let mut names: Vec<&String> = a.keys().chain(b.keys()).collect();
    names.sort();
    for name in names {
        match (a.get(name), b.get(name)) {
            (None, _) => return Ordering::Less,
            (_, None) => return Ordering::Greater,
            (Some(x), Some(y)) if x != y => return x.cmp(y),
            _ => {}
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> LabelSet {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn job_then_instance_then_the_label_sets() {
        let with_job = labels(&[("job", "b"), ("z", "1")]);
        let other_job = labels(&[("job", "a"), ("z", "9"), ("y", "1")]);
        let no_job = labels(&[("a", "1")]);
        let by_instance = labels(&[("job", "b"), ("instance", "x")]);
        assert_eq!(compare(&other_job, &with_job), Ordering::Less);
        assert_eq!(compare(&no_job, &with_job), Ordering::Greater);
        // Same job: the one with an instance first.
        assert_eq!(compare(&by_instance, &with_job), Ordering::Less);
        // Neither has job or instance: fewer labels first, then values.
        let short = labels(&[("b", "2")]);
        let long = labels(&[("a", "1"), ("b", "1")]);
        assert_eq!(compare(&short, &long), Ordering::Less);
        assert_eq!(
            compare(&labels(&[("a", "1")]), &labels(&[("a", "2")])),
            Ordering::Less
        );
        // The first name of the union, `a`, is missing from the second
        // set: the second sorts first.
        assert_eq!(
            compare(&labels(&[("a", "1")]), &labels(&[("b", "1")])),
            Ordering::Greater
        );
    }
}
