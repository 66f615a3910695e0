//! The record of one chat call in debug mode: what the client sent, each upstream attempt,
//! and how the call ended. Finishing it counts the call in the daily statistics, appends it to
//! the call log and writes its capture.
//!
//! A record is finished exactly once: explicitly, before the last bytes of the answer leave
//! (so that a crash right after cannot lose a call the client fully received), or, for a
//! stream the client left, when it is dropped. With debug mode off, every method does nothing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::util::time_format::local_timestamp;
use serde_json::{Value, json};

use crate::api::message::HttpRequest;
use crate::journal::capture::{Captures, body_value};
use crate::journal::stats::{CallSummary, Outcome, Stats};

pub struct CallRecord {
    /// Where the record goes; `None` when debug mode is off or the record is finished.
    sinks: Option<(Arc<Stats>, Arc<Captures>)>,
    started: Instant,
    time: String,
    request: Value,
    attempts: Vec<Value>,
    stream: bool,
    first_byte: Option<Duration>,
}

/// What the client got, for the capture.
pub enum Response<'a> {
    /// A whole body (an answer or an error).
    Whole(&'a [u8]),
    /// A stream: the answer text put back together, and the raw events.
    Stream { text: &'a str, raw: &'a [u8] },
}

/// The end of a call.
pub struct Ending<'a> {
    pub status: u16,
    pub outcome: Outcome,
    pub model: Option<String>,
    pub key: Option<String>,
    pub attempts: u32,
    pub usage: (u64, u64),
    pub error: Option<String>,
    pub response: Response<'a>,
}

impl CallRecord {
    /// A record that records nothing.
    pub fn off() -> CallRecord {
        CallRecord {
            sinks: None,
            started: Instant::now(),
            time: String::new(),
            request: Value::Null,
            attempts: Vec::new(),
            stream: false,
            first_byte: None,
        }
    }

    /// Starts recording a call when `sinks` is given (debug mode on).
    pub fn start(sinks: Option<(Arc<Stats>, Arc<Captures>)>, req: &HttpRequest) -> CallRecord {
        let Some(sinks) = sinks else {
            return CallRecord::off();
        };
        let headers: serde_json::Map<String, Value> = req
            .headers
            .iter()
            .map(|(k, v)| {
                let shown = if k.eq_ignore_ascii_case("authorization") {
                    "*** (masked)".to_string()
                } else {
                    v.clone()
                };
                (k.clone(), Value::String(shown))
            })
            .collect();
        CallRecord {
            sinks: Some(sinks),
            started: Instant::now(),
            time: local_timestamp(),
            request: json!({"method": req.method, "path": req.path, "headers": headers}),
            attempts: Vec::new(),
            stream: false,
            first_byte: None,
        }
    }

    pub fn is_on(&self) -> bool {
        self.sinks.is_some()
    }

    /// Keeps the request body as received (parsed when it is JSON).
    pub fn request_body(&mut self, body: &[u8]) {
        if self.is_on() {
            self.request["body"] = body_value(body);
        }
    }

    pub fn set_stream(&mut self, stream: bool) {
        self.stream = stream;
    }

    /// Notes one upstream attempt: what was sent and what came back.
    pub fn attempt(
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
    pub fn first_byte(&mut self) {
        self.first_byte.get_or_insert(self.started.elapsed());
    }

    /// Moves the record out (to a stream that will finish it), leaving one that records nothing.
    pub fn take(&mut self) -> CallRecord {
        std::mem::replace(self, CallRecord::off())
    }

    /// Finishes the call: statistics, call log, capture. Later calls do nothing.
    pub fn finish(&mut self, end: Ending) {
        let Some((stats, captures)) = self.sinks.take() else {
            return;
        };
        let latency = self.started.elapsed();
        let response = match end.response {
            Response::Whole(body) => json!({
                "status": end.status,
                "body": body_value(body),
            }),
            Response::Stream { text, raw } => json!({
                "status": end.status,
                "text": text,
                "events": String::from_utf8_lossy(raw),
            }),
        };
        let capture = captures.write(&json!({
            "time": self.time,
            "outcome": end.outcome,
            "latency_ms": latency.as_millis() as u64,
            "request": self.request,
            "attempts": self.attempts,
            "response": response,
        }));
        stats.record(CallSummary {
            time: self.time.clone(),
            model: end.model,
            key: end.key,
            status: end.status,
            outcome: end.outcome,
            stream: self.stream,
            attempts: end.attempts,
            prompt_tokens: end.usage.0,
            completion_tokens: end.usage.1,
            latency_ms: latency.as_millis() as u64,
            ttfb_ms: self.first_byte.map(|d| d.as_millis() as u64),
            error: end.error.map(|e| captures.redact(&e)),
            capture,
        });
    }
}

/// `(prompt, completion)` tokens from an answer's `usage`.
pub fn usage_of(value: &Value) -> (u64, u64) {
    let usage = &value["usage"];
    (
        usage["prompt_tokens"].as_u64().unwrap_or(0),
        usage["completion_tokens"].as_u64().unwrap_or(0),
    )
}

/// How a reply with this status and error code counts.
pub fn outcome_of(status: u16, code: Option<&str>) -> Outcome {
    match (status, code) {
        (200..=299, _) => Outcome::Success,
        (504, _) | (_, Some("queue_timeout" | "upstream_timeout")) => Outcome::Timeout,
        _ => Outcome::Failed,
    }
}
