//! Language constructs, checked against what Go's text/template (as
//! Prometheus runs it) prints.

use closeloop_core::LabelSet;

use super::*;

pub(super) fn labels(pairs: &[(&str, &str)]) -> LabelSet {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Expands `text` as an annotation of rule `Test`, for an alert with
/// labels `job="api", instance="host-1:9100"` and value `value`.
pub(super) fn run_value(text: &str, value: f64, query: Option<&QueryFn<'_>>) -> String {
    let sample = labels(&[("job", "api"), ("instance", "host-1:9100")]);
    let external = labels(&[("cluster", "eu-1")]);
    let data = TemplateData {
        labels: &sample,
        external_labels: &external,
        external_url: "http://testhost:9090/path/prefix",
        value,
    };
    expand_with_query("Test", text, &data, query)
}

pub(super) fn run(text: &str) -> String {
    run_value(text, 0.25, None)
}

#[test]
fn plain_text_passes_through_unchanged() {
    assert_eq!(run("plain text"), "plain text");
    assert_eq!(run(""), "");
}

#[test]
fn labels_and_value_expand_through_variables_and_fields() {
    assert_eq!(run("{{ $labels.job }} at {{ $value }}"), "api at 0.25");
    assert_eq!(run("{{.Labels.job}}/{{ .Value }}"), "api/0.25");
    assert_eq!(
        run("{{ $externalLabels.cluster }} {{ .ExternalLabels.cluster }}"),
        "eu-1 eu-1"
    );
    assert_eq!(
        run("{{ $externalURL }}"),
        "http://testhost:9090/path/prefix"
    );
    assert_eq!(run("{{ $.Labels.job }}"), "api");
}

#[test]
fn a_missing_label_is_empty_as_with_missingkey_zero() {
    assert_eq!(run("[{{ $labels.missing }}]"), "[]");
    assert_eq!(run("[{{ index $labels \"missing\" }}]"), "[]");
}

#[test]
fn literals_print_as_go_prints_them() {
    assert_eq!(run("{{ 1 }}"), "1");
    assert_eq!(
        run("{{ 1.5 }} {{ 1.0 }} {{ 1e3 }} {{ 1e21 }}"),
        "1.5 1 1000 1e+21"
    );
    assert_eq!(
        run("{{ 0x1F }} {{ 0o17 }} {{ 0b101 }} {{ 1_000 }} {{ -7 }}"),
        "31 15 5 1000 -7"
    );
    assert_eq!(run("{{ 'a' }}"), "97");
    assert_eq!(run("{{ true }} {{ false }}"), "true false");
    assert_eq!(run(r#"{{ "a\tb\u00e9\x41" }}"#), "a\tbéA");
    assert_eq!(run("{{ `raw \\n` }}"), "raw \\n");
}

#[test]
fn the_value_prints_like_go_fmt_v() {
    assert_eq!(run_value("{{ $value }}", 1234567.0, None), "1.234567e+06");
    assert_eq!(run_value("{{ $value }}", 123456.0, None), "123456");
    assert_eq!(run_value("{{ $value }}", 0.0001, None), "0.0001");
    assert_eq!(run_value("{{ $value }}", 0.00001, None), "1e-05");
    assert_eq!(run_value("{{ $value }}", f64::NAN, None), "NaN");
    assert_eq!(run_value("{{ $value }}", f64::INFINITY, None), "+Inf");
    assert_eq!(run_value("{{ $value }}", -0.0, None), "-0");
    assert_eq!(go_float(1e6), "1e+06");
    assert_eq!(go_float(0.1 + 0.2), "0.30000000000000004");
}

#[test]
fn trim_markers_remove_adjacent_whitespace() {
    assert_eq!(run("a  {{- 1 -}}  b"), "a1b");
    assert_eq!(run("a\n\t{{- 1 }}\n b"), "a1\n b");
    assert_eq!(run("{{ 1 -}}\n\n  x"), "1x");
    // A dash without a space is a negative number, not a trim marker.
    assert_eq!(run("a {{-1}} b"), "a -1 b");
}

#[test]
fn comments_print_nothing() {
    assert_eq!(run("a{{/* note */}}b"), "ab");
    assert_eq!(run("a {{- /* note */ -}} b"), "ab");
}

#[test]
fn pipelines_pass_the_value_as_the_last_argument() {
    assert_eq!(run("{{ $labels.job | toUpper }}"), "API");
    assert_eq!(run("{{ \"x\" | printf \"%s-%s\" \"a\" }}"), "a-x");
    assert_eq!(run("{{ $value | humanizePercentage }}"), "25%");
    assert_eq!(run("{{ (printf \"%s\" $labels.job) | len }}"), "3");
}

#[test]
fn variables_are_declared_assigned_and_scoped() {
    assert_eq!(run("{{ $x := 1 }}{{ $x }}{{ $x = 2 }}{{ $x }}"), "12");
    assert_eq!(
        run("{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ end }}{{ $x }}"),
        "2"
    );
    assert_eq!(
        run("{{ $x := 1 }}{{ if true }}{{ $x := 3 }}{{ $x }}{{ end }}{{ $x }}"),
        "31"
    );
    assert_eq!(run("{{ with $y := $labels.job }}{{ $y }}{{ end }}"), "api");
}

#[test]
fn if_else_if_else_chooses_by_go_truth() {
    let t = "{{ if gt $value 0.5 }}high{{ else if gt $value 0.1 }}medium{{ else }}low{{ end }}";
    assert_eq!(run_value(t, 0.9, None), "high");
    assert_eq!(run_value(t, 0.25, None), "medium");
    assert_eq!(run_value(t, 0.0, None), "low");
    assert_eq!(run("{{ if \"\" }}y{{ else }}n{{ end }}"), "n");
    assert_eq!(run("{{ if 0 }}y{{ else }}n{{ end }}"), "n");
    assert_eq!(run("{{ if $labels }}y{{ end }}"), "y");
    assert_eq!(
        run("{{ if and $labels.job (eq $labels.job \"api\") }}y{{ end }}"),
        "y"
    );
    assert_eq!(run("{{ if or $labels.nope $labels.job }}y{{ end }}"), "y");
    assert_eq!(run("{{ if not $labels.nope }}y{{ end }}"), "y");
}

#[test]
fn with_sets_dot_or_takes_the_else_branch() {
    assert_eq!(run("{{ with $labels.job }}[{{ . }}]{{ end }}"), "[api]");
    assert_eq!(
        run("{{ with $labels.nope }}[{{ . }}]{{ else }}none{{ end }}"),
        "none"
    );
    assert_eq!(
        run("{{ with $labels.nope }}a{{ else with $labels.job }}{{ . }}{{ end }}"),
        "api"
    );
}

#[test]
fn range_over_labels_visits_keys_in_sorted_order() {
    assert_eq!(
        run("{{ range $k, $v := $labels }}{{ $k }}={{ $v }};{{ end }}"),
        "instance=host-1:9100;job=api;"
    );
    assert_eq!(
        run("{{ range $labels }}{{ . }},{{ end }}"),
        "host-1:9100,api,"
    );
    assert_eq!(
        run("{{ range $v := $labels }}{{ $v }},{{ end }}"),
        "host-1:9100,api,"
    );
    assert_eq!(
        run("{{ range $externalLabels }}{{ . }}{{ else }}empty{{ end }}"),
        "eu-1"
    );
    assert_eq!(
        run("{{ range (args).arg0 }}x{{ else }}empty{{ end }}"),
        "empty"
    );
}

#[test]
fn range_supports_break_continue_and_integers() {
    assert_eq!(
        run("{{ range $i := 5 }}{{ if eq $i 1 }}{{ continue }}{{ end }}{{ if eq $i 3 }}{{ break }}{{ end }}{{ $i }}{{ end }}"),
        "02"
    );
    assert_eq!(run("{{ range 0 }}x{{ else }}none{{ end }}"), "none");
}

#[test]
fn define_template_and_block_share_definitions() {
    assert_eq!(
        run("{{ define \"x\" }}[{{ . }}]{{ end }}{{ template \"x\" $labels.job }}"),
        "[api]"
    );
    assert_eq!(
        run("{{ define \"x\" }}{{ . }}{{ end }}{{ template \"x\" }}"),
        "<no value>"
    );
    assert_eq!(
        run("{{define \"x\"}}{{.arg0}} {{.arg1}}{{end}}{{template \"x\" (args 1 \"2\")}}"),
        "1 2"
    );
    assert_eq!(
        run("{{ block \"b\" $labels.job }}<{{ . }}>{{ end }}"),
        "<api>"
    );
}

#[test]
fn parenthesised_commands_and_chained_fields_evaluate() {
    assert_eq!(run("{{ (index $labels \"job\") }}"), "api");
    assert_eq!(run("{{ ($.Labels).job }}"), "api");
    assert_eq!(run("{{ (args $labels).arg0.job }}"), "api");
}

#[test]
fn go_builtins_behave_as_in_go() {
    assert_eq!(run("{{ len $labels }} {{ len \"héllo\" }}"), "2 6");
    assert_eq!(run("{{ index \"abc\" 1 }}"), "98");
    assert_eq!(
        run("{{ slice \"abcdef\" 1 3 }} {{ slice \"abc\" 1 }}"),
        "bc bc"
    );
    assert_eq!(run("{{ print 1 2 \"a\" \"b\" 3 }}"), "1 2ab3");
    assert_eq!(run("{{ println 1 \"a\" }}"), "1 a\n");
    assert_eq!(run("{{ urlquery \"a b&c\" }}"), "a+b%26c");
    assert_eq!(
        run("{{ html \"<a href='x'>&\\\"\" }}"),
        "&lt;a href=&#39;x&#39;&gt;&amp;&#34;"
    );
    assert_eq!(run("{{ js \"it's <b>\" }}"), "it\\'s \\u003Cb\\u003E");
    assert_eq!(run("{{ eq 1 2 3 1 }} {{ ne \"a\" \"b\" }} {{ lt 1 2 }} {{ le 2 2 }} {{ gt 1.5 2.5 }} {{ ge \"b\" \"a\" }}"), "true true true true false true");
    assert_eq!(
        run("{{ and 1 0 2 }} {{ or 0 \"\" 3 }} {{ and 1 2 }}"),
        "0 3 2"
    );
}

#[test]
fn printf_formats_with_go_verbs() {
    let cases = [
        (r#"{{ printf "%s|%q|%v" "a" "b\n" "c" }}"#, "a|\"b\\n\"|c"),
        (
            r#"{{ printf "%d|%5d|%-5d|%05d|%+d|%x|%X|%o|%b|%c" 42 42 42 -42 42 255 255 8 5 65 }}"#,
            "42|   42|42   |-0042|+42|ff|FF|10|101|A",
        ),
        (
            r#"{{ printf "%f|%.2f|%8.3f|%-8.1f|%e|%E|%.3e" 3.14159 3.14159 3.14159 3.14159 1234.5678 0.000123 1234.5678 }}"#,
            "3.141590|3.14|   3.142|3.1     |1.234568e+03|1.230000E-04|1.235e+03",
        ),
        (
            r#"{{ printf "%g|%g|%.3g|%g|%G" 100000.0 1000000.0 1234.5678 0.00001234 1e-7 }}"#,
            "100000|1e+06|1.23e+03|1.234e-05|1E-07",
        ),
        (
            r#"{{ printf "%v|%v|%v|%v" 1.5 2 "s" true }}"#,
            "1.5|2|s|true",
        ),
        (r#"{{ printf "%5.1f%%" 99.44 }}"#, " 99.4%"),
        (
            r#"{{ printf "%t|%5s|%-5s|%.2s|%x" true "ab" "ab" "abc" "hi" }}"#,
            "true|   ab|ab   |ab|6869",
        ),
        (r#"{{ printf "%d" 1.5 }}"#, "%!d(float64=1.5)"),
        (r#"{{ printf "%s" 1 }}"#, "%!s(int=1)"),
        (r#"{{ printf "%d %d" 1 }}"#, "1 %!d(MISSING)"),
        (r#"{{ printf "%d" 1 2 }}"#, "1%!(EXTRA int=2)"),
        (r#"{{ printf "%z" 1 }}"#, "%!z(int=1)"),
        (r#"{{ printf "100%" }}"#, "100%!(NOVERB)"),
        (
            r#"{{ printf "%v" $labels }}"#,
            "map[instance:host-1:9100 job:api]",
        ),
        (
            r#"{{ printf "%T %T %T" 1 1.5 $labels }}"#,
            "int float64 map[string]string",
        ),
        (r#"{{ printf "%*d|%.*f" 4 7 2 3.14159 }}"#, "   7|3.14"),
        (r#"{{ printf "%.2f" $value }}"#, "0.25"),
        (
            r#"{{ printf "%6.2f|%+.1e|% d" -1.005 12345.0 5 }}"#,
            " -1.00|+1.2e+04| 5",
        ),
        (
            r#"{{ printf "%U|%#U|%q" 0x1F600 65 65 }}"#,
            "U+1F600|U+0041 'A'|'A'",
        ),
        (r#"{{ printf "%v %v" nil 1 }}"#, "<nil> 1"),
    ];
    for (template, want) in cases {
        assert_eq!(run(template), want, "{template}");
    }
}

#[test]
fn the_whole_data_and_maps_print_like_fmt() {
    assert_eq!(run("{{ $labels }}"), "map[instance:host-1:9100 job:api]");
    assert_eq!(
        run("{{ . }}"),
        "{map[instance:host-1:9100 job:api] map[cluster:eu-1] http://testhost:9090/path/prefix 0.25}"
    );
    assert_eq!(run("{{ args 1 \"a\" }}"), "map[arg0:1 arg1:a]");
    assert_eq!(run("{{ (args 1).arg5 }}"), "<no value>");
}
