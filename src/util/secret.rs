//! Secrets: masking keys for anything a person or a file may see, and comparing them in
//! constant time. Every log line, header and error message that names a key goes through
//! [`mask_key`].

/// Shows enough of a key to tell keys apart (`sk-or-v1-abc…xyz`) and nothing more.
/// Short strings, which would reveal too much of themselves, become `***`.
pub fn mask_key(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() < 20 {
        return "***".to_string();
    }
    let head: String = chars[..12].iter().collect();
    let tail: String = chars[chars.len() - 3..].iter().collect();
    format!("{head}…{tail}")
}

/// Compares two secrets without an early exit, so timing does not reveal how much matched.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= usize::from(x ^ y);
    }
    diff == 0
}

/// A proxy URL with any password hidden, for logs and error messages.
pub fn mask_url(url: &str) -> String {
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
        assert_eq!(mask_key(key), "sk-or-v1-abc…xyz");
        assert_eq!(mask_key("short-secret"), "***");
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
