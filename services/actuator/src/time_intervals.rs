//! Alertmanager's time intervals (`time_intervals`, and the older name
//! `mute_time_intervals`): named sets of times of day, weekdays, days of
//! the month, months and years in a time zone, which routes name in
//! `mute_time_intervals` (no notifications inside) and
//! `active_time_intervals` (notifications only inside). The syntax and
//! the matching are those of Alertmanager's `timeinterval` package.

use chrono::{DateTime, Datelike, Timelike, Utc};
use chrono_tz::Tz;
use serde::Deserialize;
use std::collections::HashMap;

/// One named entry of `time_intervals:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeIntervalConfig {
    pub name: String,
    #[serde(default)]
    pub time_intervals: Vec<TimeIntervalSpec>,
}

/// One interval: every field given must match; a field left out matches
/// any time.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeIntervalSpec {
    #[serde(default)]
    pub times: Vec<TimeRangeSpec>,
    #[serde(default)]
    pub weekdays: Vec<String>,
    #[serde(default)]
    pub days_of_month: Vec<String>,
    #[serde(default)]
    pub months: Vec<String>,
    #[serde(default)]
    pub years: Vec<String>,
    /// An IANA zone name (`Europe/Berlin`); UTC when left out.
    #[serde(default)]
    pub location: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeRangeSpec {
    pub start_time: String,
    pub end_time: String,
}

/// A compiled interval: inclusive ranges, except times of day, whose end
/// minute is excluded.
#[derive(Debug, Clone)]
pub struct TimeInterval {
    minutes: Vec<(u32, u32)>,
    weekdays: Vec<(u32, u32)>,
    days_of_month: Vec<(i32, i32)>,
    months: Vec<(u32, u32)>,
    years: Vec<(i32, i32)>,
    zone: Tz,
}

impl TimeInterval {
    pub fn parse(spec: &TimeIntervalSpec) -> Result<TimeInterval, String> {
        let zone = match spec.location.as_deref() {
            None | Some("") | Some("UTC") => Tz::UTC,
            Some(name) => name
                .parse::<Tz>()
                .map_err(|_| format!("unknown location {name:?}"))?,
        };
        Ok(TimeInterval {
            minutes: spec
                .times
                .iter()
                .map(parse_time_range)
                .collect::<Result<_, _>>()?,
            weekdays: parse_ranges(&spec.weekdays, "weekday", weekday_number)?,
            days_of_month: spec
                .days_of_month
                .iter()
                .map(|t| parse_day_range(t))
                .collect::<Result<_, _>>()?,
            months: parse_ranges(&spec.months, "month", month_number)?,
            years: spec
                .years
                .iter()
                .map(|t| {
                    let (a, b) = split_range(t);
                    let year = |s: &str| {
                        s.trim()
                            .parse::<i32>()
                            .map_err(|_| format!("{t:?} is not a year or a year range"))
                    };
                    let (a, b) = (year(a)?, year(b)?);
                    if a > b {
                        return Err(format!("year range {t:?} ends before it starts"));
                    }
                    Ok((a, b))
                })
                .collect::<Result<_, _>>()?,
            zone,
        })
    }

    /// Whether `t` falls inside, read in the interval's time zone.
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        let local = t.with_timezone(&self.zone);
        let minute = local.hour() * 60 + local.minute();
        let weekday = local.weekday().num_days_from_sunday();
        let day = local.day() as i32;
        let days_in_month = days_in_month(local.year(), local.month()) as i32;
        let in_any = |ranges: &[(u32, u32)], v: u32| {
            ranges.is_empty() || ranges.iter().any(|&(a, b)| a <= v && v <= b)
        };
        let times_ok =
            self.minutes.is_empty() || self.minutes.iter().any(|&(a, b)| a <= minute && minute < b);
        let days_ok = self.days_of_month.is_empty()
            || self.days_of_month.iter().any(|&(a, b)| {
                // Negative days count from the month's end: -1 is its last.
                let resolve = |d: i32| if d < 0 { days_in_month + d + 1 } else { d };
                let (a, b) = (resolve(a).max(1), resolve(b).min(days_in_month));
                a <= day && day <= b
            });
        let years_ok = self.years.is_empty()
            || self
                .years
                .iter()
                .any(|&(a, b)| a <= local.year() && local.year() <= b);
        times_ok
            && in_any(&self.weekdays, weekday)
            && days_ok
            && in_any(&self.months, local.month())
            && years_ok
    }
}

/// The compiled `time_intervals`, by name.
#[derive(Debug, Clone, Default)]
pub struct TimeIntervals {
    named: HashMap<String, Vec<TimeInterval>>,
}

impl TimeIntervals {
    /// Compiles every entry; problems are `(path, message)`.
    pub fn parse(
        entries: impl Iterator<Item = (String, TimeIntervalConfig)>,
    ) -> Result<TimeIntervals, Vec<(String, String)>> {
        let mut named = HashMap::new();
        let mut problems = Vec::new();
        for (path, entry) in entries {
            if named.contains_key(&entry.name) {
                problems.push((
                    format!("{path}.name"),
                    format!("duplicate time interval name {:?}", entry.name),
                ));
                continue;
            }
            let mut compiled = Vec::new();
            for (i, spec) in entry.time_intervals.iter().enumerate() {
                match TimeInterval::parse(spec) {
                    Ok(interval) => compiled.push(interval),
                    Err(e) => problems.push((format!("{path}.time_intervals[{i}]"), e)),
                }
            }
            named.insert(entry.name.clone(), compiled);
        }
        if problems.is_empty() {
            Ok(TimeIntervals { named })
        } else {
            Err(problems)
        }
    }

    pub fn knows(&self, name: &str) -> bool {
        self.named.contains_key(name)
    }

    /// Whether any interval of any of `names` contains `t`.
    pub fn any_contains(&self, names: &[String], t: DateTime<Utc>) -> bool {
        names
            .iter()
            .filter_map(|n| self.named.get(n))
            .flatten()
            .any(|interval| interval.contains(t))
    }
}

/// `a:b` or a single `a` (as `a:a`).
fn split_range(text: &str) -> (&str, &str) {
    match text.split_once(':') {
        Some((a, b)) => (a, b),
        None => (text, text),
    }
}

fn parse_ranges(
    texts: &[String],
    what: &str,
    value: fn(&str) -> Option<u32>,
) -> Result<Vec<(u32, u32)>, String> {
    texts
        .iter()
        .map(|t| {
            let (a, b) = split_range(t);
            let (Some(a), Some(b)) = (value(a.trim()), value(b.trim())) else {
                return Err(format!("{t:?} is not a {what} or a {what} range"));
            };
            if a > b {
                return Err(format!("{what} range {t:?} ends before it starts"));
            }
            Ok((a, b))
        })
        .collect()
}

/// `HH:MM` to `HH:MM`, from 00:00 up to 24:00, start before end.
fn parse_time_range(range: &TimeRangeSpec) -> Result<(u32, u32), String> {
    let minute = |text: &str| -> Result<u32, String> {
        let bad = || format!("{text:?} is not a time of day (HH:MM)");
        let (h, m) = text.split_once(':').ok_or_else(bad)?;
        let (h, m): (u32, u32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
        if h > 24 || m > 59 || (h == 24 && m != 0) || h * 60 + m > 24 * 60 {
            return Err(bad());
        }
        Ok(h * 60 + m)
    };
    let (start, end) = (minute(&range.start_time)?, minute(&range.end_time)?);
    if start >= end {
        return Err(format!(
            "start_time {} must be before end_time {}",
            range.start_time, range.end_time
        ));
    }
    Ok((start, end))
}

/// Days 1..31, or -31..-1 counting from the month's end. As Alertmanager
/// checks: a range starting from the end must end from the end, and the
/// ends must be in order in a 28-day month.
fn parse_day_range(text: &str) -> Result<(i32, i32), String> {
    let (a, b) = split_range(text);
    let day = |s: &str| -> Result<i32, String> {
        let d: i32 = s
            .trim()
            .parse()
            .map_err(|_| format!("{text:?} is not a day of the month or a range of them"))?;
        if d == 0 || !(-31..=31).contains(&d) {
            return Err(format!("day {d} of {text:?} is not in 1..31 or -31..-1"));
        }
        Ok(d)
    };
    let (a, b) = (day(a)?, day(b)?);
    if a < 0 && b > 0 {
        return Err(format!(
            "day range {text:?} starts from the month's end but ends from its start"
        ));
    }
    let in_short_month = |d: i32| if d < 0 { 28 + d } else { d };
    if in_short_month(a) > in_short_month(b) {
        return Err(format!("day range {text:?} ends before it starts"));
    }
    Ok((a, b))
}

fn weekday_number(name: &str) -> Option<u32> {
    const DAYS: [&str; 7] = [
        "sunday",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
    ];
    DAYS.iter()
        .position(|d| d.eq_ignore_ascii_case(name))
        .map(|i| i as u32)
}

fn month_number(text: &str) -> Option<u32> {
    const MONTHS: [&str; 12] = [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ];
    if let Some(i) = MONTHS.iter().position(|m| m.eq_ignore_ascii_case(text)) {
        return Some(i as u32 + 1);
    }
    text.parse::<u32>().ok().filter(|m| (1..=12).contains(m))
}

fn days_in_month(year: i32, month: u32) -> u32 {
    let (next_year, next_month) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    chrono::NaiveDate::from_ymd_opt(next_year, next_month, 1)
        .and_then(|d| d.pred_opt())
        .map_or(31, |d| d.day())
}

#[cfg(test)]
#[path = "time_intervals_tests.rs"]
mod tests;
