//! What a broken template yields: Prometheus' `<error expanding template:
//! ...>` with Go's parse and execution messages, and never a panic or a
//! hang, whatever a rule author writes.

use super::tests::{labels, run, run_value};
use super::*;

fn parse_error(msg: &str) -> String {
    format!("<error expanding template: error parsing template __alert_Test: template: __alert_Test:{msg}>")
}

/// An execution error at byte `col` of the user's text (after the prelude).
fn exec_error(col: usize, at: &str, msg: &str) -> String {
    format!(
        "<error expanding template: error executing template __alert_Test: template: __alert_Test:1:{}: executing \"__alert_Test\" at <{at}>: {msg}>",
        PRELUDE.len() + col
    )
}

#[test]
fn parse_errors_carry_gos_messages_and_line_numbers() {
    let cases = [
        ("{{", "1: unclosed action"),
        ("{{ foo }}", "1: function \"foo\" not defined"),
        ("{{ if true }}x", "1: unexpected EOF"),
        ("{{ end }}", "1: unexpected {{end}}"),
        ("{{ else }}", "1: unexpected {{else}}"),
        ("{{ $x }}", "1: undefined variable \"$x\""),
        ("{{/* note", "1: unclosed comment"),
        (
            "{{/* note */ x}}",
            "1: comment ends before closing delimiter",
        ),
        ("{{ \"open }}", "1: unterminated quoted string"),
        ("{{ ) }}", "1: unexpected \")\" in command"),
        ("{{ ( }}", "1: unclosed left paren"),
        ("{{ break }}", "1: {{break}} outside {{range}}"),
        (
            "{{ \"a\" | 1 }}",
            "1: non executable command in pipeline stage 2",
        ),
        ("{{ 1x }}", "1: bad number syntax: \"1x\""),
        ("{{ 08 }}", "1: integer overflow: \"08\""),
        ("{{\u{a0}}}", "1: unrecognized character in action: U+00A0"),
        ("{{ $x := }}", "1: missing value for command"),
        ("{{ if }}{{ end }}", "1: missing value for if"),
        (
            "{{ define \"a\" }}{{ end }}{{ define \"a\" }}x{{ end }}{{ define \"a\" }}y{{ end }}",
            "1: template: multiple definition of template \"a\"",
        ),
        ("{{ template x }}", "1: unexpected \"x\" in template clause"),
        ("line one\n{{ if true }}\n{{ end", "3: unclosed action"),
        ("{{ .Labels.job\n}}x{{ end }}", "2: unexpected {{end}}"),
        (
            "{{ if true }}{{ else }}{{ else }}{{ end }}",
            "1: expected end; found {{else}}",
        ),
    ];
    for (template, msg) in cases {
        assert_eq!(run(template), parse_error(msg), "{template}");
    }
}

#[test]
fn check_reports_parse_errors_like_promtool() {
    assert_eq!(check("Test", "{{ $labels.job }}"), Ok(()));
    assert_eq!(
        check("Test", "{{ humanise $value }}"),
        Err("template: __alert_Test:1: function \"humanise\" not defined".into())
    );
}

#[test]
fn execution_errors_name_the_node_and_its_position() {
    assert_eq!(
        run("{{ humanize }}"),
        exec_error(
            3,
            "humanize",
            "wrong number of args for humanize: want 1 got 0"
        )
    );
    assert_eq!(
        run("{{ humanize 1 2 }}"),
        exec_error(
            3,
            "humanize",
            "wrong number of args for humanize: want 1 got 2"
        )
    );
    assert_eq!(
        run("{{ humanize \"abc\" }}"),
        exec_error(
            3,
            "humanize \"abc\"",
            "error calling humanize: strconv.ParseFloat: parsing \"abc\": invalid syntax"
        )
    );
    assert_eq!(
        run("{{ toUpper 1 }}"),
        exec_error(11, "1", "expected string; found 1")
    );
    assert_eq!(
        run("{{ $value | toUpper }}"),
        exec_error(
            12,
            "toUpper",
            "wrong type for value; expected string; got float64"
        )
    );
    assert_eq!(
        run("{{ if eq $value 1 }}x{{ end }}"),
        exec_error(
            6,
            "eq $value 1",
            "error calling eq: incompatible types for comparison"
        )
    );
    assert_eq!(
        run("{{ 1 2 }}"),
        exec_error(3, "1", "can't give argument to non-function 1")
    );
    assert_eq!(
        run("{{ nil }}"),
        exec_error(3, "nil", "nil is not a command")
    );
    assert_eq!(
        run("{{ .Foo }}"),
        exec_error(
            3,
            ".Foo",
            &format!("can't evaluate field Foo in type {}", value::ROOT_TYPE)
        )
    );
    assert_eq!(
        run("{{ template \"nope\" }}"),
        exec_error(12, "{{template \"nope\"}}", "template \"nope\" not defined")
    );
    assert_eq!(
        run("{{ reReplaceAll \"(\" \"x\" \"y\" }}"),
        exec_error(3, "reReplaceAll \"(\" \"x\"...", "error calling reReplaceAll: regexp: Compile(`(`): error parsing regexp: missing closing ): `(`")
    );
    assert_eq!(
        run("{{ len 3 }}"),
        exec_error(3, "len 3", "error calling len: len of type int")
    );
    assert_eq!(
        run("{{ index $labels 1 }}"),
        exec_error(
            3,
            "index $labels 1",
            "error calling index: value has type int; should be string"
        )
    );
}

#[test]
fn query_errors_match_prometheus_template_tests() {
    let empty = |_: &str| -> Result<Vec<(LabelSet, f64)>, String> { Ok(vec![]) };
    let q: &QueryFn<'_> = &empty;
    assert_eq!(
        run_value("{{ query \"missing\" | first }}", 0.0, Some(q)),
        exec_error(
            21,
            "first",
            "error calling first: first() called on vector with no elements"
        )
    );
    assert_eq!(
        run_value("{{ (query \"missing\").banana }}", 0.0, Some(q)),
        exec_error(
            10,
            "\"missing\"",
            "can't evaluate field banana in type template.queryResult"
        )
    );
}

#[test]
fn runaway_templates_stop_with_an_error_instead_of_hanging() {
    let recursion = run("{{ define \"a\" }}{{ template \"a\" }}{{ end }}{{ template \"a\" }}");
    assert!(
        recursion.contains("exceeded maximum template depth (200)"),
        "{recursion}"
    );
    let exponential = run(
        "{{ define \"a\" }}{{ template \"a\" }}{{ template \"a\" }}{{ end }}{{ template \"a\" }}",
    );
    assert!(
        exponential.starts_with("<error expanding template:"),
        "{exponential}"
    );
    let long_loop = run("{{ range 1000000000 }}{{ end }}");
    assert!(long_loop.contains("exceeded 1000000 steps"), "{long_loop}");
    let huge_output = run("{{ range 100000 }}0123456789abcdef{{ end }}");
    assert!(huge_output.contains("output exceeded"), "{huge_output}");
    let nested = run("{{ $x := args 1 }}{{ range 1000 }}{{ $x = args $x }}{{ end }}{{ $x }}");
    assert!(nested.contains("args nested deeper than 100"), "{nested}");
    let wide = run("{{ printf \"%999999999d\" 1 }}");
    assert!(wide.len() <= 1_000_100, "{}", wide.len());
}

#[test]
fn deep_nesting_is_refused_before_it_exhausts_the_stack() {
    let ifs = format!(
        "{}x{}",
        "{{ if true }}".repeat(150),
        "{{ end }}".repeat(150)
    );
    assert_eq!(run(&ifs), parse_error("1: max expression depth exceeded"));
    let parens = format!("{{{{ {}1{} }}}}", "(".repeat(150), ")".repeat(150));
    assert_eq!(
        run(&parens),
        parse_error("1: max expression depth exceeded")
    );
    // Within the limit, nesting works.
    let ok = format!("{}x{}", "{{ if true }}".repeat(90), "{{ end }}".repeat(90));
    assert_eq!(run(&ok), "x");
    // Nested templates each nesting deeply stay within the walk depth.
    let nested = format!(
        "{{{{ define \"a\" }}}}{}{{{{ template \"a\" }}}}{}{{{{ end }}}}{{{{ template \"a\" }}}}",
        "{{ if true }}".repeat(90),
        "{{ end }}".repeat(90)
    );
    assert!(run(&nested).contains("exceeded maximum template depth"));
}

/// Every prefix and every one-character deletion of a template that uses
/// the whole language must expand to text or an error, never panic.
#[test]
fn malformed_templates_never_panic() {
    let full = concat!(
        "{{/* c */}}{{- $x := 1 -}}{{ $x = 2 }}{{ if and (gt $value 0.5) $labels.job }}",
        "{{ printf \"%5.1f %q %v\" $value \"q\" $labels }}{{ else if eq 1 2 }}e{{ else }}",
        "{{ range $k, $v := $labels }}{{ if eq $k \"a\" }}{{ continue }}{{ end }}{{ $k }}={{ $v | toUpper }}{{ break }}{{ end }}",
        "{{ end }}{{ with query \"up\" }}{{ range . | sortByLabel \"a\" }}{{ .Value | humanize }}{{ end }}{{ end }}",
        "{{ define \"t\" }}{{ .arg0 }}{{ end }}{{ template \"t\" (args 1 `raw` 'c' 0x1F 1e3) }}",
        "{{ block \"b\" . }}{{ index $labels \"job\" }}{{ slice \"abc\" 1 2 }}{{ end }}",
        "{{ reReplaceAll \"(a+)\" \"$1\" \"aa\" }}{{ (toTime 1).Unix }}{{ nil }}{{ .Labels.job }}"
    );
    let sample = labels(&[("job", "api")]);
    let empty = LabelSet::new();
    let data = TemplateData {
        labels: &sample,
        external_labels: &empty,
        external_url: "http://x",
        value: 1.0,
    };
    let query =
        |_: &str| -> Result<Vec<(LabelSet, f64)>, String> { Ok(vec![(LabelSet::new(), 1.0)]) };
    let q: &QueryFn<'_> = &query;
    let mut texts = Vec::new();
    for (i, _) in full.char_indices() {
        texts.push(full[..i].to_string());
        let mut without = full.to_string();
        without.remove(i);
        texts.push(without);
    }
    for text in &texts {
        let full_text = format!("{PRELUDE}{text}");
        // Straight to the expander: a panic here fails the test rather
        // than being turned into an error text by `expand`.
        let _ = expand_text("__alert_Test", &full_text, &data, Some(q));
    }
}
