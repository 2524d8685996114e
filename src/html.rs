//! Text placed in the HTML pages the service serves itself (the reconnect
//! page, the sandbox network's pages). Both are reached from outside the
//! API, so this sits below both instead of in either.

/// `text` as HTML character data or a quoted attribute value: names and
/// messages from the database or a network must not become markup.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
