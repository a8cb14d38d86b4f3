//! A deliberately misbehaving Keepnet stand-in on loopback, for the hostile-server suite.
//!
//! It speaks just enough HTTP/1.1 (one request per connection, `Connection: close`) to issue a
//! token, list one company and serve user pages, and each [`Mode`] makes one thing go wrong the
//! way an attacker or a broken proxy would. Every request it receives is recorded, so a test
//! can prove what the client did or did not send. It binds 127.0.0.1 only and stops when
//! dropped.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// The one company the stand-in manages.
pub const COMPANY_ID: &str = "HostileCo0001";
/// Its name.
pub const COMPANY_NAME: &str = "Hostile Co";
/// The client id and secret it accepts.
pub const CLIENT_ID: &str = "hostile-client";
/// The secret: any request body or header carrying it is a leak if sent elsewhere.
pub const CLIENT_SECRET: &str = "S3cret-hostile-value";
/// The access token it issues.
pub const TOKEN: &str = "hostile-token-0123456789";

/// One request as received.
#[derive(Debug, Clone)]
pub struct Request {
    /// `GET`, `POST`...
    pub method: String,
    /// The path and query.
    pub path: String,
    /// Header lines, names lowercased.
    pub headers: Vec<(String, String)>,
    /// The body as text (lossy).
    pub body: String,
    /// When it arrived.
    pub at: std::time::Instant,
}

impl Request {
    /// A header's value, by lowercase name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// An answer: status, headers and body.
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl Answer {
    /// A JSON answer.
    pub fn json(status: u16, body: serde_json::Value) -> Self {
        Self {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: body.to_string().into_bytes(),
        }
    }

    /// A redirect to `location`.
    pub fn redirect(status: u16, location: &str) -> Self {
        Self {
            status,
            headers: vec![("Location".into(), location.into())],
            body: Vec::new(),
        }
    }
}

/// How the stand-in misbehaves.
#[derive(Debug, Clone)]
pub enum Mode {
    /// Behaves: a token, one company of `users` users, pages of `page` users.
    Honest { users: usize, page: usize },
    /// `/connect/token` answers `status` with a redirect to `to`.
    RedirectToken { status: u16, to: String },
    /// Honest, except that `target-users/search` answers a 307 to `to`.
    RedirectSearch { to: String },
    /// Honest, except that the token's `expires_in` is 2^63 seconds.
    HugeExpiry,
    /// Honest, except that the first `times` user searches answer 503 with
    /// `Retry-After: {seconds}`.
    Unavailable { times: usize, seconds: u64 },
    /// The company's name and the search's 400 message carry terminal control sequences.
    Escapes,
    /// Honest, except that the server-side export's file name is 300 characters long.
    LongExportName,
    /// The user search answers 200 with a cut-off JSON body full of personal data.
    Truncated,
    /// Honest 25 users in pages of 10, but every page claims 10^9 pages (empty after the 3rd).
    EndlessPages,
    /// companies/search serves the same company on every page and claims 10^9 pages and
    /// records.
    EndlessCompanies,
    /// 250 users in pages of 100 whose pages contradict their own totals as `lie` says, during
    /// the first `sweeps` reads of every page (a read begins with a page-1 request for more
    /// than one user); honest after.
    Lying { lie: Lie, sweeps: usize },
}

/// How the user pages lie, in [`Mode::Lying`].
#[derive(Debug, Clone, Copy)]
pub enum Lie {
    /// Page 2 comes back empty (the totals still say 250).
    EmptyPage,
    /// Every page announces 2 pages for 250 users at 100 per page.
    ShortPageCount,
    /// Page 3 serves page 2's users again.
    RepeatedPage,
}

/// Users in [`Mode::Lying`].
pub const LYING_USERS: usize = 250;

/// A name that would clear the screen, retitle the terminal and ring its bell if printed raw.
pub const ESCAPING_NAME: &str = "Evil\u{1b}[2J\u{1b}]0;pwned\u{7}Co";

/// A running stand-in.
pub struct Hostile {
    /// Its base URL, `http://127.0.0.1:PORT`.
    pub url: String,
    requests: Arc<Mutex<Vec<Request>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Hostile {
    /// Starts the stand-in in `mode` on a free loopback port.
    pub fn start(mode: Mode) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (recorded, stopping) = (requests.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !stopping.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let (mode, recorded) = (mode.clone(), recorded.clone());
                        std::thread::spawn(move || serve(stream, &mode, &recorded));
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err(_) => break,
                }
            }
        });
        Self {
            url,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for Hostile {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(stream: TcpStream, mode: &Mode, recorded: &Mutex<Vec<Request>>) {
    let seen = |path: &str| {
        recorded
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path.starts_with(path))
            .count()
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let Some(request) = read_request(&stream) else {
        return;
    };
    let earlier = seen(request.path.split('?').next().unwrap_or(""));
    recorded.lock().unwrap().push(request.clone());
    let sweep = recorded
        .lock()
        .unwrap()
        .iter()
        .filter(|r| starts_a_sweep(r))
        .count();
    let answer = answer(mode, &request, earlier, sweep);
    let mut out = stream;
    let reason = match answer.status {
        200 => "OK",
        301 => "Moved Permanently",
        302 => "Found",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        503 => "Service Unavailable",
        _ => "Status",
    };
    let mut head = format!(
        "HTTP/1.1 {} {reason}\r\nContent-Length: {}\r\nConnection: close\r\n",
        answer.status,
        answer.body.len()
    );
    for (k, v) in &answer.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let _ = out.write_all(head.as_bytes());
    let _ = out.write_all(&answer.body);
    let _ = out.flush();
}

fn read_request(stream: &TcpStream) -> Option<Request> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next()?.to_owned(), parts.next()?.to_owned());
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
    }
    let length: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length.min(1 << 20)];
    reader.read_exact(&mut body).ok()?;
    Some(Request {
        method,
        path,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
        at: std::time::Instant::now(),
    })
}

fn envelope(data: serde_json::Value) -> serde_json::Value {
    serde_json::json!({"data": data, "status": "SUCCESS", "message": null, "validationMessages": null})
}

/// The honest answers: a token, one company, user pages.
fn honest(request: &Request, users: usize, page: usize) -> Answer {
    let path = request.path.split('?').next().unwrap_or("");
    match path {
        "/connect/token" => Answer::json(
            200,
            serde_json::json!({"access_token": TOKEN, "expires_in": 3600, "token_type": "Bearer", "scope": "api1"}),
        ),
        "/api/companies/search" => Answer::json(
            200,
            envelope(serde_json::json!({
                "pageNumber": 1, "pageSize": 50, "totalNumberOfPages": 1, "totalNumberOfRecords": 1,
                "results": [{"companyResourceId": COMPANY_ID, "companyName": COMPANY_NAME,
                             "targetUserCount": users, "inactiveTargetUserCount": 0,
                             "deletedTargetUserCount": 0, "children": []}]
            })),
        ),
        p if p.starts_with("/api/companies/") => Answer::json(
            200,
            envelope(
                serde_json::json!({"resourceId": COMPANY_ID, "name": COMPANY_NAME,
                                         "dateFormat": "DD/MM/YYYY", "timeFormat": "24h"}),
            ),
        ),
        "/api/target-users/search/export" => {
            let mut csv = String::from("First Name,Last Name,Email\r\n");
            for i in 0..users {
                csv.push_str(&format!("Person,{i},person{i}@hostile.example\r\n"));
            }
            Answer {
                status: 200,
                headers: vec![
                    ("Content-Type".into(), "text/csv".into()),
                    (
                        "Content-Disposition".into(),
                        "attachment; filename=\"TargetUsers.csv\"".into(),
                    ),
                ],
                body: csv.into_bytes(),
            }
        }
        "/api/target-users/search" => {
            let body: serde_json::Value =
                serde_json::from_str(&request.body).unwrap_or(serde_json::Value::Null);
            let number = body["pageNumber"].as_u64().unwrap_or(1) as usize;
            let size = page
                .min(body["pageSize"].as_u64().unwrap_or(page as u64) as usize)
                .max(1);
            let start = (number - 1) * size;
            let results: Vec<serde_json::Value> =
                (start..users.min(start + size)).map(user).collect();
            Answer::json(
                200,
                envelope(serde_json::json!({
                    "pageNumber": number, "pageSize": size,
                    "totalNumberOfPages": users.div_ceil(size), "totalNumberOfRecords": users,
                    "results": results
                })),
            )
        }
        _ => Answer::json(404, serde_json::json!({"status": "NOT_FOUND"})),
    }
}

/// User `i` of the stand-in's company.
pub fn user(i: usize) -> serde_json::Value {
    serde_json::json!({
        "resourceId": format!("hostileuser{i:04}"), "email": format!("person{i}@hostile.example"),
        "firstName": "Person", "lastName": format!("{i}"), "status": "Active", "isDeleted": false,
        "createTime": "2024-03-05T10:15:30.000Z"
    })
}

/// Whether `request` asks for page 1 of the users, more than one at a time: the start of a
/// read of every page (the pager's closing probe asks for one user).
fn starts_a_sweep(request: &Request) -> bool {
    let body: serde_json::Value = serde_json::from_str(&request.body).unwrap_or_default();
    request.path == "/api/target-users/search"
        && body["pageNumber"].as_u64() == Some(1)
        && body["pageSize"].as_u64().is_some_and(|n| n > 1)
}

/// An honest user page of [`Mode::Lying`], then bent as `lie` says.
fn lying(request: &Request, lie: Lie) -> Answer {
    let honest_page = honest(request, LYING_USERS, 100);
    let mut page: serde_json::Value = serde_json::from_slice(&honest_page.body).unwrap();
    let number = page["data"]["pageNumber"].as_u64().unwrap_or(1);
    let data = &mut page["data"];
    match lie {
        Lie::EmptyPage if number == 2 => data["results"] = serde_json::json!([]),
        Lie::ShortPageCount => data["totalNumberOfPages"] = 2.into(),
        Lie::RepeatedPage if number == 3 => {
            data["results"] = (100..200).map(user).collect::<Vec<_>>().into();
        }
        _ => {}
    }
    Answer::json(200, page)
}

/// The answer to `request`, `earlier` being how many requests to its path came before it and
/// `sweep` how many reads of every page have begun.
fn answer(mode: &Mode, request: &Request, earlier: usize, sweep: usize) -> Answer {
    let path = request.path.split('?').next().unwrap_or("");
    match mode {
        Mode::Lying { lie, sweeps } if path == "/api/target-users/search" && sweep <= *sweeps => {
            lying(request, *lie)
        }
        Mode::Lying { .. } => honest(request, LYING_USERS, 100),
        Mode::HugeExpiry if path == "/connect/token" => Answer::json(
            200,
            serde_json::json!({"access_token": TOKEN, "expires_in": 1u64 << 63, "token_type": "Bearer"}),
        ),
        Mode::HugeExpiry => honest(request, 3, 10),
        Mode::Unavailable { times, seconds }
            if path == "/api/target-users/search" && earlier < *times =>
        {
            Answer {
                status: 503,
                headers: vec![("Retry-After".into(), seconds.to_string())],
                body: b"Service Unavailable".to_vec(),
            }
        }
        Mode::Unavailable { .. } => honest(request, 3, 10),
        Mode::Escapes if path == "/api/companies/search" => {
            let mut answer = honest(request, 3, 10);
            let text = String::from_utf8(answer.body).unwrap();
            answer.body = text
                .replace(
                    COMPANY_NAME,
                    &ESCAPING_NAME
                        .replace('\u{1b}', "\\u001b")
                        .replace('\u{7}', "\\u0007"),
                )
                .into_bytes();
            answer
        }
        Mode::Escapes if path == "/api/target-users/search" => Answer::json(
            400,
            serde_json::json!({"status": "INPUT_ERROR", "message": format!("bad {ESCAPING_NAME} input"), "data": null}),
        ),
        Mode::Escapes => honest(request, 3, 10),
        Mode::LongExportName if path == "/api/target-users/search/export" => {
            let mut answer = honest(request, 3, 10);
            let name = format!("TargetUsers_{}.csv", "Çok uzun bir şirket adı ".repeat(12));
            let encoded: String = name
                .bytes()
                .map(|b| match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' => {
                        (b as char).to_string()
                    }
                    _ => format!("%{b:02X}"),
                })
                .collect();
            answer.headers[1].1 =
                format!("attachment; filename=\"TargetUsers.csv\"; filename*=UTF-8''{encoded}");
            answer
        }
        Mode::LongExportName => honest(request, 3, 10),
        Mode::Truncated if path == "/api/target-users/search" => Answer {
            status: 200,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: br#"{"data":{"pageNumber":1,"totalNumberOfRecords":3,"results":[{"email":"victim@secret-corp.example","phoneNumber":"+90 532 111 22 33","firstName":"Ay"#.to_vec(),
        },
        Mode::Truncated => honest(request, 3, 10),
        Mode::EndlessPages if path == "/api/target-users/search" => {
            let mut answer = honest(request, 25, 10);
            let mut v: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
            v["data"]["totalNumberOfPages"] = 1_000_000_000u64.into();
            answer.body = v.to_string().into_bytes();
            answer
        }
        Mode::EndlessPages => honest(request, 25, 10),
        Mode::EndlessCompanies if path == "/api/companies/search" => {
            let mut answer = honest(request, 3, 10);
            let mut v: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
            v["data"]["totalNumberOfPages"] = 1_000_000_000u64.into();
            v["data"]["totalNumberOfRecords"] = 1_000_000_000u64.into();
            answer.body = v.to_string().into_bytes();
            answer
        }
        Mode::EndlessCompanies => honest(request, 3, 10),
        Mode::Honest { users, page } => honest(request, *users, *page),
        Mode::RedirectToken { status, to } if path == "/connect/token" => {
            Answer::redirect(*status, &format!("{to}/connect/token"))
        }
        Mode::RedirectToken { .. } => honest(request, 3, 10),
        Mode::RedirectSearch { to } if path == "/api/target-users/search" => {
            Answer::redirect(307, &format!("{to}/api/target-users/search"))
        }
        Mode::RedirectSearch { .. } => honest(request, 3, 10),
    }
}
