//! Prometheus' template functions, with expectations taken from
//! prometheus/prometheus `template/template_test.go` and
//! prometheus/common `helpers/templates` tests.

use super::tests::{labels, run, run_value};
use super::*;

#[test]
fn humanize_uses_si_prefixes_with_four_significant_digits() {
    assert_eq!(
        run("{{ range (args 0.0 1.0 1234567.0 .12) }}{{ humanize . }}:{{ end }}"),
        "0:1:1.235M:120m:"
    );
    assert_eq!(humanize(1234567.0), "1.235M");
    assert_eq!(humanize(0.005), "5m");
    assert_eq!(humanize(12.0), "12");
    assert_eq!(humanize(-1500.0), "-1.5k");
    assert_eq!(
        run("{{ \"1234567\" | humanize }} {{ 1234 | humanize }}"),
        "1.235M 1.234k"
    );
}

#[test]
fn humanize1024_uses_binary_prefixes() {
    assert_eq!(
        run("{{ range (args 0.0 1.0 1048576.0 .12) }}{{ humanize1024 . }}:{{ end }}"),
        "0:1:1Mi:0.12:"
    );
    assert_eq!(run("{{ humanize1024 1024 }}"), "1ki");
}

#[test]
fn humanize_duration_splits_into_days_hours_minutes_seconds() {
    assert_eq!(
        run("{{ range (args 0 1 60 3600 86400 90000 -183845 899.99) }}{{ humanizeDuration . }}:{{ end }}"),
        "0s:1s:1m 0s:1h 0m 0s:1d 0h 0m 0s:1d 1h 0m 0s:-2d 3h 4m 5s:14m 59s:"
    );
    assert_eq!(
        run("{{ range (args .1 .0001 .12345 60.1 60.5 1.2345 12.345) }}{{ humanizeDuration . }}:{{ end }}"),
        "100ms:100us:123.5ms:1m 0s:1m 0s:1.234s:12.35s:"
    );
    assert_eq!(run("{{ humanizeDuration 3600 }}"), "1h 0m 0s");
    assert_eq!(run("{{ humanizeDuration \"86400\" }}"), "1d 0h 0m 0s");
}

#[test]
fn humanize_functions_print_inf_and_nan_as_go_does() {
    assert_eq!(
        run("{{ range (args \"+Inf\" \"-Inf\" \"NaN\") }}{{ humanize . }}:{{ humanize1024 . }}:{{ humanizeDuration . }}:{{humanizeTimestamp .}}:{{ end }}"),
        "+Inf:+Inf:+Inf:+Inf:-Inf:-Inf:-Inf:-Inf:NaN:NaN:NaN:NaN:"
    );
}

#[test]
fn humanize_percentage_multiplies_by_a_hundred() {
    assert_eq!(
        run("{{ -0.22222 | humanizePercentage }}:{{ 0.0 | humanizePercentage }}:{{ 0.1234567 | humanizePercentage }}:{{ 1.23456 | humanizePercentage }}"),
        "-22.22%:0%:12.35%:123.5%"
    );
    assert_eq!(run("{{ humanizePercentage 0.1234 }}"), "12.34%");
}

#[test]
fn humanize_timestamp_and_to_time_print_go_time_strings() {
    assert_eq!(
        run("{{ 1435065584.128 | humanizeTimestamp }}"),
        "2015-06-23 13:19:44.128 +0000 UTC"
    );
    assert_eq!(
        run("{{ humanizeTimestamp 0 }}"),
        "1970-01-01 00:00:00 +0000 UTC"
    );
    assert_eq!(
        run("{{ 1435065584.128 | toTime }}"),
        "2015-06-23 13:19:44.128 +0000 UTC"
    );
    assert_eq!(run("{{ (toTime 1435065584.128).Unix }}"), "1435065584");
    assert_eq!(
        run("{{ humanizeTimestamp 1e20 }}"),
        format!(
            "<error expanding template: error executing template __alert_Test: template: __alert_Test:1:{}: executing \"__alert_Test\" at <humanizeTimestamp 1e...>: error calling humanizeTimestamp: 1e+20 cannot be represented as a nanoseconds timestamp since it overflows int64>",
            PRELUDE.len() + 3
        )
    );
}

#[test]
fn string_functions_change_case_and_title_words() {
    assert_eq!(run("{{ \"aa bb CC\" | title }}"), "Aa Bb CC");
    assert_eq!(run("{{ \"aa bb CC\" | toUpper }}"), "AA BB CC");
    assert_eq!(run("{{ \"aA bB CC\" | toLower }}"), "aa bb cc");
    assert_eq!(
        run("{{ title \"hello-world foo_bar it's example.com\" }}"),
        "Hello-World Foo_bar It's Example.com"
    );
    assert_eq!(run("{{ $labels.job | title }}"), "Api");
}

#[test]
fn regex_functions_match_and_replace_like_go_regexp() {
    assert_eq!(run("{{ reReplaceAll \"(a)b\" \"x$1\" \"ab\" }}"), "xa");
    assert_eq!(
        run("{{ reReplaceAll \":[0-9]+$\" \"\" $labels.instance }}"),
        "host-1"
    );
    assert_eq!(
        run("{{ reReplaceAll \"(?P<h>[a-z]+)-(\\\\d)\" \"${h}_$2\" \"host-1\" }}"),
        "host_1"
    );
    assert_eq!(
        run("{{ match \"a+\" \"aa\" }} {{ match \"a+\" \"b\" }}"),
        "true false"
    );
    assert_eq!(
        run("{{ if match \"^api$\" $labels.job }}yes{{ end }}"),
        "yes"
    );
}

#[test]
fn links_and_urls_come_from_the_external_url() {
    assert_eq!(run("{{ graphLink \"up\" }}"), "/graph?g0.expr=up&g0.tab=0");
    assert_eq!(run("{{ tableLink \"up\" }}"), "/graph?g0.expr=up&g0.tab=1");
    assert_eq!(
        run("{{ graphLink \"rate(x{a=\\\"b c\\\"}[5m])\" }}"),
        "/graph?g0.expr=rate%28x%7Ba%3D%22b+c%22%7D%5B5m%5D%29&g0.tab=0"
    );
    assert_eq!(run("{{ pathPrefix }}"), "/path/prefix");
    assert_eq!(run("{{ externalURL }}"), "http://testhost:9090/path/prefix");
}

#[test]
fn host_helpers_strip_ports_and_domains() {
    let cases = [
        ("stripPort", "foo.example.com:12345", "foo.example.com"),
        ("stripPort", "[2001:0DB8::1]:12345", "2001:0DB8::1"),
        ("stripPort", "localhost", "localhost"),
        ("stripPort", "192.0.2.1:12345", "192.0.2.1"),
        ("stripDomain", "foo.example.com", "foo"),
        ("stripDomain", "foo.example.com:12345", "foo:12345"),
        ("stripDomain", "192.0.2.1:12345", "192.0.2.1:12345"),
        (
            "stripDomain",
            "[2001:0DB8::1]:12345",
            "[2001:0DB8::1]:12345",
        ),
        ("stripDomain", "localhost:9090", "localhost:9090"),
    ];
    for (func, input, want) in cases {
        assert_eq!(
            run(&format!("{{{{ {func} \"{input}\" }}}}")),
            want,
            "{func} {input}"
        );
    }
}

#[test]
fn parse_duration_returns_seconds() {
    assert_eq!(run("{{ parseDuration \"1h\" }}"), "3600");
    assert_eq!(run("{{ parseDuration \"1h2m10ms\" }}"), "3720.01");
    assert_eq!(
        run("{{ parseDuration \"1d\" | humanizeDuration }}"),
        "1d 0h 0m 0s"
    );
    assert!(run("{{ parseDuration \"1x\" }}")
        .ends_with("error calling parseDuration: unknown unit \"x\" in duration \"1x\">"));
    assert!(run("{{ parseDuration \"1m1h\" }}")
        .ends_with("error calling parseDuration: not a valid duration string: \"1m1h\">"));
}

#[test]
fn safe_html_and_args_pass_values_through() {
    assert_eq!(run("{{ \"<b>\" | safeHtml }}"), "<b>");
    assert_eq!(run("{{ \"<b>\" }}"), "<b>");
    assert_eq!(run("{{ (args 1 \"a\").arg1 }}"), "a");
}

fn metric_query(q: &str) -> Result<Vec<(LabelSet, f64)>, String> {
    match q {
        "1.5" => Ok(vec![(LabelSet::new(), 1.5)]),
        "missing" => Ok(vec![]),
        "broken(" => Err("1:8: parse error: unclosed left parenthesis".into()),
        _ => Ok(vec![
            (labels(&[("__name__", "metric"), ("instance", "b")]), 21.0),
            (
                labels(&[
                    ("__name__", "metric"),
                    ("instance", "a"),
                    ("__value__", "eleven"),
                ]),
                11.0,
            ),
        ]),
    }
}

#[test]
fn query_results_feed_first_value_label_and_sort_by_label() {
    let q: &QueryFn<'_> = &metric_query;
    let run_q = |t: &str| run_value(t, 0.0, Some(q));
    assert_eq!(run_q("{{ query \"1.5\" | first | value }}"), "1.5");
    assert_eq!(
        run_q("{{ query \"metric\" | first | label \"instance\" }}"),
        "b"
    );
    assert_eq!(run_q("{{ query \"metric\" | first | label \"foo\" }}"), "");
    assert_eq!(
        run_q("{{ $x := query \"metric\" | first }}{{ $x.Labels.foo }}"),
        ""
    );
    assert_eq!(
        run_q("{{ range query \"metric\" | sortByLabel \"instance\" }}{{.Labels.instance}}:{{.Value}}: {{end}}"),
        "a:11: b:21: "
    );
    assert_eq!(
        run_q("{{ with query \"missing\" }}x{{ else }}no data{{ end }}"),
        "no data"
    );
    assert_eq!(run_q("{{ len (query \"metric\") }}"), "2");
    assert_eq!(
        run_q("{{ (index (query \"metric\") 1).Value | humanize }}"),
        "11"
    );
    assert_eq!(
        run_q("{{ query \"metric\" | sortByLabel \"instance\" | first | strvalue }}"),
        "eleven"
    );
    assert_eq!(
        run_q("{{ query \"metric\" | first }}"),
        "{map[__name__:metric instance:b] 21}"
    );
    assert_eq!(
        run_q("{{ query \"broken(\" }}"),
        format!(
            "<error expanding template: error executing template __alert_Test: template: __alert_Test:1:{}: executing \"__alert_Test\" at <query \"broken(\">: error calling query: 1:8: parse error: unclosed left parenthesis>",
            PRELUDE.len() + 3
        )
    );
}

#[test]
fn query_without_a_query_function_is_an_error_not_a_panic() {
    let out = run("{{ query \"up\" }}");
    assert!(out.starts_with("<error expanding template:"), "{out}");
    assert!(out.contains("error calling query"), "{out}");
}
