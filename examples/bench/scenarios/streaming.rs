//! Streams one at a time: the time to the first event, and each later event's delay between
//! the fake writing it and the client having it.

use std::time::{Duration, Instant};

use openrouter_proxy::demo::{FakeUpstream, Script};

use crate::client::Client;
use crate::scenarios::{Rng, wait_fake_idle};
use crate::stats::Samples;
use crate::target::Target;

/// Content events per benchmark stream; with the stop event and `[DONE]`, 20 events.
pub const STREAM_PARTS: usize = 18;

/// Streaming figures of one path.
#[derive(Default)]
pub struct StreamSamples {
    /// Request sent → first content event in hand.
    pub ttfb: Samples,
    /// Each later content event: written by the fake → in the client's hand.
    pub per_event: Samples,
    /// Request sent → the fake about to write the first event (the way there).
    pub to_upstream: Samples,
    /// The first event: written by the fake → in the client's hand (the way back).
    pub first_event: Samples,
    /// Streams whose events could not all be matched.
    pub incomplete: usize,
}

/// The marker of content event `i`: a word no other part of an event contains.
pub fn marker(i: usize) -> String {
    format!("zq{i:02}")
}

pub fn find_marker(event: &[u8]) -> Option<usize> {
    let pos = event.windows(2).position(|w| w == b"zq")?;
    let digits = event.get(pos + 2..pos + 4)?;
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// Streams one at a time, each round taking every path once in a random order. Each stream
/// has `parts` content events (then a stop event and `[DONE]`), `gap(stream)` apart; the fake
/// stamps each event just before writing it, the client stamps it when it has it whole.
pub fn streaming(
    fake: &FakeUpstream,
    targets: &[Target],
    warmup: usize,
    rounds: usize,
    parts: usize,
    gap: &dyn Fn(usize) -> Duration,
) -> Vec<StreamSamples> {
    let n = targets.len();
    let mut conns: Vec<Client> = targets.iter().map(|t| Client::new(t.addr)).collect();
    let mut out: Vec<StreamSamples> = (0..n).map(|_| StreamSamples::default()).collect();
    let texts: Vec<String> = (0..parts).map(|i| format!("{} ", marker(i))).collect();
    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut count = 0;
    for round in 0..warmup + rounds {
        for j in rng.order(n) {
            count += 1;
            wait_fake_idle(fake);
            fake.push(Script::stream_text(&texts, gap(count)));
            let mut arrivals: Vec<Option<Instant>> = vec![None; parts];
            let t0 = Instant::now();
            let result = conns[j].stream(&targets[j].stream, &mut |at, event| {
                if let Some(i) = find_marker(event).filter(|i| *i < parts) {
                    arrivals[i].get_or_insert(at);
                }
                true
            });
            let sent = fake.event_times();
            if round < warmup {
                continue;
            }
            match result {
                Ok(200) => {}
                Ok(status) => {
                    out[j].ttfb.error(format!(
                        "{status}: {}",
                        String::from_utf8_lossy(&conns[j].body)
                    ));
                    continue;
                }
                Err(e) => {
                    out[j].ttfb.error(e.to_string());
                    continue;
                }
            }
            match arrivals[0] {
                Some(first) => out[j].ttfb.push(first - t0),
                None => out[j].ttfb.error("no first event".into()),
            }
            if let (Some(first), Some(stamp)) = (arrivals[0], sent.first()) {
                out[j].to_upstream.push(stamp.saturating_duration_since(t0));
                out[j]
                    .first_event
                    .push(first.saturating_duration_since(*stamp));
            }
            if arrivals.iter().any(Option::is_none) || sent.len() < parts {
                out[j].incomplete += 1;
            }
            for (at, sent) in arrivals.iter().zip(&sent).skip(1) {
                if let Some(at) = at {
                    out[j].per_event.push(at.saturating_duration_since(*sent));
                }
            }
        }
    }
    out
}

/// Short streams (one content event, no gaps), for the time to the first event.
pub fn short_streams(
    fake: &FakeUpstream,
    targets: &[Target],
    warmup: usize,
    rounds: usize,
) -> Vec<StreamSamples> {
    streaming(fake, targets, warmup, rounds, 1, &|_| Duration::ZERO)
}

/// Streams of `STREAM_PARTS` content events 5 to 10 ms apart, for the delay of each event.
pub fn long_streams(
    fake: &FakeUpstream,
    targets: &[Target],
    warmup: usize,
    rounds: usize,
) -> Vec<StreamSamples> {
    streaming(fake, targets, warmup, rounds, STREAM_PARTS, &|k| {
        Duration::from_millis(5 + (k % 6) as u64)
    })
}
