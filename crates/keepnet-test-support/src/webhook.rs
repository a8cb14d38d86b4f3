//! A real HTTP/1.1 receiver for the webhook tests: listens on 127.0.0.1 (a free port), records
//! each request and answers from a script. It runs on its own thread with its own runtime and
//! stops when dropped. Shared by the webhook crate's tests and the end-to-end tests, so there is
//! one harness. The listener is bound here and kept: no port is released and bound again.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// The longest a connection is kept open (a hanging answer, a stalled request).
const MAX_CONNECTION: Duration = Duration::from_secs(60);

/// The largest request recorded (larger ones are answered 413).
const MAX_REQUEST: usize = 4 * 1024 * 1024;

/// One request as received.
#[derive(Debug, Clone)]
pub struct Request {
    /// `POST`.
    pub method: String,
    /// The request target: path and query, e.g. `/hook?token=x`.
    pub path: String,
    /// Headers in order, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Request {
    /// The first header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON (panics when it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// How the receiver answers one request.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// Extra headers (`Retry-After`, `Location`).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// Never answer: keep the connection open until the receiver stops.
    pub hang: bool,
    /// After the headers, send this body without end (a hostile server).
    pub endless: bool,
}

impl Answer {
    /// `status` with an empty body.
    pub fn status(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            hang: false,
            endless: false,
        }
    }

    /// `200 OK` with body `ok` (as Slack answers).
    pub fn ok() -> Self {
        Self::status(200).body("ok")
    }

    /// Reads the request, then never answers.
    pub fn hang() -> Self {
        Self {
            hang: true,
            ..Self::status(200)
        }
    }

    /// `status`, then a body that never ends.
    pub fn endless(status: u16) -> Self {
        Self {
            endless: true,
            ..Self::status(status)
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }
}

/// A running receiver. Answers its script in order, then `200 ok` to anything more.
pub struct Receiver {
    /// Its port on 127.0.0.1.
    pub port: u16,
    requests: Arc<Mutex<Vec<Request>>>,
    stop: watch::Sender<bool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Receiver {
    /// Starts a receiver answering `script` in order.
    pub fn start(script: Vec<Answer>) -> Self {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        std_listener.set_nonblocking(true).unwrap();
        let port = std_listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (stop, stopped) = watch::channel(false);
        let script = Arc::new(Mutex::new(script.into_iter()));
        let recorded = Arc::clone(&requests);
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = TcpListener::from_std(std_listener).unwrap();
                let mut stop_accept = stopped.clone();
                loop {
                    tokio::select! {
                        _ = stop_accept.changed() => break,
                        accepted = listener.accept() => {
                            let Ok((stream, _)) = accepted else { continue };
                            let answer = script.lock().unwrap().next().unwrap_or_else(Answer::ok);
                            let recorded = Arc::clone(&recorded);
                            let mut stop_conn = stopped.clone();
                            tokio::spawn(async move {
                                tokio::select! {
                                    _ = stop_conn.changed() => {}
                                    _ = tokio::time::sleep(MAX_CONNECTION) => {}
                                    _ = serve(stream, answer, recorded) => {}
                                }
                            });
                        }
                    }
                }
            });
            // Dropping the runtime cancels the connections still open.
        });
        Self {
            port,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT` followed by `path` (e.g. `/hook`).
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The requests received so far, in order.
    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Reads one request (headers, then a `Content-Length` body), records it and answers.
async fn serve(mut stream: TcpStream, answer: Answer, recorded: Arc<Mutex<Vec<Request>>>) {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if buffer.len() > MAX_REQUEST {
            return;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or("").split(' ');
    let method = first.next().unwrap_or("").to_owned();
    let path = first.next().unwrap_or("").to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    if length > MAX_REQUEST {
        let _ = stream
            .write_all(
                b"HTTP/1.1 413 Payload Too Large\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
            )
            .await;
        return;
    }
    let mut body = buffer[head_end + 4..].to_vec();
    while body.len() < length {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => body.extend_from_slice(&chunk[..n]),
        }
    }
    body.truncate(length);
    recorded.lock().unwrap().push(Request {
        method,
        path,
        headers,
        body,
    });
    if answer.hang {
        std::future::pending::<()>().await;
    }
    let mut head = format!(
        "HTTP/1.1 {} Scripted\r\nconnection: close\r\n",
        answer.status
    );
    for (name, value) in &answer.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if !answer.endless {
        head.push_str(&format!("content-length: {}\r\n", answer.body.len()));
    }
    head.push_str("\r\n");
    if stream.write_all(head.as_bytes()).await.is_err() {
        return;
    }
    if answer.endless {
        let block = vec![b'x'; 64 * 1024];
        while stream.write_all(&block).await.is_ok() {}
    } else {
        let _ = stream.write_all(&answer.body).await;
        let _ = stream.shutdown().await;
    }
}
