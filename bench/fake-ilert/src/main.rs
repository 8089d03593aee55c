//! A fake ilert for the benchmarks: answers every request on 127.0.0.1 in microseconds, so the
//! benchmarks measure the client, not the fake (the Python fake it replaces cost ~0.35 ms a
//! request). HTTP/1.1 with keep-alive, one thread per connection, std only.
//!
//! Answers: `202 Accepted` (empty body) to everything, except
//! - for an integration key containing `stuck`: `503` with `Retry-After: 3600` (the event stays
//!   queued, held for an hour: nothing of it becomes due during a benchmark);
//! - in `fail` mode: a plain `503` (the event stays queued in our own backoff, which `flush`
//!   does not wait for);
//! - `POST /_mode/accept` and `POST /_mode/fail` switch the mode; `GET /_stats` returns
//!   `accepted refused` (counts of event requests so far).
//!
//! Usage: `fake-ilert [PORT_FILE]`: binds port 0, writes the port to PORT_FILE (or stdout),
//! serves until killed.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// An answer: status line, optional `Retry-After` seconds, body.
struct Reply {
    status: &'static str,
    retry_after: Option<u32>,
    body: String,
}

impl Reply {
    fn new(status: &'static str, body: String) -> Reply {
        Reply {
            status,
            retry_after: None,
            body,
        }
    }
}

#[derive(Default)]
struct State {
    failing: AtomicBool,
    accepted: AtomicU64,
    refused: AtomicU64,
}

fn main() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let port = listener.local_addr().expect("local address").port();
    match std::env::args().nth(1) {
        Some(path) => {
            let tmp = format!("{path}.tmp");
            std::fs::write(&tmp, format!("{port}\n")).expect("write port file");
            std::fs::rename(&tmp, &path).expect("rename port file");
        }
        None => println!("{port}"),
    }
    let state = Arc::new(State::default());
    for stream in listener.incoming().flatten() {
        let state = Arc::clone(&state);
        std::thread::spawn(move || {
            let _ = serve(stream, &state);
        });
    }
}

/// Serves requests on one connection until the client closes it.
fn serve(stream: TcpStream, state: &State) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let request_line = line.trim_end().to_string();
        let mut length = 0usize;
        let mut close = false;
        loop {
            line.clear();
            if reader.read_line(&mut line)? == 0 {
                return Ok(());
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                let value = value.trim();
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.parse().unwrap_or(0);
                } else if name.eq_ignore_ascii_case("connection") {
                    close = value.eq_ignore_ascii_case("close");
                }
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        let r = answer(&request_line, &body, state);
        let reply = format!(
            "HTTP/1.1 {}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n{}{}\r\n{}",
            r.status,
            r.body.len(),
            r.retry_after
                .map(|s| format!("Retry-After: {s}\r\n"))
                .unwrap_or_default(),
            if close { "Connection: close\r\n" } else { "" },
            r.body
        );
        writer.write_all(reply.as_bytes())?;
        if close {
            return Ok(());
        }
    }
}

fn answer(request_line: &str, body: &[u8], state: &State) -> Reply {
    let mut words = request_line.split(' ');
    let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    match (method, path) {
        ("POST", "/_mode/accept") => {
            state.failing.store(false, Ordering::SeqCst);
            Reply::new("200 OK", String::new())
        }
        ("POST", "/_mode/fail") => {
            state.failing.store(true, Ordering::SeqCst);
            Reply::new("200 OK", String::new())
        }
        ("GET", "/_stats") => Reply::new(
            "200 OK",
            format!(
                "{} {}\n",
                state.accepted.load(Ordering::SeqCst),
                state.refused.load(Ordering::SeqCst)
            ),
        ),
        _ if path.contains("stuck") || contains(body, b"stuck") => {
            state.refused.fetch_add(1, Ordering::SeqCst);
            Reply {
                retry_after: Some(3600),
                ..Reply::new("503 Service Unavailable", String::new())
            }
        }
        _ if state.failing.load(Ordering::SeqCst) => {
            state.refused.fetch_add(1, Ordering::SeqCst);
            Reply::new("503 Service Unavailable", String::new())
        }
        _ => {
            state.accepted.fetch_add(1, Ordering::SeqCst);
            Reply::new("202 Accepted", String::new())
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
