//! Secrets: masking keys for anything a person or a file may see, redacting them from text
//! that came from elsewhere (an upstream that quotes the key back), and comparing them in
//! constant time. Every log line, header and error message that names a key goes through
//! [`mask_key`]; every upstream text that reaches a client, a log or a file goes through a
//! [`Redactor`].

/// Shows enough of a key to tell keys apart (`sk-or-v1-abc...xyz`) and nothing more, in ASCII
/// (the same form in headers, files and the panel). Short strings, which would reveal too much
/// of themselves, become `***`.
pub(crate) fn mask_key(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() < 20 {
        return "***".to_string();
    }
    let head: String = chars[..12].iter().collect();
    let tail: String = chars[chars.len() - 3..].iter().collect();
    format!("{head}...{tail}")
}

/// Masks any secret: an API key as [`mask_key`] does; anything else (a password, the proxy's
/// own key) as `***`, since a chosen password's first characters are no help and a hint.
pub(crate) fn mask_secret(secret: &str) -> String {
    if secret.starts_with("sk-") {
        mask_key(secret)
    } else {
        "***".to_string()
    }
}

/// A stable, one-way name for a key, for files and for the console's key ids: FNV-1a, 64
/// bits, 16 hex digits. It tells keys apart and says nothing of their text.
pub(crate) fn fingerprint(secret: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in secret.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// A masked key in the one form used now: older files wrote the ellipsis as one character.
pub(crate) fn normalize_mask(masked: &str) -> String {
    masked.replace('\u{2026}', "...")
}

/// Replaces every configured secret found in a text by its mask.
#[derive(Default)]
pub struct Redactor {
    /// Each secret with its mask, longest first (a key that contains another is replaced whole).
    secrets: Vec<(String, String)>,
}

/// Names how many secrets it knows, never the secrets.
impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Redactor({} secrets)", self.secrets.len())
    }
}

impl Redactor {
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a str>) -> Redactor {
        let mut secrets: Vec<(String, String)> = secrets
            .into_iter()
            .filter(|s| s.len() >= 8)
            .map(|s| (s.to_string(), mask_secret(s)))
            .collect();
        secrets.sort_by_key(|(s, _)| std::cmp::Reverse(s.len()));
        secrets.dedup_by(|a, b| a.0 == b.0);
        Redactor { secrets }
    }

    /// `text` with every secret masked (borrowed when there was none).
    pub fn redact<'t>(&self, text: &'t str) -> std::borrow::Cow<'t, str> {
        let mut out = std::borrow::Cow::Borrowed(text);
        for (secret, masked) in &self.secrets {
            if out.contains(secret.as_str()) {
                out = std::borrow::Cow::Owned(out.replace(secret.as_str(), masked));
            }
        }
        out
    }

    /// `bytes` with every secret masked (borrowed when there was none). Text that is not
    /// UTF-8 is searched byte by byte.
    pub fn redact_bytes<'t>(&self, bytes: &'t [u8]) -> std::borrow::Cow<'t, [u8]> {
        use std::borrow::Cow;
        if self.secrets.is_empty() {
            return Cow::Borrowed(bytes);
        }
        if let Ok(text) = std::str::from_utf8(bytes) {
            return match self.redact(text) {
                Cow::Borrowed(_) => Cow::Borrowed(bytes),
                Cow::Owned(clean) => Cow::Owned(clean.into_bytes()),
            };
        }
        let mut out = Cow::Borrowed(bytes);
        for (secret, masked) in &self.secrets {
            let needle = secret.as_bytes();
            while let Some(at) = out.windows(needle.len()).position(|w| w == needle) {
                let mut clean = out[..at].to_vec();
                clean.extend_from_slice(masked.as_bytes());
                clean.extend_from_slice(&out[at + needle.len()..]);
                out = Cow::Owned(clean);
            }
        }
        out
    }

    /// Whether any secret is configured (nothing to redact otherwise).
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// Masks every secret inside a JSON value's strings (keys and values).
    pub fn redact_json(&self, value: &mut serde_json::Value) {
        use serde_json::Value;
        match value {
            Value::String(s) => {
                if let std::borrow::Cow::Owned(clean) = self.redact(s) {
                    *s = clean;
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.redact_json(v)),
            Value::Object(map) => {
                let dirty: Vec<String> = map
                    .keys()
                    .filter(|k| matches!(self.redact(k), std::borrow::Cow::Owned(_)))
                    .cloned()
                    .collect();
                for key in dirty {
                    if let Some(v) = map.remove(&key) {
                        map.insert(self.redact(&key).into_owned(), v);
                    }
                }
                map.values_mut().for_each(|v| self.redact_json(v));
            }
            _ => {}
        }
    }
}

/// Compares two secrets without an early exit, so timing does not reveal how much matched.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= usize::from(x ^ y);
    }
    diff == 0
}

/// A proxy URL with any password hidden, for logs and error messages.
pub(crate) fn mask_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!("{}://***@{}", &url[..scheme_end], &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_keep_prefix_and_last_three() {
        let key = "sk-or-v1-abcdef0123456789abcdef0123456789xyz";
        assert_eq!(mask_key(key), "sk-or-v1-abc...xyz");
        assert_eq!(
            normalize_mask("sk-or-v1-abc\u{2026}xyz"),
            "sk-or-v1-abc...xyz"
        );
        assert_eq!(mask_key("short-secret"), "***");
    }

    #[test]
    fn redaction_masks_every_secret_in_text_and_json() {
        let key = "sk-or-v1-abcdef0123456789abcdef0123456789xyz";
        let r = Redactor::new([key, "proxy-secret-123"]);
        assert_eq!(
            r.redact(&format!("Authorization: Bearer {key} and proxy-secret-123")),
            "Authorization: Bearer sk-or-v1-abc...xyz and ***"
        );
        assert!(matches!(
            r.redact("nothing here"),
            std::borrow::Cow::Borrowed(_)
        ));
        let raw = [b"\xff key=".as_slice(), key.as_bytes()].concat();
        assert!(!String::from_utf8_lossy(&r.redact_bytes(&raw)).contains(key));
        let mut v = serde_json::json!({"error": {"message": format!("bad key {key}"), key: [key]}});
        r.redact_json(&mut v);
        assert!(!v.to_string().contains(key), "{v}");
    }

    #[test]
    fn fingerprints_are_stable_and_differ() {
        // The key usage file names keys by it: a change would forget every count.
        assert_eq!(fingerprint(""), "cbf29ce484222325");
        assert_eq!(fingerprint("a"), "af63dc4c8601ec8c");
        assert_ne!(fingerprint("sk-or-v1-a"), fingerprint("sk-or-v1-b"));
    }

    #[test]
    fn equality_needs_same_bytes_and_length() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret1"));
        assert!(!constant_time_eq(b"", b"x"));
        assert!(constant_time_eq(b"", b""));
    }
}
