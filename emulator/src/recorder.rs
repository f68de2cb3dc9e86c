//! A second loopback server that only records: where a hostile answer (`Fault::Redirect`)
//! sends a client, so a test can see what arrived there — and assert the key never did.
//!
//! It reads each connection's bytes (request line, headers and body, raw), answers
//! `200 {}` and closes. Like the emulator it binds 127.0.0.1 only and stops when dropped.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

pub struct Recorder {
    addr: std::net::SocketAddr,
    seen: Arc<Mutex<Vec<Vec<u8>>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Recorder {
    /// Starts on a random loopback port.
    ///
    /// # Panics
    /// If no port can be bound — tests cannot go on then.
    pub fn start() -> Recorder {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind the recorder");
        listener
            .set_nonblocking(true)
            .expect("a non-blocking listener");
        let addr = listener.local_addr().expect("the recorder's address");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (seen, stop) = (seen.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((mut conn, _)) => {
                            let bytes = read_request(&mut conn);
                            seen.lock().unwrap_or_else(|p| p.into_inner()).push(bytes);
                            let _ = conn.write_all(
                                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}",
                            );
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(5)),
                    }
                }
            })
        };
        Recorder {
            addr,
            seen,
            stop,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request received so far, raw.
    pub fn requests(&self) -> Vec<Vec<u8>> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Whether any request held `needle` anywhere (request line, headers or body).
    pub fn saw(&self, needle: &[u8]) -> bool {
        !needle.is_empty()
            && self
                .requests()
                .iter()
                .any(|r| r.windows(needle.len()).any(|w| w == needle))
    }
}

/// Reads what the client sends until it pauses (the whole of a small request).
fn read_request(conn: &mut std::net::TcpStream) -> Vec<u8> {
    let _ = conn.set_nonblocking(false);
    let _ = conn.set_read_timeout(Some(Duration::from_millis(300)));
    let mut out = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    while out.len() < 64 * 1024 * 1024 {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    out
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
