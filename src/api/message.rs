//! The proxy's own view of an HTTP exchange: a request handlers can read, and a reply they
//! return. The server (`http/server/`) builds the one and writes the other, so no handler
//! touches a socket or the HTTP protocol library.

use std::io::Read;
use std::net::SocketAddr;

/// A request as handlers see it. The body is read on demand, through a reader the server
/// provides.
pub(crate) struct HttpRequest<'a> {
    pub method: String,
    /// The path without the query string.
    pub path: String,
    /// The query string (after `?`), possibly empty.
    pub query: String,
    /// Header names as sent; look them up with [`HttpRequest::header`].
    pub headers: Vec<(String, String)>,
    /// The body, read on demand (the server sends `100 Continue` on the first read when the
    /// client asked for it). A read that takes longer than `BODY_TIMEOUT` fails with
    /// `io::ErrorKind::TimedOut`.
    pub body: &'a mut dyn Read,
    /// The client's address.
    pub peer: SocketAddr,
}

impl HttpRequest<'_> {
    /// A query parameter's value (not percent-decoded: the proxy's own parameters are plain).
    pub(crate) fn query_param(&self, name: &str) -> Option<&str> {
        self.query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }

    /// The first header with this name (names compare without regard to case).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The token of an `Authorization: Bearer ...` header (the scheme in any case).
    pub(crate) fn bearer(&self) -> Option<&str> {
        bearer_token(self.header("Authorization"))
    }

    /// The declared body length, when the client sent a valid `Content-Length`.
    pub(crate) fn content_length(&self) -> Option<u64> {
        self.header("Content-Length")?.trim().parse().ok()
    }
}

/// The token of an `Authorization` header's value when its scheme is `Bearer` (in any case,
/// as RFC 9110 has it), and the token is not empty.
pub(crate) fn bearer_token(header: Option<&str>) -> Option<&str> {
    let (scheme, token) = header?.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// A body that is produced piece by piece (server-sent events). The server writes and flushes
/// each piece as soon as it is returned, and drops the stream when the client goes away, which
/// must release whatever the stream holds (the upstream connection, the concurrency slot).
pub(crate) trait EventStream: Send {
    /// Appends the next piece of the body to `out` and returns true, or returns false when
    /// the body is complete.
    fn next_piece(&mut self, out: &mut Vec<u8>) -> bool;

    /// Called after the last piece reached the client (never when the client went away).
    fn finish(self: Box<Self>) {}
}

pub(crate) enum Body {
    Full(Vec<u8>),
    Stream(Box<dyn EventStream>),
}

/// What a handler answers. Exactly one place, the server loop, writes it to the client.
pub(crate) struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Body,
    /// The model named in the log line, when there is one.
    pub model: Option<String>,
}

impl Reply {
    /// A JSON reply with the given status.
    pub(crate) fn json(status: u16, body: Vec<u8>) -> Reply {
        Reply {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: Body::Full(body),
            model: None,
        }
    }

    /// A server-sent-events reply.
    pub(crate) fn stream(stream: Box<dyn EventStream>) -> Reply {
        Reply {
            status: 200,
            headers: vec![
                ("Content-Type".into(), "text/event-stream".into()),
                ("Cache-Control".into(), "no-cache".into()),
            ],
            body: Body::Stream(stream),
            model: None,
        }
    }

    pub(crate) fn with_header(mut self, name: &str, value: impl Into<String>) -> Reply {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    pub(crate) fn with_model(mut self, model: Option<String>) -> Reply {
        self.model = model;
        self
    }

    /// Tells SDKs not to send the request again (`x-should-retry: false`, which the OpenAI
    /// and Anthropic SDKs obey); said once however often it is asked.
    pub(crate) fn no_retry(self) -> Reply {
        if self.header("x-should-retry").is_some() {
            return self;
        }
        self.with_header("x-should-retry", "false")
    }

    /// The first header with this name (names compare without regard to case).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}
