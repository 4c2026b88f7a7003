//! Parsing a promqltest script into commands.

use regex::Regex;

use super::series::{parse_duration_ms, parse_number, parse_series_desc, parse_values, SeqValue};
use crate::labels::{Labels, METRIC_NAME};

pub(crate) enum Command {
    Load(Load),
    Clear,
    Eval(Box<EvalCommand>),
    /// A line the runner could not understand; reported, never fatal.
    Invalid {
        line: usize,
        message: String,
    },
}

pub(crate) struct Load {
    pub interval_ms: i64,
    pub series: Vec<(Labels, Vec<SeqValue>)>,
    /// Native histogram series (not stored; evals touching them are skipped).
    pub histogram_series: Vec<Labels>,
}

pub(crate) enum EvalKind {
    Instant {
        at_ms: i64,
    },
    Range {
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    },
}

pub(crate) struct Expected {
    /// `None` for a bare scalar line.
    pub labels: Option<Labels>,
    pub values: Vec<SeqValue>,
}

pub(crate) struct EvalCommand {
    pub line: usize,
    pub query: String,
    pub kind: EvalKind,
    pub expect_fail: bool,
    pub fail_message: Option<String>,
    pub fail_regex: Option<String>,
    pub ordered: bool,
    pub expected: Vec<Expected>,
    /// Expectations written in native histogram notation.
    pub expects_histograms: bool,
}

struct Patterns {
    instant: Regex,
    range: Regex,
    load: Regex,
}

fn patterns() -> Result<Patterns, regex::Error> {
    Ok(Patterns {
        instant: Regex::new(
            r"^eval(?:_(fail|warn|ordered|info))?\s+instant\s+(?:at\s+(.+?))?\s+(.+)$",
        )?,
        range: Regex::new(
            r"^eval(?:_(fail|warn|info))?\s+range\s+from\s+(.+)\s+to\s+(.+)\s+step\s+(.+?)\s+(.+)$",
        )?,
        load: Regex::new(r"^load(?:_(with_nhcb))?\s+(.+?)$")?,
    })
}

/// Splits a script into commands; comment lines count as blank lines, which
/// end a command's block, as in Prometheus.
pub(crate) fn parse_script(text: &str) -> Vec<Command> {
    let lines: Vec<&str> = text
        .lines()
        .map(|l| {
            let l = l.trim();
            if l.starts_with('#') {
                ""
            } else {
                l
            }
        })
        .collect();
    let p = match patterns() {
        Ok(p) => p,
        Err(e) => {
            return vec![Command::Invalid {
                line: 0,
                message: e.to_string(),
            }]
        }
    };
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let line_no = i + 1;
        if line.is_empty() {
            i += 1;
            continue;
        }
        let mut block = Vec::new();
        let mut j = i + 1;
        // `clear` stands alone; other commands own the lines up to a blank one.
        while line != "clear" && j < lines.len() && !lines[j].is_empty() {
            block.push(lines[j]);
            j += 1;
        }
        i = j;
        let word = line.split_whitespace().next().unwrap_or("");
        let cmd = if line == "clear" {
            Ok(Command::Clear)
        } else if word.starts_with("load") {
            parse_load(&p, line, &block).map(Command::Load)
        } else if word.starts_with("eval") {
            parse_eval(&p, line, line_no, &block).map(|e| Command::Eval(Box::new(e)))
        } else {
            Err(format!("unknown command {line:?}"))
        };
        out.push(cmd.unwrap_or_else(|message| Command::Invalid {
            line: line_no,
            message,
        }));
    }
    out
}

fn parse_load(p: &Patterns, line: &str, block: &[&str]) -> Result<Load, String> {
    let caps = p
        .load
        .captures(line)
        .ok_or_else(|| format!("invalid load command {line:?}"))?;
    let with_nhcb = caps.get(1).is_some();
    let interval_ms = parse_duration_ms(caps.get(2).map_or("", |m| m.as_str()))?;
    let mut load = Load {
        interval_ms,
        series: Vec::new(),
        histogram_series: Vec::new(),
    };
    for def in block {
        let (labels, rest) = parse_series_desc(def)?;
        if rest.contains("{{") {
            load.histogram_series.push(labels.clone());
        }
        if with_nhcb {
            // Classic histograms also become native histograms under the
            // base name; those are what an eval may touch.
            if let Some(name) = labels.metric_name() {
                for suffix in ["_bucket", "_count", "_sum"] {
                    if let Some(base) = name.strip_suffix(suffix) {
                        let nh = labels.with(METRIC_NAME, base).filter(|n| n != "le");
                        if !load.histogram_series.contains(&nh) {
                            load.histogram_series.push(nh);
                        }
                    }
                }
            }
        }
        load.series.push((labels, parse_values(rest)?));
    }
    Ok(load)
}

fn parse_eval(
    p: &Patterns,
    line: &str,
    line_no: usize,
    block: &[&str],
) -> Result<EvalCommand, String> {
    let (modifier, kind, query) = if let Some(c) = p.instant.captures(line) {
        let at = c.get(2).map_or("0", |m| m.as_str());
        (
            c.get(1).map(|m| m.as_str()),
            EvalKind::Instant {
                at_ms: parse_duration_ms(at)?,
            },
            c.get(3).map_or("", |m| m.as_str()),
        )
    } else if let Some(c) = p.range.captures(line) {
        (
            c.get(1).map(|m| m.as_str()),
            EvalKind::Range {
                start_ms: parse_duration_ms(c.get(2).map_or("", |m| m.as_str()))?,
                end_ms: parse_duration_ms(c.get(3).map_or("", |m| m.as_str()))?,
                step_ms: parse_duration_ms(c.get(4).map_or("", |m| m.as_str()))?,
            },
            c.get(5).map_or("", |m| m.as_str()),
        )
    } else {
        return Err(format!("invalid eval command {line:?}"));
    };
    let mut cmd = EvalCommand {
        line: line_no,
        query: query.to_string(),
        kind,
        expect_fail: modifier == Some("fail"),
        fail_message: None,
        fail_regex: None,
        ordered: modifier == Some("ordered"),
        expected: Vec::new(),
        expects_histograms: false,
    };
    for def in block {
        if let Some(rest) = def.strip_prefix("expected_fail_message") {
            cmd.fail_message = Some(rest.trim().to_string());
            continue;
        }
        if let Some(rest) = def.strip_prefix("expected_fail_regexp") {
            cmd.fail_regex = Some(rest.trim().to_string());
            continue;
        }
        if let Some(rest) = def.strip_prefix("expect ") {
            parse_expect(&mut cmd, rest.trim());
            continue;
        }
        if let Some(v) = parse_number(def) {
            cmd.expected.push(Expected {
                labels: None,
                values: vec![SeqValue::Value(v)],
            });
            continue;
        }
        let (labels, rest) = parse_series_desc(def)?;
        if rest.contains("{{") {
            cmd.expects_histograms = true;
            continue;
        }
        cmd.expected.push(Expected {
            labels: Some(labels),
            values: parse_values(rest)?,
        });
    }
    Ok(cmd)
}

/// `expect fail|ordered|warn|info|no_warn|no_info [msg|regex: text]`.
/// Annotation expectations are accepted and ignored.
fn parse_expect(cmd: &mut EvalCommand, rest: &str) {
    let (kind, tail) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    match kind {
        "fail" => {
            cmd.expect_fail = true;
            let tail = tail.trim();
            if let Some(m) = tail.strip_prefix("msg:") {
                cmd.fail_message = Some(unquote(m.trim()));
            } else if let Some(r) = tail.strip_prefix("regex:") {
                cmd.fail_regex = Some(unquote(r.trim()));
            }
        }
        "ordered" => cmd.ordered = true,
        _ => {}
    }
}

fn unquote(s: &str) -> String {
    s.strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(s)
        .to_string()
}
