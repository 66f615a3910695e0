//! Prompt token counting, in this process with the library's `PromptSize`: the cheap byte
//! bound against the full o200k_base count, for prompts of 1k to 128k tokens, and for the
//! worst cases up to the default `MAX_BODY_BYTES` (32 MiB).

use std::time::{Duration, Instant};

use openrouter_proxy::{PromptSize, count_text};

use crate::target::MODEL;

#[rustfmt::skip]
pub const WORDS: &[&str] = &[
    "the", "of", "and", "to", "in", "a", "is", "that", "for", "it", "as", "was", "with", "be",
    "by", "on", "not", "he", "this", "are", "or", "his", "from", "at", "which", "but", "have",
    "an", "had", "they", "you", "were", "their", "one", "all", "we", "can", "her", "has",
    "there", "been", "if", "more", "when", "will", "would", "who", "so", "no", "request",
    "proxy", "model", "stream", "latency", "function", "returns", "value", "configuration",
    "server", "client", "memory", "thread", "benchmark", "tokenizer", "context", "answer",
    "rust", "python", "error", "timeout", "connection", "header", "body", "event", "during",
    "between", "through", "because", "however", "system", "program", "question", "people",
    "important", "example", "different", "following", "government", "information", "2024",
    "3.14", "x86_64", "HTTP/1.1", "user_id", "fn", "let", "mut", "{", "}", "(", ")", ";",
];

/// Deterministic prose-like text of `words` words.
pub fn text(words: usize, seed: u64) -> String {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut out = String::with_capacity(words * 7);
    for i in 0..words {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let w = WORDS[(state >> 33) as usize % WORDS.len()];
        out.push_str(w);
        out.push(if i % 13 == 12 { '.' } else { ' ' });
        if i % 13 == 12 {
            out.push(' ');
        }
    }
    out
}

/// A chat request of about `tokens` prompt tokens: a system prompt, then user and assistant
/// turns of about 2,000 tokens each.
pub fn prompt_body(tokens: usize, words_per_token: f64) -> serde_json::Value {
    let mut messages = vec![
        serde_json::json!({"role": "system", "content": "You are a careful assistant. Answer from the documents given."}),
    ];
    let words = (tokens as f64 * words_per_token) as usize;
    let per_turn = ((2000.0 * words_per_token) as usize).min(words.max(1));
    let mut left = words;
    let mut i = 0;
    while left > 0 {
        let n = per_turn.min(left);
        let role = if i % 2 == 0 { "user" } else { "assistant" };
        messages.push(serde_json::json!({"role": role, "content": text(n, i as u64)}));
        left -= n;
        i += 1;
    }
    serde_json::json!({"model": MODEL, "messages": messages})
}

pub fn median_time(runs: usize, mut f: impl FnMut() -> u64) -> (Duration, u64) {
    let mut times = Vec::with_capacity(runs);
    let mut last = 0;
    for _ in 0..runs {
        let t0 = Instant::now();
        last = std::hint::black_box(f());
        times.push(t0.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    (Duration::from_secs_f64(times[times.len() / 2]), last)
}

/// The figures of one prompt size.
pub struct PromptRow {
    pub label: &'static str,
    pub body_bytes: usize,
    /// Median times: parsing the request's JSON, the byte bound, the full count.
    pub parse: Duration,
    pub cheap: Duration,
    pub full: Duration,
    /// Tokens the full count found, and the byte bound for the same prompt.
    pub counted: u64,
    pub bound: u64,
}

/// Token counting's figures: how long building the tokenizer took, and one row per size.
pub struct TokenCounting {
    pub build: Duration,
    pub rows: Vec<PromptRow>,
}

/// Times the byte bound and the full count on prompts of about 1k, 32k and 128k tokens
/// (medians of 301, 31 and 9 runs; a quarter of that with `quick`) and on the worst cases
/// (3 runs).
pub fn token_counting(quick: bool) -> TokenCounting {
    let t0 = Instant::now();
    std::hint::black_box(count_text("warm up"));
    let build = t0.elapsed();
    // Words per token for this text, measured on a sample.
    let sample = text(20_000, 99);
    let words_per_token = 20_000.0 / count_text(&sample) as f64;
    let mut rows = Vec::new();
    // Prompts of ordinary text, then the worst cases issue 12 found (one letter repeated made
    // tiktoken's BPE quadratic: 8 MB took 4.8 CPU-s), up to the default MAX_BODY_BYTES.
    let one_piece = |label: &'static str, content: String| {
        (
            label,
            serde_json::json!({"model": MODEL, "messages": [{"role": "user", "content": content}]}),
        )
    };
    let mut prompts: Vec<(&'static str, serde_json::Value, usize)> = [
        ("~1k tokens", 1_000, 301),
        ("~32k tokens", 32_000, 31),
        ("~128k tokens", 128_000, 9),
    ]
    .into_iter()
    .map(|(label, tokens, runs)| (label, prompt_body(tokens, words_per_token), runs))
    .collect();
    for (label, content) in [
        ("8 MiB of one letter", "a".repeat(8 << 20)),
        ("8 MiB of spaces", " ".repeat(8 << 20)),
        ("32 MiB of text", text((32 << 20) / 6, 7)),
    ] {
        let (label, body) = one_piece(label, content);
        prompts.push((label, body, 3));
    }
    for (label, body, runs) in prompts {
        let runs = if quick { runs / 4 + 1 } else { runs };
        let bytes = serde_json::to_vec(&body).expect("json");
        let (parse, _) = median_time(runs, || {
            serde_json::from_slice::<serde_json::Value>(&bytes)
                .map_or(0, |v| v.as_object().map_or(0, |o| o.len() as u64))
        });
        let (cheap, _) = median_time(runs, || {
            let size = PromptSize::new(&body, true, 100);
            // room() with plenty of context answers from the bound alone.
            size.room(u64::MAX / 4, 1)
        });
        let bound = {
            // The bound `room` used: context minus what it left.
            let size = PromptSize::new(&body, true, 0);
            let big = 1u64 << 40;
            let left = size.room(big, 1);
            let p11 = big - left; // prompt + prompt/10
            p11 * 10 / 11
        };
        let (full, counted) = median_time(runs, || PromptSize::new(&body, true, 100).tokens());
        rows.push(PromptRow {
            label,
            body_bytes: bytes.len(),
            parse,
            cheap,
            full,
            counted,
            bound,
        });
    }
    TokenCounting { build, rows }
}
