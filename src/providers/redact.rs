//! Keeping tokens out of log lines and error details (docs/rules.md, "Tokens are secrets").

use url::Url;

/// Query, form and JSON keys whose values are secrets.
pub const SENSITIVE_KEYS: &[&str] = &[
    "access_token",
    "refresh_token",
    "fb_exchange_token",
    "input_token",
    "id_token",
    "client_secret",
    "client_assertion",
    "code_verifier",
    "code",
    "token",
    "password",
    "appsecret_proof",
];

/// What a secret is replaced with.
pub const REDACTED: &str = "REDACTED";

fn is_sensitive(key: &str) -> bool {
    SENSITIVE_KEYS.iter().any(|k| k.eq_ignore_ascii_case(key))
}

/// The URL as it may appear in a log line: user info removed, the values of sensitive query and
/// fragment parameters (`access_token`, `client_secret`, `code`, …) replaced by `REDACTED`.
pub fn redact_url(url: &Url) -> String {
    let mut u = url.clone();
    if !u.username().is_empty() || u.password().is_some() {
        let _ = u.set_username("");
        let _ = u.set_password(None);
    }
    let redact_pairs = |raw: &str| -> String {
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(raw.as_bytes())
            .map(|(k, v)| {
                let v = if is_sensitive(&k) {
                    REDACTED.to_owned()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish()
    };
    if let Some(q) = url.query() {
        let q = redact_pairs(q);
        u.set_query(Some(&q));
    }
    if let Some(f) = url.fragment()
        && f.contains('=')
    {
        let f = redact_pairs(f);
        u.set_fragment(Some(&f));
    }
    u.to_string()
}

/// Redact secrets in free text: `key=value` pairs and `"key": "value"` JSON members whose key is
/// sensitive, and `Bearer <token>` / `Basic <credentials>`.
pub fn redact_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let bytes = text.as_bytes();
    let lower = text.to_ascii_lowercase();
    let mut i = 0;
    'outer: while i < bytes.len() {
        let boundary = i == 0 || !is_word(bytes[i - 1]);
        if boundary {
            for scheme in ["bearer ", "basic "] {
                if lower[i..].starts_with(scheme) {
                    let start = i + scheme.len();
                    let end = value_end(bytes, start, false);
                    if end > start {
                        out.push_str(&text[i..start]);
                        out.push_str(REDACTED);
                        i = end;
                        continue 'outer;
                    }
                }
            }
            for key in SENSITIVE_KEYS {
                if !lower[i..].starts_with(key) {
                    continue;
                }
                let after = i + key.len();
                if after < bytes.len() && is_word(bytes[after]) {
                    continue;
                }
                // key=value
                if bytes.get(after) == Some(&b'=') {
                    let start = after + 1;
                    let end = value_end(bytes, start, false);
                    out.push_str(&text[i..start]);
                    out.push_str(REDACTED);
                    i = end;
                    continue 'outer;
                }
                // "key": "value"  (the opening quote of the key is already copied)
                if bytes.get(after) == Some(&b'"') {
                    let mut j = after + 1;
                    while j < bytes.len() && bytes[j] == b' ' {
                        j += 1;
                    }
                    if bytes.get(j) == Some(&b':') {
                        j += 1;
                        while j < bytes.len() && bytes[j] == b' ' {
                            j += 1;
                        }
                        if bytes.get(j) == Some(&b'"') {
                            let start = j + 1;
                            let end = value_end(bytes, start, true);
                            out.push_str(&text[i..start]);
                            out.push_str(REDACTED);
                            i = end;
                            continue 'outer;
                        }
                    }
                }
            }
        }
        let ch = text[i..].chars().next().unwrap_or(' ');
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn value_end(bytes: &[u8], start: usize, quoted: bool) -> usize {
    let mut j = start;
    while j < bytes.len() {
        let b = bytes[j];
        if quoted {
            if b == b'\\' {
                j += 2;
                continue;
            }
            if b == b'"' {
                return j;
            }
        } else if matches!(
            b,
            b'&' | b' ' | b'\t' | b'\r' | b'\n' | b'"' | b'\'' | b'<' | b'>' | b',' | b';' | b')'
        ) {
            return j;
        }
        j += 1;
    }
    bytes.len().min(j)
}

/// Make a network's message safe to keep: the given secrets replaced, sensitive patterns
/// redacted, control characters dropped, at most 300 characters.
pub fn sanitize_detail(text: &str, secrets: &[&str]) -> String {
    let mut t = text.to_owned();
    for s in secrets {
        if s.len() >= 4 {
            t = t.replace(s, REDACTED);
        }
    }
    let t = redact_text(&t);
    let mut cleaned: String = t
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(300)
        .collect();
    if t.chars().count() > 300 {
        cleaned.push('…');
    }
    cleaned
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_query_secrets_are_redacted() {
        let u = Url::parse(
            "https://graph.facebook.com/v21.0/oauth/access_token?grant_type=fb_exchange_token&client_id=123&client_secret=s3cr3t&fb_exchange_token=EAAB",
        )
        .unwrap();
        let r = redact_url(&u);
        assert!(!r.contains("s3cr3t") && !r.contains("EAAB"), "{r}");
        assert!(r.contains("client_id=123") && r.contains("grant_type=fb_exchange_token"));
    }

    #[test]
    fn text_patterns_are_redacted() {
        let t = redact_text(
            r#"{"access_token": "abc.def", "x":1} Authorization: Bearer tok123 url?code=xyz&state=s"#,
        );
        assert!(
            !t.contains("abc.def") && !t.contains("tok123") && !t.contains("xyz"),
            "{t}"
        );
        assert!(t.contains("state=s"));
        // not a word boundary: kept
        assert_eq!(redact_text("zipcode=1"), "zipcode=1");
    }
}
