//! Counting a text's tokens with tiktoken-rs's o200k_base, at a cost that stays linear and
//! small whatever the text. This is the only file that uses tiktoken-rs.
//!
//! tiktoken's pre-tokenizer and BPE are fast on ordinary text but not on pathological input:
//! one letter repeated millions of times is one piece for BPE (8 MB took 4.8 CPU-s, 30 MB took
//! 22 s and 2.9 GB), and a long run of spaces makes its regex backtrack. So a text is counted
//! in segments of at most [`SEGMENT`] bytes, cut before a space where there is one (so that
//! ordinary text splits where tiktoken would split it anyway, and the count is unchanged).
//! A prompt counts exactly up to [`EXACT_BUDGET`] bytes; beyond that, evenly spread segments
//! are counted and the rest estimated from them (the count is an estimate already: other
//! models' tokenizers differ). Counting stops once no model could hold the prompt. At most
//! [`LARGE_AT_ONCE`] large texts are counted at once, so a burst of huge prompts cannot take
//! every core.

use std::sync::{Condvar, Mutex};

use crate::util::sync::lock;

/// The most of a text counted in one piece.
const SEGMENT: usize = 1024;
/// How far back from a segment's end a space is looked for.
const CUT_WINDOW: usize = 128;
/// The bytes of a prompt counted exactly; beyond them, a sample is counted.
pub(crate) const EXACT_BUDGET: usize = 512 * 1024;
/// The least of a long text sampled when the exact budget is spent.
const MIN_SAMPLE: usize = 64 * 1024;
/// Texts longer than this wait for one of [`LARGE_AT_ONCE`] turns.
const LARGE: usize = 64 * 1024;
const LARGE_AT_ONCE: usize = 2;

/// Turns for counting large texts (the tokenizer itself is shared by the whole process).
static LARGE_TURNS: Turns = Turns {
    taken: Mutex::new(0),
    freed: Condvar::new(),
};

struct Turns {
    /// Large counts running now.
    taken: Mutex<usize>,
    freed: Condvar,
}

struct Turn;

impl Turn {
    fn take() -> Turn {
        let mut taken = lock(&LARGE_TURNS.taken);
        while *taken >= LARGE_AT_ONCE {
            taken = LARGE_TURNS
                .freed
                .wait(taken)
                .unwrap_or_else(|e| e.into_inner());
        }
        *taken += 1;
        Turn
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        *lock(&LARGE_TURNS.taken) -= 1;
        LARGE_TURNS.freed.notify_one();
    }
}

/// Builds the shared tokenizer now, on a thread of its own, so no request waits for it.
pub(crate) fn warm_up() {
    let _ = std::thread::Builder::new()
        .name("tokenizer-warm-up".into())
        .spawn(|| count_segment("warm up"));
}

fn count_segment(text: &str) -> u64 {
    tiktoken_rs::o200k_base_singleton()
        .encode_ordinary(text)
        .len() as u64
}

/// Where a text's segments end.
fn segment_ends(text: &str) -> Vec<usize> {
    let bytes = text.as_bytes();
    let mut ends = Vec::with_capacity(text.len() / SEGMENT + 1);
    let mut start = 0;
    while start < text.len() {
        let mut end = (start + SEGMENT).min(text.len());
        if end < text.len() {
            let window = end.saturating_sub(CUT_WINDOW).max(start + 1);
            // Cut before a space that follows something else: " word" stays whole.
            if let Some(p) = (window..end)
                .rev()
                .find(|&p| bytes[p] == b' ' && bytes[p - 1] != b' ')
            {
                end = p;
            }
            while !text.is_char_boundary(end) {
                end -= 1;
            }
        }
        ends.push(end);
        start = end;
    }
    ends
}

/// The tokens of one text, counted exactly (in segments).
pub fn count_text(text: &str) -> u64 {
    let _turn = (text.len() > LARGE).then(Turn::take);
    let mut start = 0;
    segment_ends(text)
        .into_iter()
        .map(|end| {
            let n = count_segment(&text[start..end]);
            start = end;
            n
        })
        .sum()
}

/// Counts the texts of one prompt within an exact budget, and stops adding once the total
/// passes `cap` (the largest context any model has: past it, the exact figure changes
/// nothing).
pub(crate) struct Counter {
    exact_left: usize,
    cap: u64,
    total: u64,
}

impl Counter {
    pub(crate) fn new(cap: u64) -> Counter {
        Counter {
            exact_left: EXACT_BUDGET,
            cap,
            total: 0,
        }
    }

    /// The tokens of `text` (0 once the prompt has passed the cap).
    pub(crate) fn count(&mut self, text: &str) -> u64 {
        if self.total > self.cap || text.is_empty() {
            return 0;
        }
        let _turn = (text.len() > LARGE).then(Turn::take);
        let ends = segment_ends(text);
        let n = if text.len() <= self.exact_left {
            self.exact_left -= text.len();
            self.count_all(text, &ends)
        } else {
            let budget = self.exact_left.max(MIN_SAMPLE);
            self.exact_left = 0;
            sample(text, &ends, budget)
        };
        self.total += n;
        n
    }

    /// Every segment, stopping early once the prompt passes the cap.
    fn count_all(&self, text: &str, ends: &[usize]) -> u64 {
        let mut start = 0;
        let mut n = 0;
        for &end in ends {
            n += count_segment(&text[start..end]);
            start = end;
            if self.total + n > self.cap {
                break;
            }
        }
        n
    }
}

/// An estimate from about `budget` bytes of evenly spread segments, scaled to the whole text.
fn sample(text: &str, ends: &[usize], budget: usize) -> u64 {
    let step = ends.len().div_ceil((budget / SEGMENT).max(1)).max(1);
    let (mut counted, mut bytes) = (0u64, 0usize);
    for i in (0..ends.len()).step_by(step) {
        let start = if i == 0 { 0 } else { ends[i - 1] };
        counted += count_segment(&text[start..ends[i]]);
        bytes += ends[i] - start;
    }
    if bytes == 0 {
        return 0;
    }
    (counted as f64 * text.len() as f64 / bytes as f64).round() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_cut_before_spaces_and_keep_ordinary_counts() {
        let text = "The quick brown fox jumps over the lazy dog. ".repeat(400);
        let whole = tiktoken_rs::o200k_base_singleton()
            .encode_ordinary(&text)
            .len() as u64;
        assert_eq!(count_text(&text), whole);
        let ends = segment_ends(&text);
        assert!(ends.len() > 10);
        assert_eq!(*ends.last().unwrap(), text.len());
        for w in ends.windows(2) {
            assert!(w[1] - w[0] <= SEGMENT);
        }
        // Multibyte text is cut at character boundaries.
        let cjk = "漢字かな".repeat(2000);
        assert!(count_text(&cjk) > 1000);
    }

    #[test]
    fn a_sample_estimates_a_long_text_closely() {
        let text = "Counting tokens of a long and varied text, 42 times over. ".repeat(30_000);
        let exact = count_text(&text);
        let mut counter = Counter::new(u64::MAX);
        let estimate = counter.count(&text);
        let error = (estimate as f64 - exact as f64).abs() / exact as f64;
        assert!(error < 0.02, "{estimate} against {exact}");
    }

    #[test]
    fn counting_stops_past_the_cap() {
        let mut counter = Counter::new(1000);
        let text = "word ".repeat(10_000);
        let n = counter.count(&text);
        assert!(n > 1000 && n < 2500, "{n}");
        assert_eq!(counter.count("more words"), 0);
    }

    /// Issue 12: one letter repeated, or a run of spaces, made the count quadratic (minutes
    /// for these in a test build). The benchmark measures the cost; here they must finish
    /// with a plausible count.
    #[test]
    fn pathological_prompts_are_counted() {
        for text in [
            "a".repeat(8 << 20),
            " ".repeat(8 << 20),
            "7".repeat(8 << 20),
        ] {
            let n = Counter::new(u64::MAX).count(&text);
            assert!(n > 1000 && n < 8 << 20, "{n}");
        }
    }
}
