//! The full run: every measurement, in an order where none disturbs the next, gathered into
//! [`Results`] for the report. Servers start when a step needs them and stop when it is done;
//! the peer (LiteLLM) is measured last, alone.

use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use openrouter_proxy::demo::FakeUpstream;

use crate::args::{Args, Sizes};
use crate::procs::{Process, start_litellm, start_nginx, start_proxy};
use crate::progress;
use crate::scenarios::clients::concurrent;
use crate::scenarios::connection_burst::burst_check;
use crate::scenarios::held_streams::held_streams;
use crate::scenarios::idle_burst::burst_after_idle;
use crate::scenarios::idle_connections::idle_connections;
use crate::scenarios::one_at_a_time::sequential;
use crate::scenarios::request_costs::{Costs, request_costs};
use crate::scenarios::streaming::{StreamSamples, long_streams, short_streams};
use crate::scenarios::token_counting::{TokenCounting, token_counting};
use crate::scenarios::wait_fake_quiet;
use crate::stats::Samples;
use crate::system::{
    cpu_per_request, cpu_seconds, loadavg, machine_busy, own_cpu, rss_mib, settled_rss,
};
use crate::target::{CHAT, DIRECT_CHAT, LARGE_BODY, MODEL, Target};

/// Total request rate of the paced runs.
pub const PACED_RATE: u64 = 1000;

/// How long no request reaches any server before a burst of new connections: long enough for
/// a server's idle threads (the proxy's end after 10 s of nothing, or at once beyond 16) to
/// be gone, as after a quiet spell.
pub const BURST_IDLE: Duration = Duration::from_secs(8);

/// Where each path is in the one-at-a-time run; nginx's two come last, when it runs.
pub const ONE_DIRECT: usize = 0;
pub const ONE_PROXY: usize = 1;
pub const ONE_DIRECT_LARGE: usize = 2;
pub const ONE_PROXY_LARGE: usize = 3;
pub const ONE_AUTO: usize = 4;
pub const ONE_OFF: usize = 5;
pub const ONE_NGINX: usize = 6;
pub const ONE_NGINX_LARGE: usize = 7;

/// Where each server and request is in [`Results::costs`].
pub const COST_PROXY: usize = 0;
pub const COST_PROXY_LARGE: usize = 1;
pub const COST_NGINX: usize = 2;
pub const COST_NGINX_LARGE: usize = 3;

/// Everything the full run measured.
pub struct Results {
    pub latency: Latency,
    /// By the `COST_*` indices.
    pub costs: Vec<Costs>,
    pub memory: Memory,
    /// Keep-alive connections answered, of those opened at once to a fresh proxy.
    pub connection_burst: (usize, usize),
    pub tokens: TokenCounting,
    pub peer: Option<Peer>,
    /// The share of the machine's CPU other processes used during the run, in percent, and
    /// the load average before it.
    pub others_share: f64,
    pub load_before: String,
}

/// The latency runs.
pub struct Latency {
    /// One at a time, by the `ONE_*` indices; the paths' labels beside.
    pub one: Vec<Samples>,
    pub one_labels: Vec<String>,
    /// The runs of many clients, on direct, proxy and (when it runs) nginx, labelled beside.
    pub clients: Vec<Samples>,
    pub paced: Vec<Samples>,
    pub bursts: Vec<Samples>,
    pub ttfb: Vec<StreamSamples>,
    pub streams: Vec<StreamSamples>,
    pub labels: Vec<String>,
    /// The proxy's CPU per request in the one-at-a-time and the many-clients runs.
    pub cpu_one: String,
    pub cpu_clients: String,
    /// The main proxy's memory after these runs.
    pub rss_after: f64,
}

/// Resident memory, in MiB, of the proxies in their different states, and of nginx.
pub struct Memory {
    /// Defaults, SMART_MAX_TOKENS=false, after one request; then with idle connections open.
    pub idle: f64,
    pub idle_connections: f64,
    /// nginx after one request, and with idle connections open.
    pub nginx: Option<(f64, f64)>,
    pub off_idle: f64,
    pub warm: f64,
    pub after_load: f64,
    pub streams_fresh: f64,
    pub streams_loaded: f64,
    pub streams_off: f64,
}

/// What the peer's pass measured, each against a direct baseline of its own.
pub struct Peer {
    pub seq: Vec<Samples>,
    pub conc: Vec<Samples>,
    pub ttfb: Vec<StreamSamples>,
    pub streams: Vec<StreamSamples>,
    pub rss: f64,
    pub rss_after: f64,
}

/// The fake upstream, serving chat calls only.
pub fn start_fake() -> Result<FakeUpstream, String> {
    let fake = FakeUpstream::start().map_err(|e| e.to_string())?;
    // The fake's `GET /key` reports OpenRouter's real free allowance (50 calls a day), which a
    // benchmark exceeds in a moment. With `/models` and `/key` unavailable the proxy takes its
    // catalog from `CACHE_DIR/models.json` (the same fixture) and the allowance from
    // FREE_DAILY_LIMIT; chat calls are served as usual.
    fake.set_models_down(true);
    Ok(fake)
}

/// The two proxies the latency runs go through: default settings (smart max_tokens on), and
/// smart max_tokens off; both with the concurrency limit raised so that it is not what is
/// measured. Their memory once started (the first after one request, its tokenizer warm).
struct Proxies {
    main: Process,
    off: Process,
    off_idle: f64,
    warm: f64,
}

impl Proxies {
    fn start(args: &Args, fake: &FakeUpstream, scratch: &Path) -> Result<Proxies, String> {
        let limit = ("MAX_CONCURRENT_REQUESTS", "256");
        let main = start_proxy(args, fake, scratch, "main", &[limit])?;
        let off = start_proxy(
            args,
            fake,
            scratch,
            "off",
            &[limit, ("SMART_MAX_TOKENS", "false")],
        )?;
        let off_idle = settled_rss(off.pid());
        let target = Target::new("proxy", main.addr, CHAT, MODEL);
        let _ = sequential(std::slice::from_ref(&target), 0, 1);
        let warm = settled_rss(main.pid());
        Ok(Proxies {
            main,
            off,
            off_idle,
            warm,
        })
    }
}

/// nginx while it runs, with the memory measured when it started.
struct Nginx {
    process: Process,
    memory: (f64, f64),
}

/// The machine's CPU use by other processes over the run.
struct MachineLoad {
    before: String,
    busy: f64,
    own: f64,
    since: Instant,
}

impl MachineLoad {
    fn start() -> MachineLoad {
        MachineLoad {
            before: loadavg(),
            busy: machine_busy(),
            own: own_cpu(),
            since: Instant::now(),
        }
    }

    /// The share of the machine's CPU others used since the start, in percent.
    fn others_share(&self) -> f64 {
        let others = (machine_busy() - self.busy) - (own_cpu() - self.own);
        let cores = thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        100.0 * others.max(0.0) / (self.since.elapsed().as_secs_f64() * cores)
    }
}

pub fn measure(args: &Args, sizes: &Sizes, scratch: &Path) -> Result<Results, String> {
    let fake = start_fake()?;
    let load = MachineLoad::start();
    let (idle, idle_connections, connection_burst) = idle_proxy(args, sizes, &fake, scratch)?;
    let nginx = match &args.nginx {
        Some(bin) => Some(nginx_idle(bin, sizes, &fake, scratch)?),
        None => None,
    };
    let proxies = Proxies::start(args, &fake, scratch)?;
    let paths = one_at_a_time_paths(&fake, &proxies, nginx.as_ref());
    let latency = latency(sizes, &fake, &paths, &proxies);

    progress("system calls and context switches per request");
    let costs = costs(args, sizes, scratch, &paths, &proxies, nginx.as_ref())?;
    // nginx's part ends here: the held streams are the proxy's alone, and the peer is
    // measured with nothing else running.
    let nginx_memory = nginx.map(|n| n.memory);
    let (off_idle, warm) = (proxies.off_idle, proxies.warm);
    progress(&format!("{} streams held open", sizes.held_streams));
    let (streams_fresh, streams_loaded, streams_off) =
        held_memory(args, sizes, &fake, scratch, &paths, proxies)?;

    let peer = match &args.litellm {
        Some(bin) => Some(peer(bin, sizes, &fake, scratch, &paths[ONE_DIRECT])?),
        None => None,
    };
    let others_share = load.others_share();
    let tokens = token_counting(args.quick);
    Ok(Results {
        memory: Memory {
            idle,
            idle_connections,
            nginx: nginx_memory,
            off_idle,
            warm,
            after_load: latency.rss_after,
            streams_fresh,
            streams_loaded,
            streams_off,
        },
        latency,
        costs,
        connection_burst,
        tokens,
        peer,
        others_share,
        load_before: load.before,
    })
}

/// The latency runs, each on every path in the same run: one at a time, many clients flat
/// out and paced, streams, and bursts of new connections after an idle pause.
fn latency(sizes: &Sizes, fake: &FakeUpstream, one_paths: &[Target], proxies: &Proxies) -> Latency {
    let main = proxies.main.pid();
    let mut paths = vec![one_paths[ONE_DIRECT].clone(), one_paths[ONE_PROXY].clone()];
    paths.extend(one_paths.get(ONE_NGINX).cloned());

    progress("non-streaming, one client");
    let cpu0 = cpu_seconds(main);
    let one = sequential(one_paths, sizes.warmup, sizes.sequential);
    let served = one[ONE_PROXY].sent + one[ONE_PROXY_LARGE].sent + one[ONE_AUTO].sent;
    let cpu_one = cpu_per_request(cpu0, cpu_seconds(main), served);

    let c = sizes.concurrent_clients;
    progress(&format!("non-streaming, {c} clients"));
    let cpu0 = cpu_seconds(main);
    let clients = concurrent(&paths, c, sizes.block, sizes.blocks, None);
    let cpu_clients = cpu_per_request(cpu0, cpu_seconds(main), clients[1].sent);
    progress(&format!("non-streaming, {c} clients, paced"));
    let pace = Duration::from_micros(c as u64 * 1_000_000 / PACED_RATE);
    let paced = concurrent(&paths, c, sizes.block, sizes.blocks, Some(pace));
    let rss_after = rss_mib(main);

    progress("streaming");
    let ttfb = short_streams(fake, &paths, 20, sizes.short_streams);
    let streams = long_streams(fake, &paths, 3, sizes.streams);

    let idle = BURST_IDLE.as_secs();
    progress(&format!(
        "bursts of {c} new connections after {idle} s idle"
    ));
    let bursts = burst_after_idle(&paths, c, BURST_IDLE, sizes.burst_rounds);
    Latency {
        one,
        one_labels: one_paths.iter().map(|t| t.label.clone()).collect(),
        clients,
        paced,
        bursts,
        ttfb,
        streams,
        labels: paths.iter().map(|t| t.label.clone()).collect(),
        cpu_one,
        cpu_clients,
        rss_after,
    }
}

/// A proxy with default settings but smart max_tokens off: its idle memory, then with idle
/// connections open; then whether a burst of connections opened at once is answered.
fn idle_proxy(
    args: &Args,
    sizes: &Sizes,
    fake: &FakeUpstream,
    scratch: &Path,
) -> Result<(f64, f64, (usize, usize)), String> {
    progress("memory, idle");
    let idle = start_proxy(
        args,
        fake,
        scratch,
        "idle",
        &[("SMART_MAX_TOKENS", "false")],
    )?;
    let target = Target::new("proxy", idle.addr, CHAT, MODEL);
    let _ = sequential(std::slice::from_ref(&target), 0, 1);
    thread::sleep(Duration::from_millis(300));
    let rss = settled_rss(idle.pid());
    progress(&format!("{} idle connections", sizes.idle_connections));
    let (_, with) = idle_connections(&target, &idle.pids(), sizes.idle_connections)?;
    thread::sleep(Duration::from_millis(500));
    let burst = burst_check(idle.addr, 64);
    Ok((rss, with, burst))
}

/// nginx, started for the rest of the run, with its idle memory and its idle connections
/// measured first, as for the proxy.
fn nginx_idle(
    bin: &Path,
    sizes: &Sizes,
    fake: &FakeUpstream,
    scratch: &Path,
) -> Result<Nginx, String> {
    progress("nginx: memory, idle");
    let process = start_nginx(bin, fake, scratch)?;
    let target = Target::new("nginx", process.addr, CHAT, MODEL);
    let memory = idle_connections(&target, &process.pids(), sizes.idle_connections)?;
    Ok(Nginx { process, memory })
}

/// The paths of the one-at-a-time run, by the `ONE_*` indices.
fn one_at_a_time_paths(
    fake: &FakeUpstream,
    proxies: &Proxies,
    nginx: Option<&Nginx>,
) -> Vec<Target> {
    let (main, off) = (proxies.main.addr, proxies.off.addr);
    let mut paths = vec![
        Target::new("direct", fake.addr(), DIRECT_CHAT, MODEL),
        Target::new("proxy", main, CHAT, MODEL),
        Target::sized("direct", fake.addr(), DIRECT_CHAT, MODEL, LARGE_BODY),
        Target::sized("proxy", main, CHAT, MODEL, LARGE_BODY),
        Target::new("proxy, model `auto`", main, CHAT, "auto"),
        Target::new("proxy, SMART_MAX_TOKENS=false", off, CHAT, MODEL),
    ];
    if let Some(n) = nginx {
        paths.push(Target::new("nginx", n.process.addr, CHAT, MODEL));
        paths.push(Target::sized(
            "nginx",
            n.process.addr,
            CHAT,
            MODEL,
            LARGE_BODY,
        ));
    }
    paths
}

/// System calls and context switches per request, by the `COST_*` indices: the proxy (one
/// process, all its threads) and nginx (master and worker), plain and with the larger body.
fn costs(
    args: &Args,
    sizes: &Sizes,
    scratch: &Path,
    paths: &[Target],
    proxies: &Proxies,
    nginx: Option<&Nginx>,
) -> Result<Vec<Costs>, String> {
    let (strace, n) = (args.strace.as_deref(), sizes.cost_requests);
    let summary = scratch.join("strace.txt");
    let proxy = [proxies.main.pid()];
    let mut costs = vec![
        request_costs(&paths[ONE_PROXY], &proxy, n, strace, &summary)?,
        request_costs(&paths[ONE_PROXY_LARGE], &proxy, n, strace, &summary)?,
    ];
    if let Some(nginx) = nginx {
        let pids = nginx.process.pids();
        costs.push(request_costs(
            &paths[ONE_NGINX],
            &pids,
            n,
            strace,
            &summary,
        )?);
        costs.push(request_costs(
            &paths[ONE_NGINX_LARGE],
            &pids,
            n,
            strace,
            &summary,
        )?);
    }
    Ok(costs)
}

/// Memory with streams held open (these streams end only when their proxy is stopped): a
/// fresh proxy with the tokenizer warm, then the proxies of the runs above, which stop here.
fn held_memory(
    args: &Args,
    sizes: &Sizes,
    fake: &FakeUpstream,
    scratch: &Path,
    paths: &[Target],
    proxies: Proxies,
) -> Result<(f64, f64, f64), String> {
    let n = sizes.held_streams;
    let fresh = start_proxy(
        args,
        fake,
        scratch,
        "streams",
        &[("MAX_CONCURRENT_REQUESTS", "256")],
    )?;
    let target = Target::new("proxy", fresh.addr, CHAT, MODEL);
    let _ = sequential(std::slice::from_ref(&target), 0, 1);
    let _ = settled_rss(fresh.pid());
    let rss_fresh = held_streams(fake, &target, fresh.pid(), n, None)?;
    drop(fresh);
    let Proxies { main, off, .. } = proxies;
    let rss_loaded = held_streams(fake, &paths[ONE_PROXY], main.pid(), n, None)?;
    drop(main);
    let rss_off = held_streams(fake, &paths[ONE_OFF], off.pid(), n, None)?;
    Ok((rss_fresh, rss_loaded, rss_off))
}

/// The peer, measured alone against the fake after the proxies have stopped, each figure
/// against a direct baseline taken in the same pass.
fn peer(
    bin: &Path,
    sizes: &Sizes,
    fake: &FakeUpstream,
    scratch: &Path,
    direct: &Target,
) -> Result<Peer, String> {
    wait_fake_quiet(fake);
    progress("starting LiteLLM (this takes a while)");
    let process = start_litellm(bin, fake, scratch)?;
    let target = Target::new("LiteLLM", process.addr, CHAT, MODEL);
    let rss = settled_rss(process.pid());
    let pair = [direct.clone(), target];
    progress("LiteLLM: non-streaming, one client");
    let seq = sequential(&pair, sizes.warmup / 3, sizes.peer_sequential);
    let c = sizes.concurrent_clients;
    progress(&format!("LiteLLM: non-streaming, {c} clients"));
    let conc = concurrent(&pair, c, sizes.block * 2, sizes.blocks, None);
    progress("LiteLLM: streaming");
    let ttfb = short_streams(fake, &pair, 5, sizes.short_streams / 4);
    let streams = long_streams(fake, &pair, 3, sizes.streams);
    let rss_after = rss_mib(process.pid());
    Ok(Peer {
        seq,
        conc,
        ttfb,
        streams,
        rss,
        rss_after,
    })
}
