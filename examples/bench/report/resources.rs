//! The tables of what the servers hold and spend: memory, waits for new connections, system
//! calls and context switches, token counting, and the connection burst line.

use std::fmt::Write as _;

use crate::args::{Args, Sizes};
use crate::measure::{BURST_IDLE, Results};
use crate::report::{Align, Table, check, error_note, fmt_dur};
use crate::stats::ms;
use crate::target::LARGE_BODY;

pub fn memory(r: &mut String, args: &Args, sizes: &Sizes, results: &Results) {
    r.push_str("\n### Memory (VmRSS, MiB)\n");
    let m = &results.memory;
    let (idle_n, held_n) = (sizes.idle_connections, sizes.held_streams);
    let mut rows: Vec<(String, f64, String)> = vec![
        (
            "proxy idle, SMART_MAX_TOKENS=false, default settings, after 1 request".into(),
            m.idle,
            format!("< 20: {}", check(m.idle < 20.0)),
        ),
        (
            format!(
                "the same proxy with {idle_n} idle keep-alive connections open (one request each)"
            ),
            m.idle_connections,
            "(see the goals above)".into(),
        ),
    ];
    if let Some((idle, with)) = m.nginx {
        rows.push((
            "nginx idle (master and its worker), after 1 request".into(),
            idle,
            "(floor)".into(),
        ));
        rows.push((
            format!("nginx with {idle_n} idle keep-alive connections open"),
            with,
            "(floor)".into(),
        ));
    }
    rows.extend([
        (
            "proxy idle, SMART_MAX_TOKENS=false, MAX_CONCURRENT_REQUESTS=256".into(),
            m.off_idle,
            "(informative)".into(),
        ),
        (
            "proxy, tokenizer warm (SMART_MAX_TOKENS=true), after 1 request".into(),
            m.warm,
            format!("< 80: {}", check(m.warm < 80.0)),
        ),
        (
            "the same proxy after the non-streaming and streaming runs above".into(),
            m.after_load,
            "(informative)".into(),
        ),
        (
            format!("a fresh proxy, tokenizer warm, after 1 request, with {held_n} streams open"),
            m.streams_fresh,
            format!("< 120: {}", check(m.streams_fresh < 120.0)),
        ),
        (
            format!("the proxy of the runs above (tokenizer warm), with {held_n} streams open"),
            m.streams_loaded,
            "(informative)".into(),
        ),
        (
            format!("proxy, SMART_MAX_TOKENS=false, with {held_n} streams open"),
            m.streams_off,
            "(informative)".into(),
        ),
    ]);
    if let Some(p) = &results.peer {
        rows.push((
            format!("LiteLLM {}, idle after start-up", args.litellm_version),
            p.rss,
            "(comparison)".into(),
        ));
        rows.push((
            "LiteLLM after its runs".into(),
            p.rss_after,
            "(comparison)".into(),
        ));
    }
    let mut table = Table::new(&[
        ("process, state", Align::Left),
        ("MiB", Align::Right),
        ("goal", Align::Left),
    ]);
    for (state, mib, goal) in rows {
        table.row(vec![state, format!("{mib:.1}"), goal]);
    }
    table.render(r);
}

pub fn bursts(r: &mut String, sizes: &Sizes, results: &Results) {
    let _ = writeln!(
        r,
        "\n### New connections after an idle pause\n\n\
         {} rounds: nothing for {} s, then {} connections opened at once on each path in turn, \
         each sending one request; the wait is from a client's start to its whole answer \
         (connection set-up included). ms.",
        sizes.burst_rounds,
        BURST_IDLE.as_secs(),
        sizes.concurrent_clients
    );
    let mut table = Table::new(&[
        ("path", Align::Left),
        ("connections", Align::Right),
        ("p50", Align::Right),
        ("p99", Align::Right),
        ("max", Align::Right),
    ]);
    for (label, b) in results.latency.labels.iter().zip(&results.latency.bursts) {
        table.row(vec![
            format!("{label}{}", error_note(b)),
            b.us.len().to_string(),
            ms(b.pct(50.0)),
            ms(b.pct(99.0)),
            ms(b.pct(100.0)),
        ]);
    }
    table.render(r);
}

pub fn costs(r: &mut String, sizes: &Sizes, results: &Results) {
    let n = sizes.cost_requests;
    let _ = writeln!(
        r,
        "\n### What a request costs the server's processes\n\n\
         {n} requests one at a time on one keep-alive connection, counting the context switches \
         of the server's threads (`/proc/PID/task/*/status`, voluntary and not; threads that end \
         meanwhile are not counted); then {n} more with `strace -c -f` attached to every \
         thread (nginx: master and worker)."
    );
    let mut table = Table::new(&[
        ("server, request", Align::Left),
        ("context switches", Align::Right),
        ("system calls", Align::Right),
        ("the most frequent, per request", Align::Left),
    ]);
    let big = format!("{} KiB body", LARGE_BODY / 1024);
    let labels = [
        "proxy, plain".to_string(),
        format!("proxy, {big}"),
        "nginx, plain".to_string(),
        format!("nginx, {big}"),
    ];
    for (label, cost) in labels.into_iter().zip(&results.costs) {
        let (calls, top) = match &cost.syscalls {
            Some((n, top)) => (format!("{n:.1}"), top.clone()),
            None => ("n/a".to_string(), String::new()),
        };
        table.row(vec![label, format!("{:.1}", cost.switches), calls, top]);
    }
    table.render(r);
}

pub fn token_counting(r: &mut String, results: &Results) {
    r.push_str("\n### Prompt token counting (in-process, `tokens::PromptSize`)\n");
    let mut table = Table::new(&[
        ("prompt", Align::Left),
        ("body", Align::Right),
        ("JSON parse", Align::Right),
        ("cheap bound (`PromptSize::new`)", Align::Right),
        ("full count (`tokens()`)", Align::Right),
        ("tokens counted", Align::Right),
        ("bound (bytes)", Align::Right),
    ]);
    let tokens = &results.tokens;
    for row in &tokens.rows {
        table.row(vec![
            row.label.to_string(),
            format!("{:.0} KiB", row.body_bytes as f64 / 1024.0),
            fmt_dur(row.parse),
            fmt_dur(row.cheap),
            fmt_dur(row.full),
            row.counted.to_string(),
            row.bound.to_string(),
        ]);
    }
    table.render(r);
    let _ = writeln!(
        r,
        "\nMedians. The tokenizer (o200k_base) is built once per process, in the background at \
         start-up: {} here. The proxy makes the full count only when the byte bound cannot \
         prove the prompt leaves the room wanted.",
        fmt_dur(tokens.build)
    );
}

pub fn connection_burst(r: &mut String, results: &Results) {
    let (answered, opened) = results.connection_burst;
    let _ = writeln!(
        r,
        "\n### Connection burst\n\n{answered} of {opened} keep-alive connections opened at once \
         to a fresh proxy got their answer (`GET /health`) within 3 s. The measurements above \
         open their connections one after the other."
    );
}
