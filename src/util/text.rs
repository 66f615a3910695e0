//! Client text in the proxy's own words: never more than a bounded piece of it, and never a
//! control character that could break a log line or a header.

/// At most `max` bytes of `text` (cut at a character boundary, `...` added when cut), with
/// control characters shown as `?`.
pub(crate) fn clip(text: &str, max: usize) -> String {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut out: String = text[..end]
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if end < text.len() {
        out.push_str("...");
    }
    out
}

/// A percent-encoded path segment decoded (`%2F` to `/`, `%3A` to `:`); `None` when an escape
/// is malformed or the result is not UTF-8.
pub(crate) fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_cut_and_control_characters_hidden() {
        assert_eq!(clip("abc", 200), "abc");
        assert_eq!(clip("abcdef", 3), "abc...");
        assert_eq!(clip("a\r\nb", 10), "a??b");
        assert_eq!(clip("ééé", 3), "é...");
    }

    #[test]
    fn percent_escapes_are_decoded_and_bad_ones_refused() {
        assert_eq!(
            percent_decode("openai%2Fgpt-oss-20b%3Afree").as_deref(),
            Some("openai/gpt-oss-20b:free")
        );
        assert_eq!(percent_decode("a/b:c").as_deref(), Some("a/b:c"));
        assert_eq!(percent_decode("%e2%82%ac").as_deref(), Some("\u{20ac}"));
        assert_eq!(percent_decode("50%"), None);
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%ff"), None);
        assert_eq!(percent_decode("%+1"), None);
    }
}
