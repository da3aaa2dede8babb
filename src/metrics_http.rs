//! The small HTTP/1.1 server behind `/metrics` and `/healthz` (`veilcam live`) and the queue
//! worker's `/metrics`: one request per connection, answered and closed.
//!
//! It is bounded so that no client can take it, or the process, down. Found by hostile use:
//! the server it replaces gave every connection a thread and two descriptors without limit or
//! timeout; ~550 idle connections that sent half a request exhausted the process's
//! descriptors, its accept thread panicked and the port closed for good, and the recorder
//! could not open its files meanwhile. Here:
//! - at most [`MAX_CONNECTIONS`] connections are open at once (one thread and one descriptor
//!   each); when they are all taken, the oldest one still sending its request is closed to
//!   make room, so a flood of idle connections cannot lock a health probe out;
//! - a request must arrive whole within [`REQUEST_TIMEOUT`] (and be at most
//!   [`MAX_REQUEST_HEAD`] bytes), a response be written within [`WRITE_TIMEOUT`];
//! - an accept error (`EMFILE`, `ENFILE`, …) is logged and retried after [`ACCEPT_RETRY`],
//!   never the end of the server; nothing on its threads panics on a client's input.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// Connections served at once; a new one beyond them closes the oldest unfinished request.
pub const MAX_CONNECTIONS: usize = 16;
/// How long a client has to send its whole request head.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(3);
/// How long the server tries to write one response.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(3);
/// Largest request head (request line and headers) read; a longer one is answered 400.
pub const MAX_REQUEST_HEAD: usize = 8 * 1024;
/// Wait after a failed accept (out of descriptors) before the next one.
pub const ACCEPT_RETRY: Duration = Duration::from_millis(100);
/// How long, and how many bytes, the unread rest of a request is read after the response.
const DRAIN_FOR: Duration = Duration::from_millis(250);
const DRAIN_MAX: usize = 64 * 1024;
/// How often the accept loop looks at the stop flag when no one connects.
const POLL_EVERY: Duration = Duration::from_millis(100);
/// A failing accept is logged at most this often.
const ACCEPT_LOG_EVERY: Duration = Duration::from_secs(10);

/// The parts of a request a handler looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request<'a> {
    /// `GET`, `HEAD`, … as sent.
    pub method: &'a str,
    /// The request target without its query (`/metrics` of `/metrics?x=1`).
    pub path: &'a str,
}

/// What a handler answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

/// Answers one request; called on the connection's thread.
pub type Handler = dyn Fn(Request<'_>) -> Response + Send + Sync + 'static;

/// A running server; stops (and closes its port) when stopped or dropped.
pub struct HttpServer {
    addr: SocketAddr,
    stopping: Arc<AtomicBool>,
    connections: Arc<Connections>,
    thread: Option<JoinHandle<()>>,
}

impl HttpServer {
    /// Listens on `addr` (port 0 picks a free port) and serves `handler` on a thread named
    /// `name`. `what` names the server in errors and logs ("metrics server").
    pub fn start(addr: SocketAddr, name: &str, what: &'static str, handler: Arc<Handler>) -> Result<Self> {
        let listen_error = |e: std::io::Error| Error::Pipeline(format!("{what}: cannot listen on {addr}: {e}"));
        let listener = TcpListener::bind(addr).map_err(listen_error)?;
        listener.set_nonblocking(true).map_err(listen_error)?;
        let addr = listener.local_addr().map_err(listen_error)?;
        let stopping = Arc::new(AtomicBool::new(false));
        let connections = Arc::new(Connections::default());
        let accept = AcceptLoop { listener, what, handler, stopping: stopping.clone(), connections: connections.clone() };
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || accept.run())
            .map_err(|e| Error::Pipeline(format!("{what}: cannot start its thread: {e}")))?;
        Ok(HttpServer { addr, stopping, connections, thread: Some(thread) })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Connections open now (for tests and logs).
    pub fn open_connections(&self) -> usize {
        self.connections.lock().open
    }

    /// Whether the accept thread still runs (it ends only when stopped).
    pub fn is_serving(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Stops accepting and returns once the port is closed; requests being read are cut.
    pub fn stop(self) {
        drop(self);
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.connections.close_unfinished();
    }
}

/// The open connections: how many, and those still reading their request (oldest first),
/// which may be closed to make room.
#[derive(Default)]
struct Connections(Mutex<ConnectionTable>);

#[derive(Default)]
struct ConnectionTable {
    /// Connections admitted and not closed to make room (those close at once: their read
    /// ends when they are shut down).
    open: usize,
    next_id: u64,
    reading: Vec<(u64, TcpStream)>,
    /// Connections closed to make room whose threads have not ended yet.
    evicted: Vec<u64>,
}

impl Connections {
    fn lock(&self) -> MutexGuard<'_, ConnectionTable> {
        // A panic elsewhere while holding the lock leaves a table that is still consistent.
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Admits `stream`, closing the oldest unfinished request when every slot is taken; `None`
    /// when there is no room (every connection is writing its response).
    fn admit(self: &Arc<Self>, stream: &TcpStream) -> Option<Slot> {
        let mut table = self.lock();
        if table.open >= MAX_CONNECTIONS {
            if table.reading.is_empty() {
                return None;
            }
            let (id, oldest) = table.reading.remove(0);
            let _ = oldest.shutdown(Shutdown::Both);
            table.evicted.push(id);
            table.open -= 1;
        }
        // A second descriptor only while the request is read, to cut it from here if needed.
        let handle = stream.try_clone().ok()?;
        let id = table.next_id;
        table.next_id += 1;
        table.open += 1;
        table.reading.push((id, handle));
        Some(Slot { id, connections: Arc::clone(self) })
    }

    fn close_unfinished(&self) {
        for (_, stream) in self.lock().reading.drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

/// One admitted connection's place; given back when dropped, whatever ends the connection.
struct Slot {
    id: u64,
    connections: Arc<Connections>,
}

impl Slot {
    /// The request is read: the connection can no longer be closed to make room.
    fn request_read(&self) {
        self.connections.lock().reading.retain(|(id, _)| *id != self.id);
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut table = self.connections.lock();
        if let Some(at) = table.evicted.iter().position(|id| *id == self.id) {
            table.evicted.swap_remove(at);
            return;
        }
        table.reading.retain(|(id, _)| *id != self.id);
        table.open -= 1;
    }
}

struct AcceptLoop {
    listener: TcpListener,
    what: &'static str,
    handler: Arc<Handler>,
    stopping: Arc<AtomicBool>,
    connections: Arc<Connections>,
}

impl AcceptLoop {
    fn run(self) {
        let mut last_logged: Option<Instant> = None;
        while !self.stopping.load(Ordering::SeqCst) {
            if !wait_readable(&self.listener, POLL_EVERY) {
                continue;
            }
            match self.listener.accept() {
                Ok((stream, peer)) => self.serve(stream, peer),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    if last_logged.is_none_or(|t| t.elapsed() >= ACCEPT_LOG_EVERY) {
                        tracing::warn!("{}: cannot accept a connection ({e}); trying again", self.what);
                        last_logged = Some(Instant::now());
                    }
                    std::thread::sleep(ACCEPT_RETRY);
                }
            }
        }
    }

    /// Hands `stream` to a thread of its own, if there is room.
    fn serve(&self, stream: TcpStream, peer: SocketAddr) {
        let Some(slot) = self.connections.admit(&stream) else {
            tracing::debug!("{}: {peer}: every connection is busy; closed", self.what);
            return;
        };
        let (handler, what) = (Arc::clone(&self.handler), self.what);
        let spawned = std::thread::Builder::new().name("veilcam-http".into()).spawn(move || {
            if let Err(e) = answer(stream, &slot, handler.as_ref()) {
                tracing::debug!("{what}: {peer}: {e}");
            }
        });
        if let Err(e) = spawned {
            // The closure, with the stream and the slot, is dropped: the connection closes.
            tracing::warn!("{}: cannot start a connection thread ({e})", self.what);
        }
    }
}

/// Waits up to `timeout` for a connection to accept.
fn wait_readable(listener: &TcpListener, timeout: Duration) -> bool {
    let mut fd = libc::pollfd { fd: listener.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    // SAFETY: one pollfd, valid for the call, on a descriptor the listener owns.
    let ready = unsafe { libc::poll(&mut fd, 1, timeout.as_millis() as libc::c_int) };
    ready > 0
}

/// Reads one request from `stream`, answers it and closes the connection.
fn answer(mut stream: TcpStream, slot: &Slot, handler: &Handler) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    let head = read_head(&mut stream)?;
    slot.request_read();
    let response = match parse_request_line(&head) {
        Some(request) => {
            let response = handler(request);
            (response, request.method == "HEAD")
        }
        None => (Response { status: 400, content_type: "text/plain; charset=utf-8", body: "bad request\n".into() }, false),
    };
    stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
    stream.write_all(&encode(&response.0, response.1))?;
    stream.flush()?;
    let _ = stream.shutdown(Shutdown::Write);
    drain(&mut stream);
    Ok(())
}

/// Reads briefly what the client sent beyond the head (a body, the rest of a head too long):
/// closing with it unread would reset the connection and could lose the response on its way.
fn drain(stream: &mut TcpStream) {
    let deadline = Instant::now() + DRAIN_FOR;
    let mut buf = [0u8; 4096];
    let mut left = DRAIN_MAX;
    while left > 0 {
        let wait = deadline.saturating_duration_since(Instant::now());
        if wait.is_zero() || stream.set_read_timeout(Some(wait)).is_err() {
            return;
        }
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => left = left.saturating_sub(n),
        }
    }
}

/// The request head (up to the blank line), read within [`REQUEST_TIMEOUT`] in all.
fn read_head(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let deadline = Instant::now() + REQUEST_TIMEOUT;
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "request not complete in time"));
        }
        stream.set_read_timeout(Some(left))?;
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "closed before the end of the request"));
        }
        head.extend_from_slice(&buf[..n]);
        if let Some(end) = head_end(&head) {
            head.truncate(end);
            return Ok(head);
        }
        if head.len() > MAX_REQUEST_HEAD {
            // Answered 400 by the caller: the request line cannot be trusted.
            head.clear();
            return Ok(head);
        }
    }
}

/// Where the head ends (the blank line after the headers), if it has.
fn head_end(bytes: &[u8]) -> Option<usize> {
    let crlf = bytes.windows(4).position(|w| w == b"\r\n\r\n");
    let lf = bytes.windows(2).position(|w| w == b"\n\n");
    crlf.into_iter().chain(lf).min()
}

/// `METHOD TARGET HTTP/x.y` → method and path (the target without its query).
fn parse_request_line(head: &[u8]) -> Option<Request<'_>> {
    let line = head.split(|&b| b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?.trim_end_matches('\r');
    let mut parts = line.split(' ');
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || method.is_empty() || !version.starts_with("HTTP/") {
        return None;
    }
    Some(Request { method, path: target.split('?').next().unwrap_or("") })
}

/// The response bytes; `head_only` (a `HEAD` request) leaves out the body.
fn encode(response: &Response, head_only: bool) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        response.status,
        reason(response.status),
        response.content_type,
        response.body.len()
    )
    .into_bytes();
    if !head_only {
        out.extend_from_slice(response.body.as_bytes());
    }
    out
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        503 => "Service Unavailable",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello() -> Arc<Handler> {
        Arc::new(|request: Request<'_>| match request.path {
            "/healthz" => Response { status: 200, content_type: "application/json", body: "{}\n".into() },
            _ => Response { status: 404, content_type: "text/plain; charset=utf-8", body: "no\n".into() },
        })
    }

    fn get(addr: SocketAddr, path: &str) -> std::io::Result<String> {
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
        stream.set_read_timeout(Some(Duration::from_secs(2)))?;
        write!(stream, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n")?;
        let mut reply = String::new();
        stream.read_to_string(&mut reply)?;
        Ok(reply)
    }

    #[test]
    fn requests_are_parsed_into_method_and_path_without_query() {
        assert_eq!(parse_request_line(b"GET /metrics?x=1 HTTP/1.1"), Some(Request { method: "GET", path: "/metrics" }));
        assert_eq!(parse_request_line(b"HEAD /healthz HTTP/1.0\r\nHost: x"), Some(Request { method: "HEAD", path: "/healthz" }));
        for bad in [&b"GET /metrics"[..], b"", b"GET / HTTP/1.1 extra", b"\xff / HTTP/1.1"] {
            assert_eq!(parse_request_line(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_head_request_gets_the_headers_without_the_body() {
        let response = Response { status: 200, content_type: "text/plain", body: "hello".into() };
        let full = String::from_utf8(encode(&response, false)).unwrap();
        let head = String::from_utf8(encode(&response, true)).unwrap();
        assert!(full.starts_with("HTTP/1.1 200 OK\r\n") && full.ends_with("\r\n\r\nhello"), "{full}");
        assert!(head.contains("Content-Length: 5\r\n") && head.ends_with("\r\n\r\n"), "{head}");
    }

    /// Found by hostile use: idle connections that sent half a request and never finished it
    /// piled up without limit until the process ran out of descriptors and the server died.
    #[test]
    fn idle_half_requests_beyond_the_cap_do_not_lock_out_a_health_probe() {
        let server = HttpServer::start("127.0.0.1:0".parse().unwrap(), "test-http", "test server", hello()).unwrap();
        let addr = server.local_addr();
        let idle: Vec<TcpStream> = (0..MAX_CONNECTIONS * 4)
            .map(|_| {
                let mut s = TcpStream::connect(addr).unwrap();
                s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").unwrap();
                s
            })
            .collect();
        // While every idle one is still open, a whole request is answered at once.
        let began = Instant::now();
        let reply = get(addr, "/healthz").unwrap();
        assert!(reply.starts_with("HTTP/1.1 200 OK\r\n") && reply.ends_with("{}\n"), "{reply}");
        assert!(began.elapsed() < Duration::from_secs(1), "took {:?}", began.elapsed());
        assert!(server.open_connections() <= MAX_CONNECTIONS, "{} open", server.open_connections());
        // The idle ones are cut after the request timeout; the server goes on.
        let deadline = Instant::now() + REQUEST_TIMEOUT + Duration::from_secs(5);
        while server.open_connections() > 0 {
            assert!(Instant::now() < deadline, "{} still open", server.open_connections());
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(server.is_serving());
        assert!(get(addr, "/nothing").unwrap().starts_with("HTTP/1.1 404 Not Found\r\n"));
        drop(idle);
    }

    #[test]
    fn a_request_head_too_long_is_answered_400() {
        let server = HttpServer::start("127.0.0.1:0".parse().unwrap(), "test-http", "test server", hello()).unwrap();
        let reply = get(server.local_addr(), &format!("/{}", "a".repeat(MAX_REQUEST_HEAD * 2))).unwrap();
        assert!(reply.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{reply}");
    }

    #[test]
    fn stopping_closes_the_port_at_once() {
        let server = HttpServer::start("127.0.0.1:0".parse().unwrap(), "test-http", "test server", hello()).unwrap();
        let addr = server.local_addr();
        let _idle = TcpStream::connect(addr).unwrap();
        let began = Instant::now();
        server.stop();
        assert!(began.elapsed() < Duration::from_secs(1), "stop took {:?}", began.elapsed());
        assert!(TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err(), "{addr} still accepts");
    }
}
