//! Secret scrubbing for text that came from outside (a server's answer, a proxy's error page):
//! an API or proxy may quote our request back, and with it an integration key, a token, a
//! client secret or a webhook signature. `Http` scrubs every answer before anyone reads it, so
//! nothing derived from it (dead letters, the event log, the log file, `status`, `doctor`, the
//! plugin's module descriptions) can carry a configured secret.

/// What a scrubbed secret is replaced with.
pub const REDACTED: &str = "[redacted]";

/// Secrets shorter than this are not searched for: a short value would also match ordinary
/// words and numbers in an answer (every real key, token and secret is far longer).
pub const MIN_SECRET_LEN: usize = 8;

/// Parts of a secret URL (path segments, query values) at least this long are secrets too.
const URL_PART_MIN_LEN: usize = 16;

/// Replaces every configured secret (and the forms a server may quote it in) by `[redacted]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scrubber {
    /// The strings to remove, longest first (so a URL goes before the signature inside it).
    needles: Vec<String>,
}

impl Scrubber {
    /// A scrubber for these secrets. A URL secret (a webhook URL) also covers its path and
    /// query and each long query value or path segment, since a server may quote only those.
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a str>) -> Self {
        let mut needles = Vec::new();
        for secret in secrets {
            let secret = secret.trim();
            add_forms(&mut needles, secret);
            if let Some((_, rest)) = secret.split_once("://") {
                if let Some(i) = rest.find(['/', '?']) {
                    let tail = &rest[i..];
                    add_forms(&mut needles, tail);
                    // Only long parts: signatures and ids are long, while words such as
                    // `workflows` or `api-version` would garble every message.
                    for part in tail.split(['/', '?', '&', '=', '#']) {
                        if part.chars().count() >= URL_PART_MIN_LEN {
                            add_forms(&mut needles, part);
                        }
                    }
                }
            }
        }
        needles.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        needles.dedup();
        Scrubber { needles }
    }

    /// `text` with every secret replaced by `[redacted]`.
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_string();
        for n in &self.needles {
            if out.contains(n.as_str()) {
                out = out.replace(n.as_str(), REDACTED);
            }
        }
        out
    }
}

/// Adds a secret as written, percent-encoded, and with JSON's optional `\/` escape.
fn add_forms(needles: &mut Vec<String>, s: &str) {
    if s.chars().count() < MIN_SECRET_LEN {
        return;
    }
    needles.push(s.to_string());
    let encoded = crate::text::encode_component(s);
    if encoded != s {
        needles.push(encoded);
    }
    if s.contains('/') {
        needles.push(s.replace('/', "\\/"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_a_secret_wherever_it_is_quoted() {
        let s = Scrubber::new(["xoxb-secret-token", "il1api123"]);
        assert_eq!(
            s.scrub("bad token xoxb-secret-token for /api/v1/events/pandorafms/il1api123"),
            "bad token [redacted] for /api/v1/events/pandorafms/[redacted]"
        );
    }

    #[test]
    fn a_webhook_url_is_removed_whole_and_in_parts() {
        let url = "https://prod.example/workflows/abc/triggers?api-version=1&sig=Zm9vYmFyYmF6cXV4";
        let s = Scrubber::new([url]);
        assert_eq!(
            s.scrub(&format!("POST {url} failed")),
            "POST [redacted] failed"
        );
        assert_eq!(s.scrub("sig=Zm9vYmFyYmF6cXV4"), "sig=[redacted]");
        assert!(!s
            .scrub("{\"url\":\"https:\\/\\/prod.example\\/workflows\\/abc\\/triggers?api-version=1&sig=Zm9vYmFyYmF6cXV4\"}")
            .contains("Zm9vYmFy"));
        assert!(!s
            .scrub("sig%3DZm9vYmFyYmF6cXV4 and /workflows/abc/triggers%3Fapi-version")
            .contains("Zm9vYmFyYmF6cXV4"));
    }

    #[test]
    fn the_words_of_a_webhook_url_are_not_secrets() {
        let s = Scrubber::new([
            "https://prod-00.example.logic.azure.com:443/workflows/0123456789abcdef0123456789abcdef/triggers/manual/paths/invoke?api-version=2016-06-01&sig=AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcdefg",
        ]);
        assert_eq!(
            s.scrub("the workflows trigger (api-version 2016-06-01) is off"),
            "the workflows trigger (api-version 2016-06-01) is off"
        );
        assert_eq!(
            s.scrub("flow 0123456789abcdef0123456789abcdef sig AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcdefg"),
            "flow [redacted] sig [redacted]"
        );
    }

    #[test]
    fn short_values_and_ordinary_text_are_left_alone() {
        let s = Scrubber::new(["abc", "", "   "]);
        assert_eq!(s, Scrubber::default());
        assert_eq!(s.scrub("abc {\"ok\":true}"), "abc {\"ok\":true}");
    }

    #[test]
    fn scrubbing_keeps_json_valid() {
        let s = Scrubber::new(["syt_secret_matrix"]);
        let body = r#"{"errcode":"M_UNKNOWN","error":"token syt_secret_matrix is bad"}"#;
        let v: serde_json::Value = serde_json::from_str(&s.scrub(body)).unwrap();
        assert_eq!(v["error"], "token [redacted] is bad");
    }
}
