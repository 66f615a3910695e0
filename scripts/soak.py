"""A load test: 100 concurrent clients for a minute against the proxy in --demo mode.

Usage: python3 scripts/soak.py BASE_URL PROXY_PID [SECONDS] [CLIENTS]
Each client reuses one keep-alive connection and sends chat requests (one in ten streamed)
as fast as answers come. Passes when no request fails except with the documented queue
timeout (503 queue_timeout), and the proxy's threads and memory come back to where they were
once the load ends (compared after a first, short load has filled the allocator's caches and
the connection thread pool: growth beyond that would be a leak). scripts/soak starts the proxy and runs this.
"""

import http.client
import json
import sys
import threading
import time
from collections import Counter
from urllib.parse import urlparse


# How long to let the proxy settle after a load: idle connection threads end after 10 s, and
# pooled upstream connections (to the demo's built-in fake upstream, whose threads are
# in the same process) after 15 s.
SETTLE = 20


def proc_status(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return int(fields["Threads"]), int(fields["VmRSS"].split()[0]) // 1024


def client(host, port, deadline, outcomes, index):
    conn = http.client.HTTPConnection(host, port, timeout=120)
    n = 0
    while time.time() < deadline:
        n += 1
        stream = (n + index) % 10 == 0
        body = json.dumps({"stream": stream, "messages": [{"role": "user", "content": f"hi {n}"}]})
        try:
            conn.request("POST", "/v1/chat/completions", body, {"Content-Type": "application/json"})
            resp = conn.getresponse()
            data = resp.read()
            if resp.status == 200:
                ok = data.endswith(b"data: [DONE]\n\n") if stream else b'"choices"' in data
                outcomes["ok" if ok else "incomplete"] += 1
            else:
                code = json.loads(data)["error"]["code"]
                outcomes[f"{resp.status} {code}"] += 1
        except Exception as e:  # noqa: BLE001 - every failure is counted and reported
            outcomes[f"exception {type(e).__name__}"] += 1
            conn.close()
            conn = http.client.HTTPConnection(host, port, timeout=120)
    conn.close()


def start_clients(url, clients, deadline, outcomes):
    workers = [threading.Thread(target=client, args=(url.hostname, url.port, deadline, outcomes, i))
               for i in range(clients)]
    for w in workers:
        w.start()
    return workers


def run_load(url, clients, seconds, outcomes):
    for w in start_clients(url, clients, time.time() + seconds, outcomes):
        w.join()


def main():
    base, pid = sys.argv[1], int(sys.argv[2])
    seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 60
    clients = int(sys.argv[4]) if len(sys.argv) > 4 else 100
    url = urlparse(base)
    # Warm up (model list, tokenizer), then take the baseline.
    for _ in range(3):
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
        conn.request("POST", "/v1/chat/completions", json.dumps({"messages": [{"role": "user", "content": "hi"}]}),
                     {"Content-Type": "application/json"})
        conn.getresponse().read()
        conn.close()
    time.sleep(6)
    threads_idle, rss_idle = proc_status(pid)

    # A first, short load fills the allocator's caches and the thread pool; what comes after
    # is compared with where that leaves the proxy.
    warm = Counter()
    run_load(url, clients, 10, warm)
    time.sleep(SETTLE)
    threads_before, rss_before = proc_status(pid)

    outcomes = Counter()
    deadline = time.time() + seconds
    workers = start_clients(url, clients, deadline, outcomes)
    peak_threads, peak_rss = 0, 0
    while any(w.is_alive() for w in workers):
        t, r = proc_status(pid)
        peak_threads, peak_rss = max(peak_threads, t), max(peak_rss, r)
        time.sleep(1)
    time.sleep(SETTLE)
    threads_after, rss_after = proc_status(pid)

    total = sum(outcomes.values())
    print(f"{clients} clients for {seconds:.0f} s: {total} requests ({total / seconds:.0f}/s)")
    for outcome, count in sorted(outcomes.items()):
        print(f"  {outcome}: {count}")
    print(f"threads: {threads_idle} idle, {threads_before} after a first load, {peak_threads} at peak, "
          f"{threads_after} after")
    print(f"memory: {rss_idle} MB idle, {rss_before} MB after a first load, {peak_rss} MB at peak, "
          f"{rss_after} MB after")

    outcomes.update(warm)
    failures = {k: v for k, v in outcomes.items() if k not in ("ok", "503 queue_timeout")}
    problems = []
    if failures:
        problems.append(f"unexpected outcomes: {failures}")
    if outcomes["ok"] == 0:
        problems.append("no request succeeded")
    if threads_after > threads_before + 4:
        problems.append(f"threads grew from {threads_before} to {threads_after}")
    if rss_after > rss_before + 8:
        problems.append(f"memory grew from {rss_before} MB to {rss_after} MB")
    if problems:
        print("SOAK FAILED: " + "; ".join(problems))
        sys.exit(1)
    print("soak passed")


if __name__ == "__main__":
    main()
