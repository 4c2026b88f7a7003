//! Issue text in Jira's two body formats: Atlassian Document Format (ADF,
//! Cloud REST v3) and wiki markup (Data Center REST v2), and back to the
//! plain text closeloop searches for its marker.
//!
//! closeloop renders one plain body (paragraphs, `<pre>` blocks, marker
//! lines); here it becomes ADF paragraphs with `hardBreak`s and
//! `codeBlock`s, the marker paragraph greyed by a `textColor` mark (ADF
//! has no comments to hide it in). Reading back, text nodes are joined so
//! that every line of the body, the marker lines above all, comes back
//! verbatim. ADF's shape: <https://developer.atlassian.com/cloud/jira/platform/apis/document/structure/>.

use serde_json::{json, Value};

/// Grey, as Jira's own "subtle" text colour; the marker stays readable.
pub const MARKER_COLOR: &str = "#97a0af";
/// The same grey in wiki markup (`{color:...}`).
pub const WIKI_MARKER_COLOR: &str = "#999999";
/// The prefix every marker line starts with (`render::marker_lines`).
const MARKER_PREFIX: &str = "closeloop-";

/// Plain text as an ADF document (`{"type":"doc","version":1,...}`).
pub fn to_adf(text: &str) -> Value {
    let mut content = Vec::new();
    for block in blocks(text) {
        match block {
            Block::Pre(lines) => {
                let code = lines.join("\n");
                let mut node = json!({ "type": "codeBlock" });
                // An empty text node is invalid ADF: leave content out.
                if !code.is_empty() {
                    node["content"] = json!([{ "type": "text", "text": code }]);
                }
                content.push(node);
            }
            Block::Para(lines) => {
                let marker = lines.iter().all(|l| l.trim().starts_with(MARKER_PREFIX));
                let mut inline = Vec::new();
                for (i, line) in lines.iter().enumerate() {
                    if i > 0 {
                        inline.push(json!({ "type": "hardBreak" }));
                    }
                    if line.is_empty() {
                        continue;
                    }
                    let mut node = json!({ "type": "text", "text": line });
                    if marker {
                        node["marks"] = json!([
                            { "type": "textColor", "attrs": { "color": MARKER_COLOR } }
                        ]);
                    }
                    inline.push(node);
                }
                content.push(json!({ "type": "paragraph", "content": inline }));
            }
        }
    }
    json!({ "type": "doc", "version": 1, "content": content })
}

/// An ADF document's text: blocks apart by a blank line, `hardBreak` as a
/// line break, code blocks back in `<pre>`. Unknown nodes give their text.
pub fn to_text(doc: &Value) -> String {
    let blocks: Vec<String> = doc
        .get("content")
        .and_then(Value::as_array)
        .map(|nodes| nodes.iter().map(block_text).collect())
        .unwrap_or_default();
    blocks.join("\n\n")
}

fn block_text(node: &Value) -> String {
    let kind = node.get("type").and_then(Value::as_str).unwrap_or_default();
    match kind {
        "codeBlock" => format!("<pre>\n{}\n</pre>", inline_text(node)),
        "paragraph" | "heading" | "text" | "hardBreak" => inline_text(node),
        // Lists, panels, quotes: their blocks, one after another.
        _ => match node.get("content").and_then(Value::as_array) {
            Some(children) => children
                .iter()
                .map(block_text)
                .collect::<Vec<_>>()
                .join("\n"),
            None => String::new(),
        },
    }
}

fn inline_text(node: &Value) -> String {
    match node.get("type").and_then(Value::as_str) {
        Some("text") => node
            .get("text")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        Some("hardBreak") => "\n".to_string(),
        _ => node
            .get("content")
            .and_then(Value::as_array)
            .map(|c| c.iter().map(inline_text).collect())
            .unwrap_or_default(),
    }
}

/// Plain text as Jira wiki markup: `<pre>` blocks as `{noformat}`, the
/// marker lines inside a grey `{color}` (each line kept whole, so it is
/// found verbatim in the stored body).
pub fn to_wiki(text: &str) -> String {
    let mut out = Vec::new();
    for block in blocks(text) {
        match block {
            Block::Pre(lines) => {
                out.push(format!("{{noformat}}\n{}\n{{noformat}}", lines.join("\n")));
            }
            Block::Para(lines) => out.push(lines.join("\n")),
        }
    }
    out.join("\n\n")
}

/// The marker lines wrapped for wiki markup.
pub fn wiki_hidden(marker_lines: &str) -> String {
    format!("{{color:{WIKI_MARKER_COLOR}}}\n{marker_lines}\n{{color}}")
}

enum Block {
    /// Lines of a paragraph, without line ends.
    Para(Vec<String>),
    /// The lines between `<pre>` and `</pre>`, HTML entities decoded.
    Pre(Vec<String>),
}

/// Splits the rendered body on blank lines and `<pre>` blocks.
fn blocks(text: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut para: Vec<String> = Vec::new();
    let mut pre: Option<Vec<String>> = None;
    for line in text.lines() {
        if let Some(lines) = pre.as_mut() {
            if line.trim() == "</pre>" {
                out.push(Block::Pre(pre.take().unwrap_or_default()));
            } else {
                lines.push(unescape_html(line));
            }
            continue;
        }
        if line.trim() == "<pre>" {
            if !para.is_empty() {
                out.push(Block::Para(std::mem::take(&mut para)));
            }
            pre = Some(Vec::new());
        } else if line.trim().is_empty() {
            if !para.is_empty() {
                out.push(Block::Para(std::mem::take(&mut para)));
            }
        } else {
            para.push(line.to_string());
        }
    }
    // An unclosed `<pre>` keeps its lines as a block all the same.
    if let Some(lines) = pre {
        out.push(Block::Pre(lines));
    }
    if !para.is_empty() {
        out.push(Block::Para(para));
    }
    out
}

fn unescape_html(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &str = "Alert *X* is firing.\n\nValue: 1\nSource: http://p\n\nLabels:\n\n<pre>\na=&lt;b&gt;\n</pre>\n\ncloseloop-fingerprint: 0123\ncloseloop-receiver: r\n";

    #[test]
    fn the_marker_lines_come_back_verbatim_from_adf() {
        let doc = to_adf(BODY);
        let text = to_text(&doc);
        assert!(text.lines().any(|l| l == "closeloop-fingerprint: 0123"));
        assert!(text.lines().any(|l| l == "closeloop-receiver: r"));
        assert!(text.contains("Value: 1\nSource: http://p"), "{text}");
        assert!(text.contains("<pre>\na=<b>\n</pre>"), "{text}");
    }

    #[test]
    fn the_marker_paragraph_is_grey_and_no_text_node_is_empty() {
        let doc = to_adf(BODY);
        let last = doc["content"].as_array().and_then(|c| c.last()).cloned();
        let last = last.unwrap_or_default();
        assert_eq!(last["content"][0]["marks"][0]["type"], "textColor");
        let text = doc.to_string();
        assert!(!text.contains("\"text\":\"\""), "{text}");
        assert_eq!(to_adf("")["content"], json!([]));
    }

    #[test]
    fn wiki_markup_keeps_marker_lines_whole() {
        let body = format!("Hi\n\n{}\n", wiki_hidden("closeloop-fingerprint: 0123"));
        let wiki = to_wiki(&body);
        assert!(wiki.lines().any(|l| l == "closeloop-fingerprint: 0123"));
        assert!(wiki.starts_with("Hi\n\n{color:#999999}"), "{wiki}");
        assert!(to_wiki(BODY).contains("{noformat}\na=<b>\n{noformat}"));
    }

    #[test]
    fn odd_documents_do_not_panic() {
        for doc in [
            json!(null),
            json!({"content": 3}),
            json!({"content": [{"type": 1}]}),
        ] {
            let _ = to_text(&doc);
        }
        let _ = to_adf("<pre>\nunclosed");
    }
}
