//! One way to the fake upstream (directly, through the proxy, nginx or LiteLLM) and the chat
//! requests sent along it, ready as bytes so that building them costs nothing while timed.

use std::net::SocketAddr;

use crate::client::chat_request;

/// A free model of the fixture catalog: the proxy uses it as given, with no choosing.
pub const MODEL: &str = "openai/gpt-oss-20b:free";
pub const FAKE_KEY: &str = "sk-or-v1-bench-0000000000000000000000000000000000000000000000000000";
/// The proxy's (and nginx's, and LiteLLM's) chat path.
pub const CHAT: &str = "/v1/chat/completions";
/// The fake's chat path: the direct way.
pub const DIRECT_CHAT: &str = "/api/v1/chat/completions";

/// One way to the fake upstream: directly, through the proxy, through LiteLLM.
#[derive(Clone)]
pub struct Target {
    pub label: String,
    pub addr: SocketAddr,
    pub whole: Vec<u8>,
    pub stream: Vec<u8>,
}

/// The size of the larger request body (one row of the one-at-a-time table): 4 KiB, more
/// than the proxy's first read of a request (so the body takes a read of its own).
pub const LARGE_BODY: usize = 4096;

/// A short conversation, as a chat client sends it; with `size` above its natural size the
/// question is preceded by plain ASCII filler (pasted notes) so that the body has `size` bytes.
pub fn chat_body(model: &str, stream: bool, size: usize) -> String {
    let question = "What is the capital of France, and what river runs through it?";
    let build = |content: &str| {
        serde_json::json!({
            "model": model,
            "stream": stream,
            "messages": [
                {"role": "system", "content": "You are a concise assistant. Answer in one sentence."},
                {"role": "user", "content": content}
            ],
            "temperature": 0.7
        })
        .to_string()
    };
    let short = build(question);
    if short.len() >= size {
        return short;
    }
    let filler: String = "notes on rivers and capitals "
        .chars()
        .cycle()
        .take(size - short.len())
        .collect();
    build(&format!("{filler}{question}"))
}

impl Target {
    pub fn new(label: &str, addr: SocketAddr, path: &str, model: &str) -> Target {
        Target::sized(label, addr, path, model, 0)
    }

    /// A target whose requests have bodies of `size` bytes (at least the natural size).
    pub fn sized(label: &str, addr: SocketAddr, path: &str, model: &str, size: usize) -> Target {
        Target {
            label: label.to_string(),
            addr,
            whole: chat_request(path, &chat_body(model, false, size)),
            stream: chat_request(path, &chat_body(model, true, size)),
        }
    }
}
