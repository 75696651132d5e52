//! What a server writes, made safe to show: the secrets a call carried redacted, whatever the
//! case and however JSON escaped them, control characters escaped, and the text cut to size.
//!
//! A call may carry a few hundred secrets (an import of 100 items, each with a secret and a
//! recovery code, plus the access key secret and the token), and a hostile server may quote
//! kilobytes back, but only on the error path, and the text is cut to a few KiB first: each
//! secret is searched for with memchr's SIMD substring search in the text lower-cased once
//! (microseconds for 300 secrets in 20 KB), which costs a dependent's build nothing, where an
//! Aho–Corasick automaton cost 2.5 s of it.

use memchr::memmem;

/// What a redacted secret becomes.
const REDACTED: &str = "<redacted>";

/// Secrets shorter than this are not searched for: redacting them would garble the message
/// without protecting anything. Recovery codes are at least 6 characters
/// ([`OtpImport::MIN_RECOVERY_CODE_CHARS`](crate::OtpImport::MIN_RECOVERY_CODE_CHARS)), OTP
/// secrets 16, tokens and real access key secrets far longer.
const MIN_SECRET_CHARS: usize = 4;

/// The longest excerpt of a body shown in an error, in characters.
pub(crate) const EXCERPT_CHARS: usize = 200;

/// `text` with each of `secrets` replaced by `<redacted>` (ASCII case ignored, also as JSON
/// would escape it), and control and bidirectional-override characters escaped (`\u{1b}`), so
/// that what a server writes can neither leak a secret the call carried nor drive a terminal.
pub(crate) fn clean(text: &str, secrets: &[&str]) -> String {
    let redacted = redact_secrets(text, secrets);
    escape_controls(redacted.as_deref().unwrap_or(text))
}

/// `text` with `secrets` redacted, or `None` when none of them is in it.
fn redact_secrets(text: &str, secrets: &[&str]) -> Option<String> {
    // A secret longer than the text cannot be in it: the usual short message costs nothing.
    let mut needles: Vec<String> = Vec::new();
    for secret in secrets {
        if secret.len() < MIN_SECRET_CHARS || secret.len() > text.len() {
            continue;
        }
        needles.push((*secret).to_owned());
        // As an excerpt of a JSON body shows it.
        if secret.contains(|c: char| c == '"' || c == '\\' || c.is_control()) {
            let escaped = serde_json::to_string(secret).unwrap_or_default();
            needles.push(escaped.trim_matches('"').to_owned());
        }
    }
    if needles.is_empty() {
        return None;
    }
    // ASCII case ignored: lower-casing ASCII keeps every byte where it was, and a match of a
    // whole UTF-8 needle starts and ends on character boundaries of the text.
    let haystack = text.as_bytes().to_ascii_lowercase();
    let mut spans: Vec<(usize, usize)> = Vec::new();
    for needle in &needles {
        let needle = needle.as_bytes().to_ascii_lowercase();
        spans.extend(memmem::find_iter(&haystack, &needle).map(|at| (at, at + needle.len())));
    }
    if spans.is_empty() {
        return None;
    }
    spans.sort_unstable();
    // Overlapping spans become one: a short secret inside a longer one, or two that overlap,
    // leave nothing of either behind.
    let mut out = String::with_capacity(text.len());
    let (mut copied, mut i) = (0, 0);
    while i < spans.len() {
        let (start, mut end) = spans[i];
        i += 1;
        while i < spans.len() && spans[i].0 < end {
            end = end.max(spans[i].1);
            i += 1;
        }
        out.push_str(&text[copied..start]);
        out.push_str(REDACTED);
        copied = end;
    }
    out.push_str(&text[copied..]);
    Some(out)
}

/// Control characters, and the Unicode controls that reorder text on a terminal.
fn is_unsafe_char(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `text` with control and bidirectional-override characters escaped.
pub(crate) fn escape_controls(text: &str) -> String {
    if !text.chars().any(is_unsafe_char) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if is_unsafe_char(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

/// `text` cut to `chars` characters, with `…` when something was cut.
pub(crate) fn truncate(text: &str, chars: usize) -> String {
    match text.char_indices().nth(chars) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// A value of the caller's shown back in a message about it: control characters escaped, and
/// cut to 40 characters, so that a wrong value cannot flood a terminal or drive it.
pub(crate) fn shown(value: &str) -> String {
    truncate(&clean(value, &[]), 40)
}

/// Words that mark a key (or, in a body that is not JSON, the text) as secret-bearing. Keys are
/// compared lower-cased with `_` and `-` removed, by substring, so `otpSecret`,
/// `recovery_codes` and `refresh_token` all match.
const SECRET_WORDS: &[&str] = &["secret", "token", "recovery", "password", "credential"];

fn is_secret_key(key: &str) -> bool {
    let key: String = key
        .chars()
        .filter(|c| !matches!(c, '_' | '-'))
        .map(|c| c.to_ascii_lowercase())
        .collect();
    SECRET_WORDS.iter().any(|w| key.contains(w))
}

/// The start of a body for an error message, with secret-bearing JSON values redacted. Kept
/// longer than shown (20 times [`EXCERPT_CHARS`]) until the call's secrets are scrubbed from
/// it: a secret that straddles the cut would otherwise survive in part.
pub(crate) fn excerpt(body: &[u8]) -> String {
    let text = match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(mut value) => {
            redact_json(&mut value);
            value.to_string()
        }
        Err(_) => {
            let text = String::from_utf8_lossy(body);
            // A body that is not JSON but mentions a secret word is withheld whole: cutting it
            // safely would need a parser it evidently does not fit.
            if is_secret_key(&text) {
                return format!("<{} bytes withheld: may contain secrets>", body.len());
            }
            text.split_whitespace().collect::<Vec<_>>().join(" ")
        }
    };
    truncate(&clean(&text, &[]), EXCERPT_CHARS * 20)
}

fn redact_json(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if is_secret_key(key) {
                    *v = serde_json::Value::String(REDACTED.into());
                } else {
                    redact_json(v);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(redact_json),
        _ => {}
    }
}

/// Describes a JSON decoding failure without quoting any value of the input: serde_json's own
/// messages can quote the offending value, which may be a secret. Field names and the position
/// are kept.
pub fn json_error_summary(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    let what = if ["missing field", "unknown variant", "unknown field"]
        .iter()
        .any(|p| msg.starts_with(p))
    {
        msg.split(" at line").next().unwrap_or_default().to_owned()
    } else {
        match e.classify() {
            serde_json::error::Category::Data => "a field has the wrong type or value".to_owned(),
            serde_json::error::Category::Syntax => "not valid JSON".to_owned(),
            serde_json::error::Category::Eof => "JSON that ends early".to_owned(),
            serde_json::error::Category::Io => "JSON that could not be read".to_owned(),
        }
    };
    format!("{what} (line {}, column {})", e.line(), e.column())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpt_redacts_secret_fields_and_keeps_enough_to_scrub() {
        let body = br#"{"statusCode":200,"data":{"secret":"HZ2F6J3AGNAVSOTV","recoveryCode":"b471"},"x":"y"}"#;
        let e = excerpt(body);
        assert!(
            !e.contains("HZ2F6J3AGNAVSOTV") && !e.contains("b471"),
            "{e}"
        );
        assert!(e.contains("<redacted>"));
        let long = "x".repeat(5000);
        assert_eq!(
            excerpt(long.as_bytes()).chars().count(),
            EXCERPT_CHARS * 20 + 1
        );
        assert!(excerpt(b"<html>secret: HZ2F</html>").contains("withheld"));
        // Key names other than the spec's own.
        for body in [
            &br#"{"data":{"otpSecret":"HZ2F6J3AGNAVSOTV","recoveryCodes":["b471-8ec0"]}}"#[..],
            br#"{"data":{"secret":null,"refresh_token":"RT-SECRET-1"}}"#,
            br#"{"statusCode":200,"data":{"Access-Token":"RT-SECRET-1"}}"#,
            b"recovery_code=b471-8ec0&otp=HZ2F6J3AGNAVSOTV",
        ] {
            let e = excerpt(body);
            for needle in ["HZ2F6J3AGNAVSOTV", "b471-8ec0", "RT-SECRET-1"] {
                assert!(!e.contains(needle), "{needle} in {e}");
            }
        }
    }

    #[test]
    fn clean_redacts_the_calls_secrets_and_escapes_controls() {
        let text = "bad secret hz2f6j3agnavsotv for \u{1b}[31mu1\u{1b}[0m\u{202e} b471-8ec0!";
        let cleaned = clean(text, &["HZ2F6J3AGNAVSOTV", "b471-8ec0", "ab"]);
        assert_eq!(
            cleaned,
            "bad secret <redacted> for \\u{1b}[31mu1\\u{1b}[0m\\u{202e} <redacted>!"
        );
        assert_eq!(clean("ab cd", &["ab"]), "ab cd", "too short to redact");
        assert_eq!(clean("é€ plain", &[]), "é€ plain");
        // A secret inside a longer one, and one as JSON escapes it.
        assert_eq!(
            clean("HZ2F6J3AGNAVSOTV", &["2F6J", "HZ2F6J3AGNAVSOTV"]),
            "<redacted>"
        );
        assert_eq!(
            clean(r#"quoted: a\"bcd"#, &["a\"bcd"]),
            "quoted: <redacted>"
        );
        // Two that overlap, and non-ASCII text around them.
        assert_eq!(
            clean("é-ABCDEFGH-ü", &["abcdef", "DEFGH"]),
            "é-<redacted>-ü"
        );
    }

    #[test]
    fn hundreds_of_secrets_in_a_long_text_are_all_found() {
        let secrets: Vec<String> = (0..300).map(|n| format!("SECRET{n:010}")).collect();
        let refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
        let mut text = "x".repeat(20_000);
        text.push_str("secret0000000299 and SECRET0000000007");
        let cleaned = clean(&text, &refs);
        assert!(
            cleaned.ends_with("<redacted> and <redacted>"),
            "{}",
            &cleaned[19_990..]
        );
    }

    #[test]
    fn json_errors_do_not_quote_values() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Codes {
            #[serde(rename = "statusCode")]
            status_code: f64,
        }
        let e = serde_json::from_str::<Codes>(r#"{"statusCode":"HZ2F6J3AGNAVSOTV"}"#).unwrap_err();
        assert!(!json_error_summary(&e).contains("HZ2F"));
    }
}
