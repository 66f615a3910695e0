//! The driver's modes for looking closer at one thing: load through one proxy for a
//! profiler (`--profile-load`), and streams held open for the memory they cost (`--held`).

use std::io::{self, Write};
use std::path::Path;
use std::time::Duration;

use crate::args::Args;
use crate::procs::start_proxy;
use crate::scenarios::clients::concurrent;
use crate::scenarios::held_streams::held_streams;
use crate::scenarios::one_at_a_time::sequential;
use crate::scenarios::streaming::streaming;
use crate::stats::{Samples, ms};
use crate::system::{cpu_seconds, settled_rss};
use crate::target::{CHAT, DIRECT_CHAT, MODEL, Target};
use crate::{measure, progress};

/// `--held N [--hold SECONDS]`: N streams held open through one proxy; prints its memory (and
/// keeps the streams open for `--hold` seconds, for a closer look).
pub fn held(args: &Args, scratch: &Path, n: usize) -> Result<(), String> {
    let fake = measure::start_fake()?;
    let p = start_proxy(
        args,
        &fake,
        scratch,
        "held",
        &[("MAX_CONCURRENT_REQUESTS", "256")],
    )?;
    let t = Target::new("proxy", p.addr, CHAT, MODEL);
    let _ = sequential(std::slice::from_ref(&t), 0, 1);
    let idle = settled_rss(p.pid());
    let hold = (args.hold > 0).then(|| Duration::from_secs(args.hold));
    let rss = held_streams(&fake, &t, p.pid(), n, hold)?;
    println!("proxy VmRSS: {idle:.1} MiB after 1 request, {rss:.1} MiB with {n} streams open");
    Ok(())
}

/// Runs requests through one proxy for `secs` seconds from `--clients` clients, for a
/// profiler: the proxy's pid is printed first (or the proxy runs under `--wrap`). Prints the
/// rate and the proxy's CPU time per request.
pub fn profile_load(args: &Args, scratch: &Path, secs: f64) -> Result<(), String> {
    let fake = &measure::start_fake()?;
    let env: Vec<(&str, &str)> = args
        .proxy_env
        .iter()
        .filter_map(|kv| kv.split_once('='))
        .collect();
    let proxy = start_proxy(args, fake, scratch, "profile", &env)?;
    eprintln!("bench: proxy pid {} at {}", proxy.pid(), proxy.addr);
    println!("{}", proxy.pid());
    let _ = io::stdout().flush();
    let target = Target::new("proxy", proxy.addr, CHAT, MODEL);
    if args.stream {
        // Short streams: the time to the first event, and where it goes.
        let direct = Target::new("direct", fake.addr(), DIRECT_CHAT, MODEL);
        let rounds = ((secs * 200.0) as usize).max(1);
        let out = streaming(fake, &[direct, target], 20, rounds, 1, &|_| Duration::ZERO);
        for (label, s) in ["direct", "proxy"].iter().zip(&out) {
            let q = |x: &Samples| [50.0, 90.0, 99.0, 100.0].map(|p| ms(x.pct(p))).join(" / ");
            progress(&format!(
                "{label}: {} streams, p50 / p90 / p99 / max in ms: TTFB {}; request → fake \
                 writes the event {}; event written → client has it {}",
                s.ttfb.us.len(),
                q(&s.ttfb),
                q(&s.to_upstream),
                q(&s.first_event),
            ));
        }
        return Ok(());
    }
    let cpu0 = cpu_seconds(proxy.pid());
    let samples = concurrent(
        std::slice::from_ref(&target),
        args.clients,
        Duration::from_secs_f64(secs),
        1,
        None,
    );
    let cpu1 = cpu_seconds(proxy.pid());
    let s = &samples[0];
    let n = s.sent.max(1) as f64;
    progress(&format!(
        "{} requests ({} errors), {:.0} req/s, p50 {} ms, p99 {} ms; proxy CPU per request: \
         user {:.1} µs, system {:.1} µs",
        s.us.len(),
        s.errors,
        s.rate.unwrap_or(0.0),
        ms(s.pct(50.0)),
        ms(s.pct(99.0)),
        (cpu1.0 - cpu0.0) / n * 1e6,
        (cpu1.1 - cpu0.1) / n * 1e6,
    ));
    drop(proxy);
    Ok(())
}
