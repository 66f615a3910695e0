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
}
