//! How the proxy writes a count for people: digits grouped by three with commas (`1,234,567`),
//! the same in the command line's tables as on the admin console's page. JSON keeps plain
//! numbers; only text for reading goes through here.

/// `1234567` as `1,234,567`.
pub(crate) fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// A count that may be unknown: grouped, or `-`.
pub(crate) fn grouped_or_dash(n: Option<u64>) -> String {
    n.map_or_else(|| "-".into(), grouped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_are_grouped_by_three() {
        let table = [
            (0, "0"),
            (7, "7"),
            (999, "999"),
            (1000, "1,000"),
            (65536, "65,536"),
            (262_144, "262,144"),
            (1_000_000, "1,000,000"),
            (u64::MAX, "18,446,744,073,709,551,615"),
        ];
        for (n, text) in table {
            assert_eq!(grouped(n), text);
        }
        assert_eq!(grouped_or_dash(None), "-");
        assert_eq!(grouped_or_dash(Some(1234)), "1,234");
    }
}
