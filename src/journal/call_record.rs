//! The record of one generation call (chat completions, Responses or Messages) in debug mode:
//! its route, what the client sent, each upstream attempt, and how the call ended. Finishing it
//! counts the call in the daily statistics, appends it to the call log and writes its capture.
//!
//! A record is finished exactly once: explicitly, before the last bytes of the answer leave
//! (so that a crash right after cannot lose a call the client fully received), or, for a
//! stream the client left, when it is dropped. With debug mode off, every method does nothing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::util::time_format::local_timestamp;
use serde_json::{Value, json};

use crate::api::error::ApiError;
use crate::api::message::HttpRequest;
use crate::journal::capture::{Captures, body_value};
use crate::journal::stats::{CallSummary, Outcome, Stats};

pub(crate) struct CallRecord {
    /// Where the record goes; `None` when debug mode is off or the record is finished.
    sinks: Option<(Arc<Stats>, Arc<Captures>)>,
    /// The protocol's route name (`chat`, `responses`, `messages`).
    route: &'static str,
    started: Instant,
    time: String,
    request: Value,
    attempts: Vec<Value>,
    stream: bool,
    first_byte: Option<Duration>,
}

/// What the client got, for the capture.
pub(crate) enum Response<'a> {
    /// A whole body (an answer or an error).
    Whole(&'a [u8]),
    /// A stream: the answer text put back together, and the raw events.
    /// A stream: the answer text put back together and the raw events (each kept up to a
    /// limit), with how many bytes of each the client got in all.
    Stream {
        text: &'a str,
        raw: &'a [u8],
        text_total: usize,
        raw_total: usize,
    },
}

/// How a call ended, as the statistics and the call log count it. The chat handler gets it
/// from dispatch next to the reply, and a stream's relay builds its own.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CallReport {
    pub(crate) outcome: Outcome,
    /// The model that answered, or the one the last attempt asked.
    pub(crate) model: Option<String>,
    /// The key of the last attempt, masked.
    pub(crate) key: Option<String>,
    pub(crate) attempts: u32,
    /// `(prompt, completion)` tokens, from the answer's `usage`.
    pub(crate) usage: (u64, u64),
    /// What went wrong, in the words the client got.
    pub(crate) error: Option<String>,
}

impl CallReport {
    /// A call that ended in `error` before any attempt.
    pub(crate) fn refused(error: &ApiError) -> CallReport {
        CallReport {
            outcome: outcome_of(error),
            model: None,
            key: None,
            attempts: 0,
            usage: (0, 0),
            error: Some(error.to_string()),
        }
    }
}

impl CallRecord {
    /// A record that records nothing.
    pub(crate) fn off() -> CallRecord {
        CallRecord {
            sinks: None,
            route: "",
            started: Instant::now(),
            time: String::new(),
            request: Value::Null,
            attempts: Vec::new(),
            stream: false,
            first_byte: None,
        }
    }

    /// Starts recording a call when `sinks` is given (debug mode on).
    /// `route` names the protocol (`chat`, `responses`, `messages`).
    pub(crate) fn start(
        sinks: Option<(Arc<Stats>, Arc<Captures>)>,
        req: &HttpRequest,
        route: &'static str,
    ) -> CallRecord {
        let Some(sinks) = sinks else {
            return CallRecord::off();
        };
        let headers: serde_json::Map<String, Value> = req
            .headers
            .iter()
            .map(|(k, v)| {
                let shown = if is_credential(k) {
                    "*** (masked)".to_string()
                } else {
                    v.clone()
                };
                (k.clone(), Value::String(shown))
            })
            .collect();
        CallRecord {
            sinks: Some(sinks),
            route,
            started: Instant::now(),
            time: local_timestamp(),
            request: json!({"method": req.method, "path": req.path, "route": route, "headers": headers}),
            attempts: Vec::new(),
            stream: false,
            first_byte: None,
        }
    }

    pub(crate) fn is_on(&self) -> bool {
        self.sinks.is_some()
    }

    /// Keeps the request body as received (parsed when it is JSON).
    pub(crate) fn request_body(&mut self, body: &[u8]) {
        if self.is_on() {
            self.request["body"] = body_value(body);
        }
    }

    pub(crate) fn set_stream(&mut self, stream: bool) {
        self.stream = stream;
    }

    /// Notes one upstream attempt: what was sent and what came back.
    pub(crate) fn attempt(
        &mut self,
        model: &str,
        key: &str,
        status: Option<u16>,
        took: Duration,
        error: Option<&str>,
    ) {
        if self.is_on() {
            self.attempts.push(json!({
                "model": model,
                "key": key,
                "status": status,
                "ms": took.as_millis() as u64,
                "error": error,
            }));
        }
    }

    /// Notes that the answer's first byte is ready for the client.
    pub(crate) fn first_byte(&mut self) {
        self.first_byte.get_or_insert(self.started.elapsed());
    }

    /// Moves the record out (to a stream that will finish it), leaving one that records nothing.
    pub(crate) fn take(&mut self) -> CallRecord {
        std::mem::replace(self, CallRecord::off())
    }

    /// Finishes the call, answered with `status`: statistics, call log, capture. Later calls
    /// do nothing.
    pub(crate) fn finish(&mut self, status: u16, report: CallReport, response: Response) {
        let Some((stats, captures)) = self.sinks.take() else {
            return;
        };
        let latency = self.started.elapsed();
        let response = match response {
            Response::Whole(body) => json!({
                "status": status,
                "body": body_value(body),
            }),
            Response::Stream {
                text,
                raw,
                text_total,
                raw_total,
            } => {
                let mut stream = json!({
                    "status": status,
                    "text": text,
                    "events": String::from_utf8_lossy(raw),
                });
                if text_total > text.len() || raw_total > raw.len() {
                    stream["truncated"] = json!({
                        "text": {"kept_bytes": text.len(), "total_bytes": text_total},
                        "events": {"kept_bytes": raw.len(), "total_bytes": raw_total},
                    });
                }
                stream
            }
        };
        let capture = captures.write(&json!({
            "time": self.time,
            "outcome": report.outcome,
            "latency_ms": latency.as_millis() as u64,
            "request": self.request,
            "attempts": self.attempts,
            "response": response,
        }));
        stats.record(CallSummary {
            time: self.time.clone(),
            route: Some(self.route.to_string()),
            model: report.model,
            key: report.key,
            status,
            outcome: report.outcome,
            stream: self.stream,
            attempts: report.attempts,
            prompt_tokens: report.usage.0,
            completion_tokens: report.usage.1,
            latency_ms: latency.as_millis() as u64,
            ttfb_ms: self.first_byte.map(|d| d.as_millis() as u64),
            error: report.error.map(|e| captures.redact(&e)),
            capture,
        });
    }
}

/// Whether a request header carries a credential (the client's `Authorization`, Anthropic's
/// `x-api-key`, and the like): a record shows it masked.
fn is_credential(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    [
        "authorization",
        "api-key",
        "token",
        "secret",
        "cookie",
        "password",
    ]
    .iter()
    .any(|word| name.contains(word))
}

/// How a call that ended in `error` counts: a wait that ran out is a timeout, anything else
/// a failure.
pub(crate) fn outcome_of(error: &ApiError) -> Outcome {
    match error {
        ApiError::QueueTimeout { .. } | ApiError::UpstreamTimeout { .. } => Outcome::Timeout,
        e if e.status() == 504 => Outcome::Timeout,
        _ => Outcome::Failed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn waits_that_ran_out_count_as_timeouts() {
        let timeouts = [
            ApiError::QueueTimeout {
                waited: Duration::from_secs(1),
                limit: 1,
            },
            ApiError::UpstreamTimeout {
                phase: "waiting for the response headers",
                after: Duration::from_secs(1),
            },
            crate::api::error::from_upstream(504, b"gateway timeout", None),
        ];
        for error in &timeouts {
            assert_eq!(outcome_of(error), Outcome::Timeout, "{error:?}");
        }
        let failed = crate::api::error::from_upstream(429, b"busy", None);
        assert_eq!(outcome_of(&failed), Outcome::Failed);
        assert_eq!(CallReport::refused(&ApiError::NoApiKey).attempts, 0);
    }
}
