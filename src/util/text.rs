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

/// A query value decoded (`%2F` → `/`, `+` → space); malformed escapes stay as they are,
/// and bytes that are not UTF-8 become U+FFFD.
pub(crate) fn decode_query_value(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (b'+', _, _) => {
                out.push(b' ');
                i += 1;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A percent-encoded path segment decoded (`%2F` to `/`, `%3A` to `:`; a `+` is a `+`);
/// `None` when an escape is malformed or the result is not UTF-8.
pub(crate) fn decode_path_segment(text: &str) -> Option<String> {
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
    fn query_values_are_decoded_and_bad_escapes_kept() {
        assert_eq!(
            decode_query_value("meta-llama%2Fllama-3.3-70b%3Afree"),
            "meta-llama/llama-3.3-70b:free"
        );
        assert_eq!(decode_query_value("a+b%zz%4"), "a b%zz%4");
    }

    #[test]
    fn long_text_is_cut_and_control_characters_hidden() {
        assert_eq!(clip("abc", 200), "abc");
        assert_eq!(clip("abcdef", 3), "abc...");
        assert_eq!(clip("a\r\nb", 10), "a??b");
        assert_eq!(clip("ééé", 3), "é...");
    }

    #[test]
    fn path_segments_are_decoded_and_bad_escapes_refused() {
        assert_eq!(
            decode_path_segment("openai%2Fgpt-oss-20b%3Afree").as_deref(),
            Some("openai/gpt-oss-20b:free")
        );
        assert_eq!(decode_path_segment("a/b:c+d").as_deref(), Some("a/b:c+d"));
        assert_eq!(
            decode_path_segment("%e2%82%ac").as_deref(),
            Some("\u{20ac}")
        );
        assert_eq!(decode_path_segment("50%"), None);
        assert_eq!(decode_path_segment("%zz"), None);
        assert_eq!(decode_path_segment("%ff"), None);
        assert_eq!(decode_path_segment("%+1"), None);
    }
}
