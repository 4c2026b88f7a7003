//! Alertmanager label matchers (`severity="page"`, `team=~"a|b"`): parsing
//! in Alertmanager's classic syntax, matching, and the text form that
//! appears in route keys and `groupKey`.

use closeloop_core::LabelSet;
use regex::Regex;
use std::cmp::Ordering;
use std::fmt;
use std::sync::LazyLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum MatchType {
    Equal,
    NotEqual,
    Regex,
    NotRegex,
}

impl MatchType {
    fn as_str(self) -> &'static str {
        match self {
            MatchType::Equal => "=",
            MatchType::NotEqual => "!=",
            MatchType::Regex => "=~",
            MatchType::NotRegex => "!~",
        }
    }
}

/// One matcher. Regexes are anchored at both ends, as in Alertmanager.
#[derive(Debug, Clone)]
pub struct Matcher {
    pub name: String,
    pub match_type: MatchType,
    pub value: String,
    regex: Option<Regex>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MatcherError {
    #[error("bad matcher format: {0:?} (expected e.g. severity=\"page\" or team=~\"a|b\")")]
    Format(String),
    #[error("matcher value contains an unescaped double quote: {0:?}")]
    UnescapedQuote(String),
    #[error("matcher {matcher:?} has an invalid regex: {reason}")]
    Regex { matcher: String, reason: String },
}

// '=~' before '=' so the '~' is not read as part of the value.
static MATCHER_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(=~|=|!=|!~)\s*((?s).*?)\s*$")
        .unwrap_or_else(|e| unreachable!("constant matcher regex: {e}"))
});

impl Matcher {
    pub fn new(name: &str, match_type: MatchType, value: &str) -> Result<Matcher, MatcherError> {
        let regex = match match_type {
            MatchType::Regex | MatchType::NotRegex => Some(
                Regex::new(&format!("^(?:{value})$")).map_err(|e| MatcherError::Regex {
                    matcher: format!("{name}{}\"{value}\"", match_type.as_str()),
                    reason: e.to_string(),
                })?,
            ),
            MatchType::Equal | MatchType::NotEqual => None,
        };
        Ok(Matcher {
            name: name.to_string(),
            match_type,
            value: value.to_string(),
            regex,
        })
    }

    /// A label the set lacks matches as the empty string, so `env!="prod"`
    /// matches alerts without `env` (Alertmanager does the same).
    pub fn matches(&self, labels: &LabelSet) -> bool {
        let value = labels.get(&self.name).map(String::as_str).unwrap_or("");
        match (&self.match_type, &self.regex) {
            (MatchType::Equal, _) => value == self.value,
            (MatchType::NotEqual, _) => value != self.value,
            (MatchType::Regex, Some(re)) => re.is_match(value),
            (MatchType::NotRegex, Some(re)) => !re.is_match(value),
            // `new` always compiles a regex for the regex types.
            (MatchType::Regex | MatchType::NotRegex, None) => false,
        }
    }

    /// Alertmanager's sort order (name, value, type); route keys list
    /// matchers in this order.
    fn sort_key(&self) -> (&str, &str, MatchType) {
        (&self.name, &self.value, self.match_type)
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}{}\"{}\"",
            self.name,
            self.match_type.as_str(),
            open_metrics_escape(&self.value)
        )
    }
}

fn open_metrics_escape(value: &str) -> String {
    value
        .replace('\\', r"\\")
        .replace('\n', r"\n")
        .replace('"', "\\\"")
}

/// Parses one matcher: a label name, an operator and a value that may be
/// double-quoted (with `\"`, `\\` and `\n` escapes).
pub fn parse_matcher(text: &str) -> Result<Matcher, MatcherError> {
    let caps = MATCHER_RE
        .captures(text)
        .ok_or_else(|| MatcherError::Format(text.to_string()))?;
    let (name, op, raw) = (&caps[1], &caps[2], &caps[3]);
    let match_type = match op {
        "=" => MatchType::Equal,
        "!=" => MatchType::NotEqual,
        "=~" => MatchType::Regex,
        _ => MatchType::NotRegex,
    };
    let value = unquote(raw).ok_or_else(|| MatcherError::UnescapedQuote(raw.to_string()))?;
    Matcher::new(name, match_type, &value)
}

/// Undoes OpenMetrics escaping; a lone backslash stays literal, as
/// Alertmanager's tolerant parser keeps it. `None` for a stray quote.
fn unquote(raw: &str) -> Option<String> {
    let body = match raw.strip_prefix('"') {
        Some(rest) => {
            let body = rest.strip_suffix('"')?;
            // `"a\"` ends in an escaped quote: the closing quote is missing.
            if body.bytes().rev().take_while(|b| *b == b'\\').count() % 2 == 1 {
                return None;
            }
            body
        }
        None => raw,
    };
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.peek() {
                Some('n') => {
                    chars.next();
                    out.push('\n');
                }
                Some(&q @ ('"' | '\\')) => {
                    chars.next();
                    out.push(q);
                }
                _ => out.push('\\'),
            },
            '"' => return None,
            other => out.push(other),
        }
    }
    Some(out)
}

/// Parses a comma-separated list, optionally in braces
/// (`{a="1", b=~"x|y"}`); commas inside quotes do not separate.
pub fn parse_matchers(text: &str) -> Result<Vec<Matcher>, MatcherError> {
    let trimmed = text.trim();
    let inner = trimmed.strip_prefix('{').unwrap_or(trimmed);
    let inner = inner.strip_suffix('}').unwrap_or(inner);
    let mut tokens = Vec::new();
    let (mut token, mut in_quotes, mut escaped) = (String::new(), false, false);
    for c in inner.chars() {
        match c {
            ',' if !in_quotes => {
                tokens.push(std::mem::take(&mut token));
                continue;
            }
            '"' if !escaped => in_quotes = !in_quotes,
            '\\' => {
                escaped = !escaped;
                token.push(c);
                continue;
            }
            _ => {}
        }
        escaped = false;
        token.push(c);
    }
    if !token.trim().is_empty() {
        tokens.push(token);
    }
    tokens.iter().map(|t| parse_matcher(t)).collect()
}

/// Matchers of one route, kept sorted so their text form matches
/// Alertmanager's route key.
#[derive(Debug, Clone, Default)]
pub struct Matchers(Vec<Matcher>);

impl Matchers {
    pub fn new(mut matchers: Vec<Matcher>) -> Matchers {
        matchers.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        Matchers(matchers)
    }

    pub fn matches(&self, labels: &LabelSet) -> bool {
        self.0.iter().all(|m| m.matches(labels))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Matcher> {
        self.0.iter()
    }
}

impl fmt::Display for Matchers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, m) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{m}")?;
        }
        f.write_str("}")
    }
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.sort_key().cmp(&other.sort_key()) == Ordering::Equal
    }
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
    fn quoted_and_unquoted_values_parse_to_the_same_matcher() {
        let quoted = parse_matcher(r#"severity="page""#).unwrap();
        let bare = parse_matcher("severity = page").unwrap();
        assert_eq!(quoted, bare);
        assert_eq!(quoted.to_string(), r#"severity="page""#);
    }

    #[test]
    fn regex_matchers_are_anchored_at_both_ends() {
        let m = parse_matcher(r#"team=~"a|b""#).unwrap();
        assert!(m.matches(&labels(&[("team", "a")])));
        assert!(!m.matches(&labels(&[("team", "ab")])));
        assert!(!m.matches(&labels(&[("team", "xa")])));
    }

    #[test]
    fn a_missing_label_matches_as_the_empty_string() {
        let ne = parse_matcher(r#"level!="critical""#).unwrap();
        let nre = parse_matcher(r#"baz!~".*quux""#).unwrap();
        let eq_empty = parse_matcher(r#"env="""#).unwrap();
        let none = LabelSet::new();
        assert!(ne.matches(&none) && nre.matches(&none) && eq_empty.matches(&none));
    }

    #[test]
    fn escapes_in_quoted_values_are_undone_and_redone() {
        let m = parse_matcher(r#"msg="say \"hi\"\nnow \\ ok""#).unwrap();
        assert_eq!(m.value, "say \"hi\"\nnow \\ ok");
        assert_eq!(m.to_string(), r#"msg="say \"hi\"\nnow \\ ok""#);
    }

    #[test]
    fn a_list_in_braces_splits_on_commas_outside_quotes() {
        let ms = parse_matchers(r#"{foo = "bar", dings != "bu,ms", }"#).unwrap();
        assert_eq!(ms.len(), 2);
        assert_eq!(ms[1].value, "bu,ms");
        assert_eq!(ms[1].match_type, MatchType::NotEqual);
    }

    #[test]
    fn malformed_matchers_are_rejected_with_the_text() {
        assert!(
            matches!(parse_matcher("severity"), Err(MatcherError::Format(t)) if t == "severity")
        );
        assert!(matches!(
            parse_matcher(r#"a="x"y""#),
            Err(MatcherError::UnescapedQuote(_))
        ));
        assert!(matches!(
            parse_matcher(r#"a=~"(""#),
            Err(MatcherError::Regex { .. })
        ));
        assert!(parse_matcher(r#"1a="x""#).is_err());
    }

    #[test]
    fn matchers_print_sorted_like_an_alertmanager_route_key() {
        let ms = Matchers::new(parse_matchers(r#"owner="team-A", level!="critical""#).unwrap());
        assert_eq!(ms.to_string(), r#"{level!="critical",owner="team-A"}"#);
    }
}
