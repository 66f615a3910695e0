//! Which request heads the server refuses before reading anything more, and with what.
//!
//! A pure function of the parsed head, with a table test. Everything here closes the
//! connection: after a framing error the server cannot know where the next request starts,
//! so nothing that follows is read as one (request smuggling needs exactly that).

use super::protocol::Head;

/// The longest request target (path and query) accepted; longer gets 414.
pub(crate) const MAX_TARGET_BYTES: usize = 8 * 1024;

/// A refusal: the status and what to tell the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub status: u16,
    pub message: String,
}

fn refuse(status: u16, message: &str) -> Option<Refusal> {
    Some(Refusal {
        status,
        message: message.to_string(),
    })
}

/// Checks a head's framing and form; `None` when it may be served.
pub(crate) fn check(head: &Head) -> Option<Refusal> {
    if head.target.len() > MAX_TARGET_BYTES {
        return refuse(
            414,
            "the request URL is longer than 8 KiB; send long input in the body",
        );
    }
    let hosts = head.values("host").count();
    if hosts > 1 {
        return refuse(400, "the request has more than one Host header");
    }
    if hosts == 0 && !head.http10 {
        return refuse(400, "an HTTP/1.1 request must have a Host header");
    }
    let codings: Vec<String> = head
        .values("transfer-encoding")
        .flat_map(|v| v.split(','))
        .map(|c| c.trim().to_ascii_lowercase())
        .filter(|c| !c.is_empty())
        .collect();
    if head.values("transfer-encoding").next().is_some() {
        if head.values("content-length").next().is_some() {
            return refuse(
                400,
                "the request has both Content-Length and Transfer-Encoding; send one of them",
            );
        }
        if head.http10 {
            return refuse(
                400,
                "HTTP/1.0 has no Transfer-Encoding; send Content-Length",
            );
        }
        if codings != ["chunked"] {
            return refuse(
                501,
                "the only transfer coding accepted is 'Transfer-Encoding: chunked'",
            );
        }
    }
    if !head.target.starts_with('/') && head.target != "*" {
        return refuse(400, "the request target must be a path such as /v1/models");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(http10: bool, target: &str, headers: &[(&str, &str)]) -> Head {
        Head {
            method: "POST".into(),
            target: target.into(),
            http10,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn the_framing_table() {
        let long = format!("/{}", "a".repeat(MAX_TARGET_BYTES));
        let host = ("Host", "localhost");
        // (HTTP/1.0?, target, headers, status refused with, or None)
        type Row<'a> = (bool, &'a str, Vec<(&'a str, &'a str)>, Option<u16>);
        let table: &[Row] = &[
            (false, "/v1/models", vec![host], None),
            (false, "/v1/x", vec![host, ("Content-Length", "5")], None),
            (
                false,
                "/v1/x",
                vec![host, ("Transfer-Encoding", "chunked")],
                None,
            ),
            (
                false,
                "/v1/x",
                vec![host, ("Transfer-Encoding", "Chunked ")],
                None,
            ),
            (true, "/v1/models", vec![], None),
            (false, "/v1/models", vec![], Some(400)),
            (false, "/", vec![host, ("Host", "other")], Some(400)),
            (
                false,
                "/",
                vec![
                    host,
                    ("Content-Length", "5"),
                    ("Transfer-Encoding", "chunked"),
                ],
                Some(400),
            ),
            (
                false,
                "/",
                vec![host, ("Transfer-Encoding", "gzip")],
                Some(501),
            ),
            (
                false,
                "/",
                vec![host, ("Transfer-Encoding", "chunked, gzip")],
                Some(501),
            ),
            (
                false,
                "/",
                vec![
                    host,
                    ("Transfer-Encoding", "gzip"),
                    ("Transfer-Encoding", "chunked"),
                ],
                Some(501),
            ),
            (true, "/", vec![("Transfer-Encoding", "chunked")], Some(400)),
            (false, &long, vec![host], Some(414)),
            (false, "http://evil/", vec![host], Some(400)),
        ];
        for (http10, target, headers, expected) in table {
            let got = check(&head(*http10, target, headers)).map(|r| r.status);
            assert_eq!(
                got,
                *expected,
                "{http10} {} {headers:?}",
                &target[..target.len().min(20)]
            );
        }
    }
}
