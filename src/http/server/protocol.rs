//! HTTP/1.1 request parsing and body decoding, by `ureq_proto::server` (the sans-IO protocol
//! ureq itself is built on). This is the only file that uses ureq_proto: the rest of the
//! server sees [`Head`], [`ProtocolError`] and [`BodyDecoder`].
//!
//! ureq_proto parses the request line and headers (with httparse, at most 128 headers),
//! applies RFC 9112's `Content-Length` rules (digits only, repeated values must agree) and
//! decodes chunked bodies. What it leaves to us is refused in `framing.rs`: both
//! `Content-Length` and `Transfer-Encoding`, codings other than `chunked`, a missing `Host`.
//! A request with neither header has no body here, whatever its method (ureq_proto would read
//! an HTTP/1.1 POST without them as chunked).

use ureq_proto::Error;
use ureq_proto::http::Version;
use ureq_proto::server::state::{RecvBody, Send100};
use ureq_proto::server::{RecvRequestResult, Reply};

/// A request head as the rest of the server reads it.
#[derive(Debug, Clone)]
pub(crate) struct Head {
    pub method: String,
    /// The request target as sent (path and query).
    pub target: String,
    pub http10: bool,
    /// Header names as sent, values as text (invalid UTF-8 replaced).
    pub headers: Vec<(String, String)>,
}

impl Head {
    /// Every value of a header, in order (names compare without regard to case).
    pub(super) fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub(super) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Why a request head was refused, with the status it gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ProtocolError {
    /// More than 128 headers.
    TooManyHeaders,
    /// A version other than HTTP/1.0 and HTTP/1.1.
    Version,
    /// Anything else malformed, in httparse's or ureq_proto's words.
    Malformed(String),
}

impl ProtocolError {
    fn from_ureq(e: Error) -> ProtocolError {
        match e {
            Error::HttpParseTooManyHeaders => ProtocolError::TooManyHeaders,
            Error::HttpParseFail(m) if m.contains("version") => ProtocolError::Version,
            Error::UnsupportedVersion => ProtocolError::Version,
            Error::TooManyContentLengthHeaders => {
                ProtocolError::Malformed("Content-Length headers that disagree".into())
            }
            Error::BadContentLengthHeader => {
                ProtocolError::Malformed("a Content-Length that is not a number".into())
            }
            Error::HttpParseFail(m) => ProtocolError::Malformed(m),
            other => ProtocolError::Malformed(other.to_string()),
        }
    }
}

/// A parsed head and the decoder for the body that follows it.
pub(crate) struct Parsed {
    pub head: Head,
    /// Bytes of the input the head took.
    pub used: usize,
    pub body: BodyDecoder,
}

/// Parses a request head from the start of `input`. `Ok(None)` means the head is not complete
/// yet; the caller decides how much to wait and how large a head may grow.
pub(crate) fn parse_head(input: &[u8]) -> Result<Option<Parsed>, ProtocolError> {
    let mut reply = Reply::new().map_err(ProtocolError::from_ureq)?;
    // Body framing comes from the headers, whatever the method (a HEAD with a length must
    // not leave its body to be read as the next request).
    reply.force_recv_body();
    let (used, request) = reply.try_request(input).map_err(ProtocolError::from_ureq)?;
    let Some(request) = request else {
        return Ok(None);
    };
    let http10 = match request.version() {
        Version::HTTP_10 => true,
        Version::HTTP_11 => false,
        _ => return Err(ProtocolError::Version),
    };
    let headers: Vec<(String, String)> = request
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let head = Head {
        method: request.method().as_str().to_string(),
        target: request.uri().to_string(),
        http10,
        headers,
    };
    let declared = head
        .header("content-length")
        .is_some_and(|v| v.trim() != "0")
        || head.header("transfer-encoding").is_some();
    let body = if !declared {
        BodyDecoder::None
    } else {
        match reply.proceed() {
            Some(RecvRequestResult::Send100(r)) => BodyDecoder::Expect(r),
            Some(RecvRequestResult::RecvBody(r)) => BodyDecoder::Recv(r),
            _ => BodyDecoder::None,
        }
    };
    Ok(Some(Parsed { head, used, body }))
}

/// Decodes a request body (by length or chunked) from bytes the caller reads off the socket.
pub(crate) enum BodyDecoder {
    /// No body, or the whole body has been decoded.
    None,
    /// The client waits for `100 Continue` before it sends the body.
    Expect(Reply<Send100>),
    Recv(Reply<RecvBody>),
}

impl BodyDecoder {
    /// True while the client waits for `100 Continue`.
    pub(super) fn expects_continue(&self) -> bool {
        matches!(self, BodyDecoder::Expect(_))
    }

    /// Accepts the body: returns the `100 Continue` line to send.
    pub(super) fn accept_continue(&mut self) -> Vec<u8> {
        let BodyDecoder::Expect(_) = self else {
            return Vec::new();
        };
        let BodyDecoder::Expect(reply) = std::mem::replace(self, BodyDecoder::None) else {
            return Vec::new();
        };
        let mut out = [0u8; 64];
        match reply.accept(&mut out) {
            Ok((n, recv)) => {
                *self = BodyDecoder::Recv(recv);
                out[..n].to_vec()
            }
            // 64 bytes always hold "HTTP/1.1 100 Continue\r\n\r\n".
            Err(_) => Vec::new(),
        }
    }

    /// True once the whole body has been decoded (or there was none).
    pub(super) fn is_ended(&self) -> bool {
        match self {
            BodyDecoder::None => true,
            BodyDecoder::Expect(_) => false,
            BodyDecoder::Recv(r) => r.is_ended(),
        }
    }

    /// Decodes from `input` into `output`: `(input used, output written)`. `(0, 0)` with the
    /// body not ended means more input is needed.
    pub(super) fn decode(
        &mut self,
        input: &[u8],
        output: &mut [u8],
    ) -> Result<(usize, usize), String> {
        match self {
            BodyDecoder::Recv(r) => r.read(input, output).map_err(|e| e.to_string()),
            _ => Ok((0, 0)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(input: &str) -> Result<Option<Parsed>, ProtocolError> {
        parse_head(input.as_bytes())
    }

    #[test]
    fn a_head_is_read_with_its_body_framing() {
        let p = parse("POST /v1/x?a=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello")
            .unwrap()
            .unwrap();
        assert_eq!(p.head.method, "POST");
        assert_eq!(p.head.target, "/v1/x?a=1");
        assert!(!p.head.http10);
        assert_eq!(p.head.header("HOST"), Some("h"));
        let mut body = p.body;
        let mut out = [0u8; 16];
        let input =
            &b"POST /v1/x?a=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"[p.used..];
        assert_eq!(body.decode(input, &mut out).unwrap(), (5, 5));
        assert!(body.is_ended());
        assert_eq!(&out[..5], b"hello");
    }

    #[test]
    fn incomplete_heads_wait_and_bad_ones_are_named() {
        assert!(parse("GET / HTTP/1.1\r\nHost: h\r\n").unwrap().is_none());
        assert_eq!(
            parse("GET / HTTP/2.0\r\n\r\n").err(),
            Some(ProtocolError::Version)
        );
        assert!(matches!(
            parse("GET /\r\n\r\n").err(),
            Some(ProtocolError::Malformed(_))
        ));
        assert!(matches!(
            parse("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n").err(),
            Some(ProtocolError::Malformed(_))
        ));
        assert!(matches!(
            parse("POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n").err(),
            Some(ProtocolError::Malformed(_))
        ));
        let many: String = (0..200).map(|i| format!("X-{i}: v\r\n")).collect();
        assert_eq!(
            parse(&format!("GET / HTTP/1.1\r\n{many}\r\n")).err(),
            Some(ProtocolError::TooManyHeaders)
        );
    }

    #[test]
    fn a_post_without_length_or_coding_has_no_body() {
        let p = parse("POST / HTTP/1.1\r\nHost: h\r\n\r\nGET / HTTP/1.1\r\n")
            .unwrap()
            .unwrap();
        assert!(p.body.is_ended());
    }

    #[test]
    fn chunked_bodies_and_continue() {
        let text = "POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n";
        let mut body = parse(text).unwrap().unwrap().body;
        assert!(body.expects_continue());
        assert_eq!(body.accept_continue(), b"HTTP/1.1 100 Continue\r\n\r\n");
        let mut out = [0u8; 16];
        let (used, n) = body.decode(b"3\r\nabc\r\n", &mut out).unwrap();
        assert_eq!((used, &out[..n]), (8, &b"abc"[..]));
        assert!(!body.is_ended());
        let (used, _) = body.decode(b"0\r\n\r\n", &mut out).unwrap();
        assert_eq!(used, 5);
        assert!(body.is_ended());
    }
}
