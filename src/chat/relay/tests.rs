//! The relay end to end over in-memory bodies: what the client gets, and what debug mode
//! records of it.

use std::io::{self, Read};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::*;
use crate::chat::relay::chat_stream::ChatStream;

/// The observer of chat completions streams.
fn chat() -> Box<dyn StreamObserver> {
    Box::new(ChatStream::default())
}
use crate::api::message::HttpRequest;
use crate::autopilot::limiter::Limiter;
use crate::chat::relay::recorder::MAX_CAPTURED_BYTES;
use crate::journal::capture::Captures;
use crate::journal::stats::{CallSummary, Outcome, Stats};

fn relay_all(input: &[u8]) -> String {
    let limiter = Limiter::new(1, 1);
    let permit = limiter.acquire(Duration::ZERO).unwrap();
    let mut relay = SseRelay::from_events(EventReader::new(input), Box::new(ChatStream::default()))
        .holding(permit);
    let mut out = Vec::new();
    while relay.next_piece(&mut out) {}
    String::from_utf8(out).unwrap()
}

fn data_events(text: &str) -> Vec<Value> {
    text.replace("\r\n", "\n")
        .split("\n\n")
        .filter_map(|e| e.trim().strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect()
}

/// A body that sends `head`, then fails with `error`.
struct FailsAfter {
    head: io::Cursor<Vec<u8>>,
    error: Option<io::Error>,
}

impl Read for FailsAfter {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.head.read(buf)? {
            0 => Err(self
                .error
                .take()
                .unwrap_or_else(|| io::ErrorKind::Other.into())),
            n => Ok(n),
        }
    }
}

fn fails_after(head: &str, kind: io::ErrorKind, words: &str) -> FailsAfter {
    FailsAfter {
        head: io::Cursor::new(head.as_bytes().to_vec()),
        error: Some(io::Error::new(kind, words)),
    }
}

/// Debug mode's sinks in a folder of their own.
fn sinks(name: &str) -> (Arc<Stats>, Arc<Captures>) {
    let dir = std::env::temp_dir().join(format!("orp-relay-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let stats = Arc::new(Stats::new(&dir));
    let captures = Arc::new(Captures::new(
        dir.join("captures"),
        100,
        7,
        1 << 30,
        Arc::default(),
    ));
    (stats, captures)
}

fn record(sinks: &(Arc<Stats>, Arc<Captures>)) -> CallRecord {
    let mut body = io::empty();
    let req = HttpRequest {
        method: "POST".into(),
        path: "/v1/chat/completions".into(),
        query: String::new(),
        headers: Vec::new(),
        body: &mut body,
        peer: ([127, 0, 0, 1], 1).into(),
    };
    CallRecord::start(
        Some((Arc::clone(&sinks.0), Arc::clone(&sinks.1))),
        &req,
        "chat",
    )
}

/// The call the sinks recorded, and its capture.
fn recorded(sinks: &(Arc<Stats>, Arc<Captures>)) -> (CallSummary, Value) {
    let calls = sinks.0.recent();
    assert_eq!(calls.len(), 1, "one call, recorded once");
    let call = calls[0].clone();
    let bytes = sinks.1.read(call.capture.as_deref().unwrap()).unwrap();
    (call, serde_json::from_slice(&bytes).unwrap())
}

/// Starts a relay over `input` the way dispatch does: first event read, then the record.
fn recorded_relay<'a>(input: &'a [u8], sinks: &(Arc<Stats>, Arc<Captures>)) -> SseRelay<&'a [u8]> {
    SseRelay::start(input, chat())
        .unwrap()
        .recording(record(sinks), "sk-or-v1-abc…xyz".into(), 1)
}

#[test]
fn a_real_stream_passes_through_byte_for_byte() {
    let fixture = include_str!(
        "../../../tests/fixtures/openrouter/sse/lfm-2.5-1.2b-instruct_free_liquid_2026-01.sse"
    );
    let out = relay_all(fixture.as_bytes());
    assert!(out.ends_with("data: [DONE]\n\n"));
    // Everything before [DONE] is the upstream's bytes, blank lines between events aside.
    let squeeze = |s: &str| s.replace("\n\n\n", "\n\n");
    let upstream = fixture.trim_end().strip_suffix("data: [DONE]").unwrap();
    assert_eq!(squeeze(&out), squeeze(upstream) + "data: [DONE]\n\n");
    assert!(out.contains(": OPENROUTER PROCESSING"));
}

#[test]
fn reasoning_stays_reasoning_when_content_follows() {
    let fixture = include_str!(
        "../../../tests/fixtures/openrouter/sse/ling-3.0-flash_free_novita_reasoning_2026-07.sse"
    );
    let out = relay_all(fixture.as_bytes());
    let content: String = data_events(&out)
        .iter()
        .filter_map(|e| {
            e["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_string)
        })
        .collect();
    assert!(content.contains("**x = 7**"), "{content}");
    assert!(
        !content.contains("user is asking"),
        "reasoning leaked into content"
    );
}

#[test]
fn reasoning_only_streams_get_one_content_event_before_done() {
    let input = concat!(
        "data: {\"id\":\"g1\",\"created\":7,\"model\":\"m:free\",\"choices\":[{\"delta\":{\"content\":\"\",\"reasoning\":\"Think\"}}]}\n\n",
        ": OPENROUTER PROCESSING\n\n",
        "data: {\"id\":\"g1\",\"created\":7,\"model\":\"m:free\",\"choices\":[{\"delta\":{\"content\":null,\"reasoning\":\"ing.\"},\"finish_reason\":\"stop\"}]}\n\n",
        "data: [DONE]\n\n"
    );
    let out = relay_all(input.as_bytes());
    let events = data_events(&out);
    let last = events.last().unwrap();
    assert_eq!(last["choices"][0]["delta"]["content"], "Thinking.");
    assert_eq!(last["id"], "g1");
    assert_eq!(last["model"], "m:free");
    assert!(out.ends_with("data: [DONE]\n\n"));
}

#[test]
fn an_early_close_ends_with_an_error_event_and_done() {
    let input = "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n";
    let out = relay_all(input.as_bytes());
    let events = data_events(&out);
    assert_eq!(events.len(), 2);
    assert_eq!(events[1]["error"]["code"], "stream_interrupted");
    assert_eq!(events[1]["choices"][0]["finish_reason"], "error");
    assert!(out.ends_with("data: [DONE]\n\n"));
}

#[test]
fn an_upstream_error_event_is_passed_on_not_doubled() {
    let input = concat!(
        "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n",
        "data: {\"error\":{\"message\":\"provider died\",\"code\":502},\"choices\":[{\"delta\":{},\"finish_reason\":\"error\"}]}\n\n",
    );
    let out = relay_all(input.as_bytes());
    let events = data_events(&out);
    assert_eq!(events.len(), 2);
    assert_eq!(events[1]["error"]["message"], "provider died");
    assert!(out.ends_with("data: [DONE]\n\n"));
}

#[test]
fn start_keeps_the_first_event_or_reports_an_early_failure() {
    let input = ": OPENROUTER PROCESSING\n\ndata: {\"model\":\"m:free\",\"choices\":[{\"delta\":{\"content\":\"Hi\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n";
    let mut relay = SseRelay::start(input.as_bytes(), chat()).unwrap();
    assert_eq!(relay.model(), Some("m:free"));
    let mut out = Vec::new();
    while relay.next_piece(&mut out) {}
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.starts_with(": OPENROUTER PROCESSING\n\ndata: {"),
        "{text}"
    );
    assert!(text.ends_with("data: [DONE]\n\n"));

    let early = |input: &[u8]| SseRelay::start(input, chat()).err().unwrap();
    assert!(matches!(
        early(b": OPENROUTER PROCESSING\n\n"),
        EarlyFailure::NoEvent(StreamEnd::ClosedEarly)
    ));
    assert!(matches!(
        early(b"data: [DONE]\n\n"),
        EarlyFailure::NoEvent(StreamEnd::ClosedEarly)
    ));
    let err = "data: {\"error\":{\"message\":\"Provider returned error\",\"code\":429}}\n\n";
    let EarlyFailure::ErrorEvent(error) = early(err.as_bytes()) else {
        panic!("an error event is the upstream's error");
    };
    assert_eq!(error["message"], "Provider returned error");
    assert_eq!(error["code"], 429);
    let silent = fails_after(": OPENROUTER PROCESSING\n\n", io::ErrorKind::TimedOut, "x");
    let failure = SseRelay::start(silent, chat()).err().unwrap();
    // How it ended goes with it: a silence is a timeout, not a bad answer.
    assert!(matches!(failure, EarlyFailure::NoEvent(StreamEnd::Timeout)));
}

#[test]
fn crlf_and_missing_space_after_data_are_understood() {
    let input = "data:{\"choices\":[{\"delta\":{\"reasoning\":\"R\"},\"finish_reason\":\"stop\"}]}\r\n\r\ndata: [DONE]\r\n\r\n";
    let out = relay_all(input.as_bytes());
    let events = data_events(&out);
    assert_eq!(
        events.last().unwrap()["choices"][0]["delta"]["content"],
        "R"
    );
}

#[test]
fn a_timeout_is_known_by_its_kind_not_its_words() {
    let first = "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n";
    let sinks = sinks("timeout");
    let body = fails_after(first, io::ErrorKind::TimedOut, "no words about silence");
    let mut relay = SseRelay::start(body, chat())
        .unwrap()
        .recording(record(&sinks), "k".into(), 1);
    let mut out = Vec::new();
    while relay.next_piece(&mut out) {}
    let events = data_events(&String::from_utf8(out).unwrap());
    let message = events[1]["error"]["message"].as_str().unwrap();
    assert!(message.contains("went silent"), "{message}");
    drop(relay);
    let (call, _) = recorded(&sinks);
    assert_eq!(call.outcome, Outcome::Timeout);

    let sinks = self::sinks("reset");
    let body = fails_after(first, io::ErrorKind::ConnectionReset, "reset by peer");
    let mut relay = SseRelay::start(body, chat())
        .unwrap()
        .recording(record(&sinks), "k".into(), 1);
    let mut out = Vec::new();
    while relay.next_piece(&mut out) {}
    drop(relay);
    let (call, _) = recorded(&sinks);
    assert_eq!(call.outcome, Outcome::Failed);
    assert!(
        call.error
            .unwrap()
            .contains("failed mid-stream: reset by peer")
    );
}

#[test]
fn issue_12_an_endless_line_ends_the_stream_with_an_error_event() {
    let first = "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\ndata: ";
    let endless = first.as_bytes().chain(io::repeat(b'a').take(64 << 20));
    let mut relay = SseRelay::start(endless, chat()).unwrap();
    let mut out = Vec::new();
    while relay.next_piece(&mut out) {}
    assert!(out.len() < 1 << 20, "the long line was passed on");
    let out = String::from_utf8(out).unwrap();
    let events = data_events(&out);
    assert_eq!(events.len(), 2, "{out}");
    assert_eq!(events[1]["error"]["code"], "stream_interrupted");
    assert!(
        events[1]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("16 MiB")
    );
    assert!(out.ends_with("data: [DONE]\n\n"));
}

#[test]
fn issue_12_a_stream_capture_holds_the_text_of_every_event_the_first_included() {
    let input = concat!(
        ": OPENROUTER PROCESSING\n\n",
        "data: {\"model\":\"m:free\",\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n",
        "data: {\"choices\":[{\"delta\":{\"content\":\"lo\"},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":2}}\n\n",
        "data: [DONE]\n\n",
    );
    let sinks = sinks("first-text");
    let mut relay = recorded_relay(input.as_bytes(), &sinks);
    let mut out = Vec::new();
    while relay.next_piece(&mut out) {}
    Box::new(relay).finish();
    let (call, capture) = recorded(&sinks);
    assert_eq!(capture["response"]["text"], "Hello");
    assert_eq!(
        capture["response"]["events"],
        String::from_utf8(out).unwrap()
    );
    assert_eq!(call.outcome, Outcome::Success);
    assert_eq!(call.model.as_deref(), Some("m:free"));
    assert_eq!((call.prompt_tokens, call.completion_tokens), (4, 2));
}

#[test]
fn issue_12_a_reasoning_only_capture_holds_the_reasoning_the_client_got_as_content() {
    let input = concat!(
        "data: {\"choices\":[{\"delta\":{\"content\":\"\",\"reasoning\":\"Think\"}}]}\n\n",
        "data: {\"choices\":[{\"delta\":{\"reasoning\":\"ing.\"},\"finish_reason\":\"stop\"}]}\n\n",
        "data: [DONE]\n\n",
    );
    let sinks = sinks("reasoning");
    let mut relay = recorded_relay(input.as_bytes(), &sinks);
    let mut out = Vec::new();
    while relay.next_piece(&mut out) {}
    drop(relay);
    let (_, capture) = recorded(&sinks);
    assert_eq!(capture["response"]["text"], "Thinking.");
    assert_eq!(
        capture["response"]["events"],
        String::from_utf8(out).unwrap()
    );
}

#[test]
fn issue_12_a_client_leaving_mid_stream_leaves_exactly_what_it_got() {
    let input = concat!(
        "data: {\"choices\":[{\"delta\":{\"content\":\"one \"}}]}\n\n",
        ": OPENROUTER PROCESSING\n\n",
        "data: {\"choices\":[{\"delta\":{\"content\":\"two \"}}]}\n\n",
        "data: {\"choices\":[{\"delta\":{\"content\":\"three\"}}]}\n\n",
    );
    let sinks = sinks("left");
    let mut relay = recorded_relay(input.as_bytes(), &sinks);
    // The server sends three pieces; the write of the third fails and it drops the stream.
    let mut received = Vec::new();
    for _ in 0..2 {
        let mut piece = Vec::new();
        assert!(relay.next_piece(&mut piece));
        received.extend(piece);
    }
    assert!(relay.next_piece(&mut Vec::new()));
    drop(relay);
    let (call, capture) = recorded(&sinks);
    assert_eq!(call.outcome, Outcome::Failed);
    assert!(call.error.unwrap().contains("client went away"));
    assert_eq!(
        capture["response"]["events"],
        String::from_utf8(received).unwrap()
    );
    assert_eq!(capture["response"]["text"], "one ");
}

/// Issue 12: a capture kept 1 MiB of a stream without saying that it cut the rest.
#[test]
fn a_long_streams_capture_says_how_much_it_cut() {
    let sinks = sinks("long-stream");
    let piece = "x".repeat(64 * 1024);
    let mut input = String::new();
    for _ in 0..40 {
        input.push_str(&format!(
            "data: {{\"choices\":[{{\"delta\":{{\"content\":\"{piece}\"}}}}]}}\n\n"
        ));
    }
    input.push_str(
        "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n",
    );
    let mut relay = recorded_relay(input.as_bytes(), &sinks);
    let mut out = Vec::new();
    while relay.next_piece(&mut out) {}
    let (_, capture) = recorded(&sinks);
    let cut = &capture["response"]["truncated"];
    assert_eq!(cut["text"]["total_bytes"], 40 * 64 * 1024);
    assert_eq!(cut["text"]["kept_bytes"], MAX_CAPTURED_BYTES);
    assert!(
        cut["events"]["total_bytes"].as_u64().unwrap()
            > cut["events"]["kept_bytes"].as_u64().unwrap()
    );
}

#[test]
fn preambles_are_held_back_so_an_error_among_them_is_early() {
    use crate::chat::relay::messages_stream::MessagesStream;
    use crate::chat::relay::responses_stream::ResponsesStream;
    let messages = concat!(
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"model\":\"m\"}}\n\n",
        "event: ping\ndata: {\"type\":\"ping\"}\n\n",
        "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n",
    );
    let failure = SseRelay::start(messages.as_bytes(), Box::new(MessagesStream::default()));
    assert!(matches!(failure, Err(EarlyFailure::ErrorEvent(e)) if e["type"] == "overloaded_error"));
    let responses = "data: {\"type\":\"response.created\",\"response\":{\"id\":\"r\"}}\n\n";
    let failure = SseRelay::start(responses.as_bytes(), Box::new(ResponsesStream::default()));
    assert!(
        matches!(failure, Err(EarlyFailure::NoEvent(_))),
        "created, then the end"
    );
}

#[test]
fn read_ahead_stops_at_its_limit() {
    // Keep-alive comments past the limit: the relay stops holding them and starts the reply,
    // rather than hold an endless preamble.
    let comments = ": OPENROUTER PROCESSING\n\n".repeat(20_000);
    let input =
        format!("{comments}data: {{\"choices\":[{{\"delta\":{{\"content\":\"x\"}}}}]}}\n\n");
    let relay = SseRelay::start(input.as_bytes(), chat()).unwrap();
    let held: usize = relay.pending.iter().map(|(piece, _)| piece.len()).sum();
    assert!((256 << 10..(256 << 10) + 64).contains(&held), "{held}");
    assert_eq!(relay.state.progress(), Progress::Waiting);
}
