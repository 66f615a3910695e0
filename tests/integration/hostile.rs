//! Issue 8, hostile input and faults: every case gets a clear answer (or a clear end), and the
//! proxy keeps serving. The limits of the HTTP server itself are in `front_door.rs`.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use openrouter_proxy::demo::{DEFAULT_MODEL, Script};

use crate::common::*;

/// Still serving: `/health` and a chat answer at once.
fn still_serving(proxy: &TestProxy) {
    let t = Instant::now();
    assert_eq!(get(proxy.addr, "/health").status, 200);
    assert_eq!(post_chat(proxy.addr, HELLO).status, 200);
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "slow: {:?}",
        t.elapsed()
    );
}

#[test]
fn each_kind_of_bad_body_gets_a_clear_4xx() {
    let proxy = start(&[]);
    let m = r#""messages":[{"role":"user","content":"x"}]"#;
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"{\"messages\":[".to_vec(), "not valid JSON"),
        (b"\"just a string\"".to_vec(), "JSON object"),
        (b"null".to_vec(), "JSON object"),
        (b"{\"messages\":null}".to_vec(), "'messages' is required"),
        (b"{\"messages\":{}}".to_vec(), "must be a list"),
        (format!("{{{m},\"stream\":1}}").into_bytes(), "'stream'"),
        (
            format!("{{{m},\"max_tokens\":\"ten\"}}").into_bytes(),
            "'max_tokens'",
        ),
        (
            format!("{{{m},\"max_tokens\":0}}").into_bytes(),
            "'max_tokens'",
        ),
        (format!("{{{m},\"model\":[\"a\"]}}").into_bytes(), "'model'"),
        (
            b"{\"messages\":[{\"role\":\"user\",\"content\":\"\xff\xfe\"}]}".to_vec(),
            "UTF-8",
        ),
        (Vec::new(), "empty"),
        (b"   \n ".to_vec(), "empty"),
    ];
    for (body, expected) in cases {
        let r = request(
            proxy.addr,
            "POST",
            "/v1/chat/completions",
            &[("Content-Type", "application/json")],
            &body,
        );
        let error = r.expect_error(400);
        let message = error["message"].as_str().unwrap();
        assert!(
            message.contains(expected),
            "{:?}: {message}",
            String::from_utf8_lossy(&body)
        );
    }
    // No Content-Type, or a wrong one.
    for headers in [vec![], vec![("Content-Type", "text/plain")]] {
        let r = request(
            proxy.addr,
            "POST",
            "/v1/chat/completions",
            &headers,
            HELLO.as_bytes(),
        );
        r.expect_error(415);
    }
    assert!(proxy.fake.chat_requests().is_empty());
    still_serving(&proxy);
}

#[test]
fn a_body_that_stops_short_frees_its_worker_and_gets_408_when_the_client_gives_up() {
    // Few workers, so that waiting ones would show.
    let proxy = start(&[("BODY_TIMEOUT", "300ms")]);
    let head = "POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n{\"messages\":";
    let mut silent: Vec<TcpStream> = (0..12)
        .map(|_| {
            let mut s = TcpStream::connect(proxy.addr).unwrap();
            s.write_all(head.as_bytes()).unwrap();
            s
        })
        .collect();
    thread::sleep(Duration::from_millis(1000));
    still_serving(&proxy);
    // A client that gives up (closes its sending side) gets a 408 it can read.
    let mut s = silent.pop().unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("BODY_TIMEOUT"), "{answer}");

    // A body that ends early (the client closes its side) is named for what it is.
    let mut s = TcpStream::connect(proxy.addr).unwrap();
    s.write_all(head.as_bytes()).unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(
        answer.contains("ended after 12 of the 5000 bytes"),
        "{answer}"
    );
    drop(silent);
}

#[test]
fn slow_and_idle_connections_do_not_stop_other_clients() {
    let proxy = start(&[]);
    // Headers begun and never finished.
    let mut slow: Vec<TcpStream> = (0..50)
        .map(|_| {
            let mut s = TcpStream::connect(proxy.addr).unwrap();
            s.write_all(b"POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\n")
                .unwrap();
            s
        })
        .collect();
    // A thousand connections that never say anything.
    let idle: Vec<TcpStream> = (0..1000)
        .map(|_| TcpStream::connect(proxy.addr).unwrap())
        .collect();
    for _ in 0..5 {
        still_serving(&proxy);
    }
    drop(idle);
    slow.clear();
    still_serving(&proxy);
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let proxy = start(&[]);
    let mut conn = Conn::open(proxy.addr);
    let chat = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{HELLO}",
        HELLO.len()
    );
    let all = format!(
        "GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n{chat}GET /nope HTTP/1.1\r\nHost: localhost\r\n\r\n"
    );
    conn.send_raw(all.as_bytes());
    assert_eq!(conn.read_response().json()["status"], "ok");
    let answer = conn.read_response();
    assert_eq!(answer.status, 200);
    assert!(answer.json()["choices"].is_array());
    assert_eq!(conn.read_response().status, 404);
}

#[test]
fn odd_methods_long_urls_and_long_headers_get_plain_answers() {
    let proxy = start(&[]);
    let r = request(proxy.addr, "BREW", "/health", &[], b"");
    r.expect_error(405);
    // Issue 11: a URL over 8 KiB gets 414, a head over 64 KiB gets 431.
    let long_path = format!("/v1/{}", "a".repeat(100_000));
    get(proxy.addr, &long_path).expect_error(414);
    let long_value = "b".repeat(100_000);
    let r = request(
        proxy.addr,
        "GET",
        "/health",
        &[("X-Long", &long_value)],
        b"",
    );
    r.expect_error(431);
    let r = request(
        proxy.addr,
        "GET",
        "/health",
        &[("X-Long", &long_value[..30_000])],
        b"",
    );
    assert_eq!(r.status, 200);
    still_serving(&proxy);
}

#[test]
fn a_truncated_or_gzipped_or_huge_answer_is_handled() {
    let proxy = start(&[]);
    // Fewer bytes than announced, then the connection closes.
    proxy.fake.push(Script::Raw(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{\"choices\":[{\"mess".to_vec(),
    ));
    let error = post_chat(proxy.addr, HELLO).expect_error(502);
    assert!(
        error["message"].as_str().unwrap().contains("cut off"),
        "{error}"
    );

    // A gzip-encoded answer is decoded, and no stale Content-Encoding reaches the client.
    let json = format!(
        r#"{{"model":"{DEFAULT_MODEL}","choices":[{{"message":{{"role":"assistant","content":"unzipped"}}}}]}}"#
    );
    let gz = gzip_stored(json.as_bytes());
    let mut raw = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
        gz.len()
    )
    .into_bytes();
    raw.extend_from_slice(&gz);
    proxy.fake.push(Script::Raw(raw));
    let r = post_chat(proxy.addr, HELLO);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["choices"][0]["message"]["content"], "unzipped");
    assert!(r.header("Content-Encoding").is_none());

    // An answer over 10 MiB arrives whole.
    let big = "x".repeat(11 << 20);
    proxy.fake.push(Script::completion(&big));
    let r = post_chat(proxy.addr, HELLO);
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json()["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .len(),
        big.len()
    );
    still_serving(&proxy);
}

#[test]
fn a_client_leaving_while_it_waits_for_a_slot_is_counted_once_and_frees_everything() {
    let dir = scratch_dir();
    let switch = dir.join("DEBUG_MODE.txt");
    std::fs::write(&switch, "").unwrap();
    let cache = dir.join("cache");
    let proxy = start(&[
        ("MAX_CONCURRENT_REQUESTS", "1"),
        ("DEBUG_MODE_FILE", switch.to_str().unwrap()),
        ("CACHE_DIR", cache.to_str().unwrap()),
    ]);
    proxy.fake.push(Script::stream_text(
        &["a", "b", "c", "d"],
        Duration::from_millis(150),
    ));
    let addr = proxy.addr;
    let busy = thread::spawn(move || post_chat(addr, HELLO_STREAM));
    assert!(eventually(Duration::from_secs(2), || proxy.fake.active() == 1));
    let waiting = send_chat(proxy.addr, HELLO_STREAM);
    assert!(eventually(Duration::from_secs(2), || proxy
        .state
        .limiter
        .usage()
        .waiting
        == 1));
    drop(waiting);
    assert_eq!(busy.join().unwrap().status, 200);
    assert!(eventually(Duration::from_secs(5), || {
        proxy.state.limiter.usage().in_flight == 0 && proxy.state.limiter.usage().waiting == 0
    }));
    assert!(eventually(Duration::from_secs(5), || proxy
        .state
        .stats
        .today()
        .total
        == 2));
    thread::sleep(Duration::from_millis(300));
    assert_eq!(proxy.state.stats.today().total, 2, "each call counted once");
    still_serving(&proxy);
}

/// A gzip file holding `data` in one stored (uncompressed) deflate block.
fn gzip_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    let len = data.len() as u16;
    out.push(1); // final block, stored
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&(!len).to_le_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(&crc32(data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn a_burst_of_connections_that_stay_open_is_served_at_once() {
    // Every connection of a burst that stays open is served promptly (tiny_http's pool once
    // left some queued behind open ones).
    let proxy = start(&[]);
    let t = Instant::now();
    let mut conns: Vec<Conn> = (0..40).map(|_| Conn::open(proxy.addr)).collect();
    for c in &mut conns {
        c.send("GET", "/health", &[], b"");
    }
    for c in &mut conns {
        assert_eq!(c.read_response().status, 200);
    }
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
}
