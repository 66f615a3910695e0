//! The benchmark driver behind `scripts/bench`: how much the proxy adds to a request, measured
//! against the same fake OpenRouter reached directly, in the same run.
//!
//! One process holds the fake upstream (`openrouter_proxy::demo`) and the clients. The
//! proxy runs as its own process (the release binary, configured through its environment), and
//! so do nginx with `--nginx PATH` (the floor for one proxy hop, measured in the same run) and
//! LiteLLM with `--litellm PATH`. Clients speak HTTP/1.1 over keep-alive connections with a
//! small hand-written client, so that the client's own cost is the same for every path.
//!
//! ```text
//! bench [--proxy-bin target/release/openrouter-proxy] [--nginx /usr/sbin/nginx]
//!       [--strace /usr/bin/strace] [--litellm VENV/bin/litellm] [--litellm-version V]
//!       [--out FILE] [--quick]
//! ```
//!
//! For investigating, one part alone:
//!
//! ```text
//! bench --profile-load SECONDS [--clients N] [--stream] [--proxy-env NAME=VALUE]...
//!       [--wrap "valgrind --tool=callgrind"]   # load for a profiler; prints the proxy's pid
//! bench --held N [--hold SECONDS]            # N streams held open: the proxy's memory
//! ```
//!
//! It prints Markdown tables and writes them to `--out`. What each figure means is in
//! BENCHMARKS.md.

mod args;
mod client;
mod investigate;
mod measure;
mod procs;
mod report;
mod scenarios;
mod stats;
mod system;
mod target;

use std::fs;
use std::process::ExitCode;
use std::sync::OnceLock;
use std::time::Instant;

use args::{Args, Sizes, parse_args};

fn main() -> ExitCode {
    match parse_args().and_then(|args| run(&args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs what the arguments ask for in a scratch folder of its own, removed afterwards.
fn run(args: &Args) -> Result<(), String> {
    let _ = START.set(Instant::now());
    let scratch =
        std::env::temp_dir().join(format!("openrouter-proxy-bench-{}", std::process::id()));
    fs::create_dir_all(&scratch).map_err(|e| e.to_string())?;
    let sizes = Sizes::new(args.quick);
    let result = if let Some(n) = args.held {
        investigate::held(args, &scratch, n)
    } else if let Some(secs) = args.profile_load {
        investigate::profile_load(args, &scratch, secs)
    } else {
        measure::measure(args, &sizes, &scratch).and_then(|results| {
            let text = report::write(args, &sizes, &results);
            print!("{text}");
            match &args.out {
                Some(out) => {
                    fs::write(out, &text)
                        .map_err(|e| format!("cannot write {}: {e}", out.display()))?;
                    progress(&format!("written to {}", out.display()));
                    Ok(())
                }
                None => Ok(()),
            }
        })
    };
    let _ = fs::remove_dir_all(&scratch);
    result
}

static START: OnceLock<Instant> = OnceLock::new();

/// A progress line on stderr, with the time since the start.
fn progress(what: &str) {
    let t = START.get().map_or(0.0, |s| s.elapsed().as_secs_f64());
    eprintln!("bench [{t:6.1} s] {what}");
}
