//! The report: Markdown built from [`Results`], one section per kind of figure. Each table is
//! a list of rows made from data and rendered by [`Table`]; nothing here measures anything.

mod front_door;
mod latency;
mod resources;

use std::fmt::Write as _;
use std::time::Duration;

use crate::args::{Args, Sizes};
use crate::measure::Results;
use crate::stats::Samples;
use crate::system::machine;

/// A Markdown table: a header, each column aligned left or right, and rows of cells.
pub struct Table {
    columns: Vec<(&'static str, Align)>,
    rows: Vec<Vec<String>>,
}

#[derive(Clone, Copy)]
pub enum Align {
    Left,
    Right,
}

impl Table {
    pub fn new(columns: &[(&'static str, Align)]) -> Table {
        Table {
            columns: columns.to_vec(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        debug_assert_eq!(cells.len(), self.columns.len(), "a row of {cells:?}");
        self.rows.push(cells);
    }

    /// The table, after a blank line.
    pub fn render(&self, out: &mut String) {
        let names: Vec<&str> = self.columns.iter().map(|(name, _)| *name).collect();
        let rule: Vec<&str> = self
            .columns
            .iter()
            .map(|(_, align)| match align {
                Align::Left => "---",
                Align::Right => "---:",
            })
            .collect();
        let _ = writeln!(out, "\n| {} |\n|{}|", names.join(" | "), rule.join("|"));
        for row in &self.rows {
            let _ = writeln!(out, "| {} |", row.join(" | "));
        }
    }
}

/// The whole report.
pub fn write(args: &Args, sizes: &Sizes, results: &Results) -> String {
    let mut r = String::new();
    conditions(&mut r, args, results);
    front_door::section(&mut r, args, sizes, results);
    latency::non_streaming(&mut r, sizes, results);
    latency::streaming(&mut r, sizes, results);
    resources::memory(&mut r, args, sizes, results);
    resources::bursts(&mut r, sizes, results);
    resources::costs(&mut r, sizes, results);
    resources::token_counting(&mut r, results);
    resources::connection_burst(&mut r, results);
    errors(&mut r, results);
    r
}

/// When, where, and how busy the machine was.
fn conditions(r: &mut String, args: &Args, results: &Results) {
    let date = chrono::Local::now().format("%Y-%m-%d %H:%M %Z");
    let _ = writeln!(r, "## Results, {date}\n");
    let _ = writeln!(r, "Machine: {}.", machine());
    if let Ok(rustc) = std::env::var("BENCH_RUSTC") {
        let _ = writeln!(r, "Built with {rustc}, release profile.");
    }
    let _ = writeln!(
        r,
        "Other processes used {:.0}% of the machine's CPU during the run (load average {} \
         before it); the more, the noisier the figures.",
        results.others_share, results.load_before
    );
    if args.quick {
        let _ = writeln!(
            r,
            "\n**Quick run (`--quick`): too few samples for p99; for checking the script only.**"
        );
    }
}

/// The first error of every run that had any.
fn errors(r: &mut String, results: &Results) {
    let mut runs: Vec<(String, &Samples)> = Vec::new();
    for (label, s) in results.latency.one_labels.iter().zip(&results.latency.one) {
        runs.push((format!("{label}, one at a time"), s));
    }
    for (what, samples) in [
        ("clients", &results.latency.clients),
        ("paced", &results.latency.paced),
        ("burst", &results.latency.bursts),
    ] {
        for (label, s) in results.latency.labels.iter().zip(samples) {
            runs.push((format!("{label}, {what}"), s));
        }
    }
    let streams = results.latency.ttfb.iter().chain(&results.latency.streams);
    for (label, s) in results.latency.labels.iter().cycle().zip(streams) {
        runs.push((format!("{label}, stream"), &s.ttfb));
    }
    if let Some(p) = &results.peer {
        for s in p.seq.iter().chain(&p.conc) {
            runs.push(("LiteLLM pass".into(), s));
        }
        for t in p.ttfb.iter().chain(&p.streams) {
            runs.push(("LiteLLM pass stream".into(), &t.ttfb));
        }
    }
    let errors: Vec<String> = runs
        .iter()
        .filter_map(|(label, s)| {
            let first = s.first_error.as_ref()?;
            Some(format!("{label}: {} errors, first: {first}", s.errors))
        })
        .collect();
    if !errors.is_empty() {
        let _ = writeln!(r, "\nErrors:\n");
        for e in errors {
            let _ = writeln!(r, "- {}", e.chars().take(300).collect::<String>());
        }
    }
}

/// "met" or "**missed**", for the goals of issue 7.
pub fn check(met: bool) -> &'static str {
    if met { "met" } else { "**missed**" }
}

/// A short time, in µs below a millisecond.
pub fn fmt_dur(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 1000.0 {
        format!("{us:.1} µs")
    } else {
        format!("{:.2} ms", us / 1000.0)
    }
}

/// " (N errors)" when there were any.
pub fn error_note(s: &Samples) -> String {
    if s.errors > 0 {
        format!(" ({} errors)", s.errors)
    } else {
        String::new()
    }
}
