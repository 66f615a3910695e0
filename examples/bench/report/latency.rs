//! The latency tables: whole answers (one at a time, many clients, paced) and streams, each
//! path against the direct one, with the goals of issue 7 and LiteLLM's pass when it ran.

use std::fmt::Write as _;

use crate::args::Sizes;
use crate::measure::{
    ONE_AUTO, ONE_DIRECT, ONE_DIRECT_LARGE, ONE_NGINX, ONE_NGINX_LARGE, ONE_OFF, ONE_PROXY,
    ONE_PROXY_LARGE, PACED_RATE, Results,
};
use crate::report::{Align, Table, check, error_note};
use crate::scenarios::streaming::StreamSamples;
use crate::stats::{Samples, ms};
use crate::target::LARGE_BODY;

/// What a row's last column says.
#[derive(Clone, Copy)]
enum Verdict {
    /// The direct path: nothing.
    Baseline,
    /// Issue 7's goal for the proxy, met or missed.
    Goal,
    /// Said as it is: "(floor)", "(informative)".
    Note(&'static str),
}

/// One row of the non-streaming table: a path's samples against the direct path's.
struct LatencyRow<'a> {
    clients: String,
    label: &'a str,
    samples: &'a Samples,
    base: &'a Samples,
    cpu: &'a str,
    verdict: Verdict,
}

pub fn non_streaming(r: &mut String, sizes: &Sizes, results: &Results) {
    r.push_str(
        "\n### Non-streaming overhead\n\n\
         The same requests sent directly to the fake upstream and through the proxy, in the same \
         run; \"added\" is a path's percentile minus the direct path's. Latencies in ms. Proxy \
         CPU: the proxy process's CPU time (user + system) per request it served.\n",
    );
    let mut table = Table::new(&[
        ("clients", Align::Left),
        ("path", Align::Left),
        ("requests", Align::Right),
        ("p50", Align::Right),
        ("p99", Align::Right),
        ("added p50", Align::Right),
        ("added p99", Align::Right),
        ("req/s", Align::Right),
        ("proxy CPU", Align::Right),
        ("goal: added p50 ≤ 0.2, p99 ≤ 1", Align::Left),
    ]);
    for row in latency_rows(sizes, results) {
        table.row(row.cells());
    }
    table.render(r);
    if let Some(p) = &results.peer {
        let ratio = |l: &[Samples], q: &[Samples], p: f64| {
            (l[1].pct(p) - l[0].pct(p)) / (q[1].pct(p) - q[0].pct(p))
        };
        let (one, clients) = (&results.latency.one[..2], &results.latency.clients);
        let ratios = [
            ratio(&p.seq, one, 50.0),
            ratio(&p.seq, one, 99.0),
            ratio(&p.conc, clients, 50.0),
            ratio(&p.conc, clients, 99.0),
        ];
        let c = sizes.concurrent_clients;
        let _ = writeln!(
            r,
            "\nLiteLLM's added latency ÷ the proxy's (goal ≥ 20): one client p50 {:.0}x, p99 \
             {:.0}x; {c} clients p50 {:.0}x, p99 {:.0}x: {}. Throughput at {c} clients: proxy \
             {:.0} req/s, LiteLLM {:.0} req/s.",
            ratios[0],
            ratios[1],
            ratios[2],
            ratios[3],
            check(ratios.iter().all(|x| *x >= 20.0)),
            clients[1].rate.unwrap_or(0.0),
            p.conc[1].rate.unwrap_or(0.0),
        );
    }
}

/// The rows of the non-streaming table, in order; nginx's and LiteLLM's when they ran.
fn latency_rows<'a>(sizes: &Sizes, results: &'a Results) -> Vec<LatencyRow<'a>> {
    let (one, clients, paced) = (
        &results.latency.one,
        &results.latency.clients,
        &results.latency.paced,
    );
    let big = format!("1, {} KiB body", LARGE_BODY / 1024);
    let many = sizes.concurrent_clients.to_string();
    let paced_label = format!("{many}, paced to {PACED_RATE} req/s in all");
    let floor = Verdict::Note("(floor)");
    let informative = Verdict::Note("(informative)");
    let mut rows = vec![
        row(
            "1",
            "direct",
            one,
            ONE_DIRECT,
            ONE_DIRECT,
            "",
            Verdict::Baseline,
        ),
        row(
            "1",
            "proxy",
            one,
            ONE_PROXY,
            ONE_DIRECT,
            &results.latency.cpu_one,
            Verdict::Goal,
        ),
        row("1", "nginx", one, ONE_NGINX, ONE_DIRECT, "", floor),
        row(
            &big,
            "direct",
            one,
            ONE_DIRECT_LARGE,
            ONE_DIRECT_LARGE,
            "",
            Verdict::Baseline,
        ),
        row(
            &big,
            "proxy",
            one,
            ONE_PROXY_LARGE,
            ONE_DIRECT_LARGE,
            "",
            Verdict::Goal,
        ),
        row(
            &big,
            "nginx",
            one,
            ONE_NGINX_LARGE,
            ONE_DIRECT_LARGE,
            "",
            floor,
        ),
        row(
            "1",
            "proxy, model `auto`",
            one,
            ONE_AUTO,
            ONE_DIRECT,
            "",
            informative,
        ),
        row(
            "1",
            "proxy, SMART_MAX_TOKENS=false",
            one,
            ONE_OFF,
            ONE_DIRECT,
            "",
            informative,
        ),
        row(&many, "direct", clients, 0, 0, "", Verdict::Baseline),
        row(
            &many,
            "proxy",
            clients,
            1,
            0,
            &results.latency.cpu_clients,
            Verdict::Goal,
        ),
        row(&many, "nginx", clients, 2, 0, "", floor),
        row(&paced_label, "direct", paced, 0, 0, "", Verdict::Baseline),
        row(&paced_label, "proxy", paced, 1, 0, "", informative),
        row(&paced_label, "nginx", paced, 2, 0, "", floor),
    ];
    if let Some(p) = &results.peer {
        let none = Verdict::Note("");
        rows.push(row("1", "direct (LiteLLM pass)", &p.seq, 0, 0, "", none));
        rows.push(row("1", "LiteLLM", &p.seq, 1, 0, "", none));
        rows.push(row(&many, "direct (LiteLLM pass)", &p.conc, 0, 0, "", none));
        rows.push(row(&many, "LiteLLM", &p.conc, 1, 0, "", none));
    }
    // nginx's rows are there only when it ran.
    rows.into_iter().flatten().collect()
}

/// Path `i` of `runs` against path `base`; `None` when that path did not run.
fn row<'a>(
    clients: &str,
    label: &'a str,
    runs: &'a [Samples],
    i: usize,
    base: usize,
    cpu: &'a str,
    verdict: Verdict,
) -> Option<LatencyRow<'a>> {
    Some(LatencyRow {
        clients: clients.to_string(),
        label,
        samples: runs.get(i)?,
        base: &runs[base],
        cpu,
        verdict,
    })
}

impl LatencyRow<'_> {
    fn cells(&self) -> Vec<String> {
        let (s, base) = (self.samples, self.base);
        let (a50, a99) = (s.pct(50.0) - base.pct(50.0), s.pct(99.0) - base.pct(99.0));
        let is_base = std::ptr::eq(s, base);
        let added = |v: f64| if is_base { String::new() } else { ms(v) };
        let verdict = match self.verdict {
            Verdict::Baseline => "",
            Verdict::Goal => check(a50 <= 200.0 && a99 <= 1000.0),
            Verdict::Note(note) => note,
        };
        vec![
            self.clients.clone(),
            format!("{}{}", self.label, error_note(s)),
            s.us.len().to_string(),
            ms(s.pct(50.0)),
            ms(s.pct(99.0)),
            added(a50),
            added(a99),
            format!("{:.0}", s.rate.unwrap_or(f64::NAN)),
            self.cpu.to_string(),
            verdict.to_string(),
        ]
    }
}

pub fn streaming(r: &mut String, sizes: &Sizes, results: &Results) {
    let _ = writeln!(
        r,
        "\n### Streaming\n\n\
         One stream at a time. TTFB: request sent → first content event received, over {} short \
         streams per path. Per event: the fake's stamp just before it writes an event → the \
         client has the whole event, events 2-18 of {} streams per path of 18 content events, \
         a stop event and `[DONE]`, 5-10 ms apart. ms.",
        sizes.short_streams, sizes.streams
    );
    let mut table = Table::new(&[
        ("path", Align::Left),
        ("TTFB p50", Align::Right),
        ("TTFB p99", Align::Right),
        ("added TTFB p50", Align::Right),
        ("added TTFB p99", Align::Right),
        ("per event p50", Align::Right),
        ("per event p99", Align::Right),
        ("added p50", Align::Right),
        ("added p99", Align::Right),
        ("goal: added TTFB ≤ 1, added per-event p99 ≤ 1", Align::Left),
    ]);
    let (ttfb, streams) = (&results.latency.ttfb, &results.latency.streams);
    let mut plan = vec![
        ("direct", ttfb, streams, 0, Verdict::Baseline),
        ("proxy", ttfb, streams, 1, Verdict::Goal),
        ("nginx", ttfb, streams, 2, Verdict::Note("(floor)")),
    ];
    if let Some(p) = &results.peer {
        plan.push((
            "direct (LiteLLM pass)",
            &p.ttfb,
            &p.streams,
            0,
            Verdict::Baseline,
        ));
        plan.push(("LiteLLM", &p.ttfb, &p.streams, 1, Verdict::Note("")));
    }
    for (label, ttfb, streams, i, verdict) in plan {
        if i < ttfb.len() {
            table.row(stream_cells(label, ttfb, streams, i, verdict));
        }
    }
    table.render(r);
    if let Some(p) = &results.peer {
        let added = |t: &[StreamSamples], q: f64| t[1].ttfb.pct(q) - t[0].ttfb.pct(q);
        let event = |t: &[StreamSamples], q: f64| t[1].per_event.pct(q) - t[0].per_event.pct(q);
        let _ = writeln!(
            r,
            "\nLiteLLM ÷ proxy: added TTFB p50 {:.0}x, p99 {:.0}x; added per-event delay p50 {:.0}x.",
            added(&p.ttfb, 50.0) / added(ttfb, 50.0),
            added(&p.ttfb, 99.0) / added(ttfb, 99.0),
            event(&p.streams, 50.0) / event(streams, 50.0),
        );
    }
}

/// One row of the streaming table: TTFB from `ttfb[i]`, events from `streams[i]`, each
/// against entry 0 (direct).
fn stream_cells(
    label: &str,
    ttfb: &[StreamSamples],
    streams: &[StreamSamples],
    i: usize,
    verdict: Verdict,
) -> Vec<String> {
    let (t, e) = (&ttfb[i].ttfb, &streams[i].per_event);
    let (t0, e0) = (&ttfb[0].ttfb, &streams[0].per_event);
    let bad =
        ttfb[i].ttfb.errors + streams[i].ttfb.errors + ttfb[i].incomplete + streams[i].incomplete;
    let note = if bad > 0 {
        format!(" ({bad} streams failed or incomplete)")
    } else {
        String::new()
    };
    let added = |a: f64| if i == 0 { String::new() } else { ms(a) };
    let at50 = t.pct(50.0) - t0.pct(50.0);
    let at99 = t.pct(99.0) - t0.pct(99.0);
    let ae50 = e.pct(50.0) - e0.pct(50.0);
    let ae99 = e.pct(99.0) - e0.pct(99.0);
    let verdict = match verdict {
        Verdict::Baseline => "",
        Verdict::Goal => check(at50 <= 1000.0 && at99 <= 1000.0 && ae99 <= 1000.0),
        Verdict::Note(note) => note,
    };
    vec![
        format!("{label}{note}"),
        ms(t.pct(50.0)),
        ms(t.pct(99.0)),
        added(at50),
        added(at99),
        ms(e.pct(50.0)),
        ms(e.pct(99.0)),
        added(ae50),
        added(ae99),
        verdict.to_string(),
    ]
}
