//! The client for OpenRouter: one shared ureq agent, explicit timeouts, readable error bodies.
//!
//! With `transport.rs` (the sockets under the agent), this is the only module that uses ureq.
//! It sends the configured key and the attribution headers and nothing from the client's own
//! headers. Bodies come back as plain readers that stream without buffering; a stalled read
//! surfaces as `io::ErrorKind::TimedOut`, and a read cut short because the client being served
//! went away as an error [`is_client_gone`] recognises.

use std::io::{self, Read};
use std::time::{Duration, Instant};

use crate::api::error::ApiError;
use crate::config::Config;
use crate::util::secret::mask_url;

use super::transport;
pub(crate) use super::transport::is_client_gone;

pub struct Upstream {
    agent: ureq::Agent,
    base_url: String,
    referer: String,
    title: String,
    response_timeout: Duration,
    idle_timeout: Duration,
}

/// An upstream answer whose headers have arrived; the body is still on the wire.
pub struct UpstreamResponse {
    pub status: u16,
    pub retry_after: Option<String>,
    /// The answer is JSON (not an event stream), whatever was asked for.
    pub is_json: bool,
    pub body: UpstreamBody,
}

/// The body of an upstream answer. Dropping it before the end closes the connection.
pub struct UpstreamBody {
    reader: ureq::BodyReader<'static>,
}

/// Why no upstream answer arrived.
#[derive(Debug)]
pub enum UpstreamError {
    Timeout {
        phase: &'static str,
        after: Duration,
    },
    Unreachable(String),
    /// The client being served left while we waited on OpenRouter; the call was dropped.
    ClientGone,
}

impl From<UpstreamError> for ApiError {
    fn from(e: UpstreamError) -> ApiError {
        match e {
            UpstreamError::Timeout { phase, after } => ApiError::UpstreamTimeout { phase, after },
            UpstreamError::Unreachable(detail) => ApiError::UpstreamUnreachable { detail },
            UpstreamError::ClientGone => ApiError::ClientGone,
        }
    }
}

impl Upstream {
    pub fn new(config: &Config) -> Result<Upstream, String> {
        let proxy = match &config.http_proxy {
            Some(url) => Some(
                ureq::Proxy::new(url)
                    .map_err(|e| format!("HTTP_PROXY={:?}: {e}", mask_url(url)))?,
            ),
            None => None,
        };
        let agent_config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            // Only HTTP_PROXY from our own settings; ureq would otherwise read ALL_PROXY too.
            .proxy(proxy)
            .timeout_connect(Some(config.connect_timeout))
            .user_agent(concat!("openrouter-proxy/", env!("CARGO_PKG_VERSION")))
            .max_idle_connections(config.max_concurrent.get().max(10))
            .max_idle_connections_per_host(config.max_concurrent.get().max(4))
            // 128 KiB each by default, per connection: big enough to move glibc's malloc off
            // mmap for good, and then every busy thread's arena keeps its share. Response
            // headers fit in 64 KiB; bodies stream through whatever size. The transport holds
            // a request's head in the output buffer until its body joins it, so a head and a
            // body that fit in 16 KiB together leave in one write.
            .input_buffer_size(64 * 1024)
            .output_buffer_size(16 * 1024)
            .build();
        // ureq's own chain with our sockets in place of its TCP transport: they watch the
        // client being served, probe pooled connections in one call and write once per request.
        let agent = ureq::Agent::with_parts(
            agent_config,
            transport::connector(),
            ureq::unversioned::resolver::DefaultResolver::default(),
        );
        Ok(Upstream {
            agent,
            base_url: config.base_url.clone(),
            referer: config.http_referer.clone(),
            title: config.x_title.clone(),
            response_timeout: config.response_timeout,
            idle_timeout: config.idle_timeout,
        })
    }

    /// `POST` to a generation endpoint (`/chat/completions`, `/responses`, `/messages`) with
    /// the body as the client sent it, the proxy's key, and only the client headers the
    /// protocol passes on (`forwarded`, e.g. `anthropic-version`); never the client's own
    /// credentials.
    ///
    /// A streamed answer may go quiet for at most the idle timeout at any point, headers
    /// included. A whole answer may take the response timeout to send its headers, and go quiet
    /// for at most as long inside its body (OpenRouter may trickle keep-alive whitespace).
    pub fn post(
        &self,
        path: &str,
        key: &str,
        body: &[u8],
        stream: bool,
        forwarded: &[(String, String)],
    ) -> Result<UpstreamResponse, UpstreamError> {
        let url = format!("{}{path}", self.base_url);
        let silence = if stream {
            self.idle_timeout
        } else {
            self.response_timeout
        };
        let config = self
            .agent
            .post(&url)
            .config()
            .timeout_recv_response(Some(self.response_timeout))
            .timeout_per_read(Some(silence));
        let mut request = config.build();
        for (name, value) in forwarded {
            request = request.header(name.as_str(), value.as_str());
        }
        let start = Instant::now();
        let result = request
            .header("Authorization", format!("Bearer {key}"))
            .header("Content-Type", "application/json")
            .header("HTTP-Referer", &self.referer)
            .header("X-Title", &self.title)
            .send(body);
        into_response(result, start)
    }

    /// `GET` a path under the base URL (`/models`, `/key`), with the key when there is one.
    pub fn get(&self, path: &str, key: Option<&str>) -> Result<UpstreamResponse, UpstreamError> {
        let url = format!("{}{path}", self.base_url);
        let mut request = self
            .agent
            .get(&url)
            .config()
            .timeout_recv_response(Some(self.response_timeout.min(Duration::from_secs(60))))
            .timeout_recv_body(Some(self.idle_timeout))
            .build()
            .header("HTTP-Referer", &self.referer)
            .header("X-Title", &self.title);
        if let Some(key) = key {
            request = request.header("Authorization", format!("Bearer {key}"));
        }
        let start = Instant::now();
        into_response(request.call(), start)
    }
}

fn into_response(
    result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    start: Instant,
) -> Result<UpstreamResponse, UpstreamError> {
    let response = result.map_err(|e| classify(e, start.elapsed()))?;
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let is_json = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.contains("json"));
    let body = UpstreamBody {
        reader: response.into_body().into_reader(),
    };
    Ok(UpstreamResponse {
        status,
        retry_after,
        is_json,
        body,
    })
}

/// Names what went wrong in words a person can act on, never echoing URLs with credentials.
fn classify(error: ureq::Error, after: Duration) -> UpstreamError {
    use ureq::Error as E;
    use ureq::Timeout as T;
    match error {
        E::Timeout(T::Resolve | T::Connect) => UpstreamError::Unreachable(format!(
            "no connection within {:.0} s (UPSTREAM_CONNECT_TIMEOUT)",
            after.as_secs_f64()
        )),
        E::Timeout(t) => {
            let phase = match t {
                T::SendRequest | T::SendBody | T::PerWrite => "sending the request",
                T::RecvBody => "receiving the answer",
                _ => "waiting for the response headers",
            };
            UpstreamError::Timeout { phase, after }
        }
        E::Io(e) if is_client_gone(&e) => UpstreamError::ClientGone,
        E::Io(e) if e.kind() == io::ErrorKind::TimedOut => UpstreamError::Timeout {
            phase: "waiting for the response headers",
            after,
        },
        E::Io(e) => UpstreamError::Unreachable(describe_io(&e)),
        E::HostNotFound => UpstreamError::Unreachable("host not found (DNS lookup failed)".into()),
        E::ConnectionFailed => UpstreamError::Unreachable("connection failed".into()),
        E::ConnectProxyFailed(_) | E::InvalidProxyUrl => {
            UpstreamError::Unreachable("the proxy in HTTP_PROXY did not connect us".into())
        }
        other => UpstreamError::Unreachable(other.to_string()),
    }
}

fn describe_io(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => "connection refused".into(),
        io::ErrorKind::ConnectionReset => "connection reset".into(),
        io::ErrorKind::ConnectionAborted => "connection aborted".into(),
        io::ErrorKind::UnexpectedEof => "the connection closed before an answer".into(),
        _ => e.to_string(),
    }
}

/// A stall becomes `TimedOut` whichever layer noticed it; an error [`is_client_gone`]
/// recognises passes through as it is.
impl Read for UpstreamBody {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.reader.read(buf).map_err(|e| {
            let timed_out = e.kind() == io::ErrorKind::TimedOut
                || e.get_ref()
                    .and_then(|inner| inner.downcast_ref::<ureq::Error>())
                    .is_some_and(|u| matches!(u, ureq::Error::Timeout(_)));
            if timed_out {
                io::Error::new(io::ErrorKind::TimedOut, "upstream went silent")
            } else {
                e
            }
        })
    }
}

impl UpstreamBody {
    /// Reads the whole body, refusing more than `limit` bytes.
    pub fn read_all(mut self, limit: u64) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        (&mut self).take(limit + 1).read_to_end(&mut out)?;
        if out.len() as u64 > limit {
            return Err(io::Error::other(format!(
                "the answer is larger than {limit} bytes"
            )));
        }
        Ok(out)
    }
}
