//! Test harness: the real server on 127.0.0.1:0 with the real menus and locales, a fresh data
//! directory, and a minimal HTTP/1.1 client (so tests speak the wire format a telco speaks).

#![allow(dead_code)]

pub mod catalogue_gen;
pub mod doubles;
pub mod editable;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use njia::config::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Loads and checks the menu set under `dir` (`menus/` and `locales/`), at the default limit
/// and the sw -> en fallback; panics with every problem if it does not check clean.
pub fn load(dir: &Path) -> njia::check::Loaded {
    let fallback = [njia::types::Locale::parse("sw").unwrap(), njia::types::Locale::parse("en").unwrap()];
    let (menus, locales) = (dir.join("menus"), dir.join("locales"));
    let opts = njia::check::Options::new(&menus, &locales, &fallback);
    match njia::check::load(&opts) {
        Ok(l) => l,
        Err(problems) => panic!("{} must check clean: {problems:#?}", dir.display()),
    }
}

/// The `njia` binary with none of the operator's settings: `DATABASE_URL` and every `NJIA_*`
/// variable are removed from its environment (a shell that has them set would otherwise send
/// the test to another store), so a test sets exactly what it means to.
pub fn njia() -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_njia"));
    cmd.env_remove("DATABASE_URL");
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("NJIA_") {
            cmd.env_remove(name);
        }
    }
    cmd
}

/// Runs `cmd` in the repository with `input` on its stdin; what it printed and how it ended.
pub fn run_with_stdin(mut cmd: std::process::Command, input: &str) -> std::process::Output {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = cmd
        .current_dir(repo())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the command starts");
    child.stdin.take().expect("a stdin").write_all(input.as_bytes()).expect("the input is written");
    child.wait_with_output().expect("the command ends")
}

/// A hub on the shipped menus with the given sessions, store and lookups, and the defaults a
/// hop needs (Swahili first, a 5-minute resume window, no rate limits).
pub fn hub(
    sessions: std::sync::Arc<dyn njia::session::SessionStore>,
    store: std::sync::Arc<dyn njia::store::Store>,
    lookups: std::sync::Arc<dyn njia::lookup::Lookup>,
    lookup_timeout: std::time::Duration,
) -> njia::hub::Hub {
    let loaded = load(&repo());
    njia::hub::Hub {
        menus: std::sync::Arc::new(njia::engine::serve(&loaded.menus, &loaded.catalog, |_| vec![160])),
        catalog: loaded.catalog,
        sessions,
        store,
        lookups,
        config: njia::hub::HubConfig {
            lookup_timeout,
            default_locale: njia::types::Locale::parse("sw").unwrap(),
            handoff: njia::handoff::Policy::default(),
            wake: std::sync::Arc::new(tokio::sync::Notify::new()),
            resume_window: std::time::Duration::from_secs(300),
            clock: njia::clock::Clock::System,
            behind: Default::default(),
            funnel: Default::default(),
            uses: Default::default(),
            metrics: njia::metrics::Registry::for_server(false),
        },
        limits: std::sync::Arc::new(njia::limit::RateLimits::none()),
        retired: std::sync::Arc::from([]),
    }
}

pub fn config(data_dir: &Path) -> Config {
    let root = repo();
    Config {
        data_dir: data_dir.to_path_buf(),
        menus_dir: root.join("menus"),
        locales_dir: root.join("locales"),
        lookups_dir: Some(root.join("menus/lookups")),
        ..Config::default()
    }
}

/// Land rates delivered to an agency that is down (nothing listens on port 1), and a job dead
/// at its first failure: a paid request's delivery becomes a dead letter at once.
pub fn lands_down(c: &mut Config) {
    c.backends.insert(
        "lands-down".into(),
        njia::config::BackendSection {
            base_url: "http://127.0.0.1:1".into(),
            secret_env: "T_LANDS_DOWN".into(),
            services: vec!["land-rates".into()],
            agencies: Vec::new(),
        },
    );
    c.secrets.insert("T_LANDS_DOWN".into(), "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3".into());
    c.dispatcher.max_failures = 1;
}

pub struct TestServer {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), njia::server::RunError>>>,
}

impl TestServer {
    pub async fn start(config: Config) -> TestServer {
        TestServer::start_with(config, njia::server::RunOptions::default()).await
    }

    /// Starts with run options only a test chooses, such as a manual clock for live sessions.
    pub async fn start_with(config: Config, options: njia::server::RunOptions) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        TestServer::start_on_with(listener, config, options).await
    }

    /// Starts `njia serve`'s whole server: the channels and the console at `/console`.
    pub async fn start_console(config: Config) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        TestServer::start_console_on(listener, config).await
    }

    /// As [`TestServer::start_console`], on a listener bound beforehand (one beyond
    /// loopback); `addr` is then the loopback address of its port.
    pub async fn start_console_on(listener: TcpListener, config: Config) -> TestServer {
        let bound = listener.local_addr().expect("addr");
        let addr = if bound.ip().is_unspecified() { SocketAddr::from(([127, 0, 0, 1], bound.port())) } else { bound };
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            njia::console::run(listener, &config, async {
                let _ = rx.await;
            })
            .await
        });
        TestServer::until_ready(addr, tx, task).await
    }

    /// Starts on a listener bound beforehand, for a config that must know its own address
    /// (callback URLs).
    pub async fn start_on(listener: TcpListener, config: Config) -> TestServer {
        TestServer::start_on_with(listener, config, njia::server::RunOptions::default()).await
    }

    async fn start_on_with(listener: TcpListener, config: Config, options: njia::server::RunOptions) -> TestServer {
        let addr = listener.local_addr().expect("addr");
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            njia::server::run_with(listener, &config, &options, async {
                let _ = rx.await;
            })
            .await
        });
        TestServer::until_ready(addr, tx, task).await
    }

    /// Ready once it answers: its menus are loaded and its store is open. A test that edits
    /// menu files right after starting must not race the server's own first load.
    async fn until_ready(
        addr: SocketAddr,
        tx: oneshot::Sender<()>,
        task: tokio::task::JoinHandle<Result<(), njia::server::RunError>>,
    ) -> TestServer {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while try_request(addr, "GET", "/healthz", "text/plain", "").await.is_err()
            && !task.is_finished()
            && std::time::Instant::now() < deadline
        {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        TestServer { addr, stop: Some(tx), task: Some(task) }
    }

    pub async fn post_form(&self, path: &str, body: &str) -> (u16, String) {
        self.request("POST", path, "application/x-www-form-urlencoded", body).await
    }

    pub async fn request(&self, method: &str, path: &str, content_type: &str, body: &str) -> (u16, String) {
        try_request(self.addr, method, path, content_type, body).await.expect("an HTTP exchange with the server")
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.expect("server task").expect("server ran cleanly");
        }
    }
}

/// Waits until the server `child` runs on `addr` answers `/healthz`; panics if it exits first or
/// is not up within `within` (an upper bound for a stuck machine, never a timing).
pub async fn until_up(addr: SocketAddr, child: &mut tokio::process::Child, within: std::time::Duration) {
    let deadline = tokio::time::Instant::now() + within;
    while try_request(addr, "GET", "/healthz", "text/plain", "").await.is_err() {
        assert!(child.try_wait().unwrap().is_none(), "the server exited instead of listening on {addr}");
        assert!(tokio::time::Instant::now() < deadline, "the server came up on {addr}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// One HTTP/1.1 exchange on a fresh connection; an error when the server is not there (or
/// went away mid-exchange).
pub async fn try_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    content_type: &str,
    body: &str,
) -> std::io::Result<(u16, String)> {
    exchange(addr, method, path, content_type, body).await.map(|(status, _, body)| (status, body))
}

/// As [`try_request`], with the response's head (status line and headers) too.
pub async fn exchange(
    addr: SocketAddr,
    method: &str,
    path: &str,
    content_type: &str,
    body: &str,
) -> std::io::Result<(u16, String, String)> {
    exchange_with(addr, method, path, content_type, &[], body).await
}

/// As [`exchange`], sending extra request headers.
pub async fn exchange_with(
    addr: SocketAddr,
    method: &str,
    path: &str,
    content_type: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> std::io::Result<(u16, String, String)> {
    let mut s = TcpStream::connect(addr).await?;
    let extra: String = headers.iter().map(|(k, v)| format!("{k}: {v}\r\n")).collect();
    // The address dialled, as a client writes it, unless the test sends a Host of its own.
    let host = if headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        String::new()
    } else {
        format!("Host: {addr}\r\n")
    };
    let req = format!(
        "{method} {path} HTTP/1.1\r\n{host}Content-Type: {content_type}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await?;
    let text = String::from_utf8(buf).map_err(|e| std::io::Error::other(e.to_string()))?;
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(|| std::io::Error::other("a cut-off HTTP response"))?;
    let status =
        head.split(' ').nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| std::io::Error::other("no status"))?;
    Ok((status, head.to_owned(), body.to_owned()))
}

/// The agency ids of the shipped catalogue (its `menus/catalogue/<agency>.toml` files): the
/// doubles' one agency backend delivers for all of them.
pub fn shipped_agencies() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("menus/catalogue");
    let mut ids: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok()?.path().file_stem().map(|s| s.to_string_lossy().into_owned()))
        .collect();
    ids.sort();
    ids
}

/// The inputs of the shipped land-rates walk to the payment, cumulative as Africa's Talking
/// sends them: dial, choose the language `lang`, land rates, a parcel, Pay.
pub fn paid_walk(lang: &str) -> [String; 5] {
    [
        String::new(),
        lang.to_owned(),
        format!("{lang}*1"),
        format!("{lang}*1*KAJIADO/1234"),
        format!("{lang}*1*KAJIADO/1234*1"),
    ]
}

/// Form-encodes pairs the way a telco does.
pub fn form(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish()
}

/// One Africa's Talking hop body.
/// Sends Africa's Talking hops of one session (`texts` as the cumulative `text` of each) to the
/// real server and returns each reply.
pub async fn at_walk(server: &TestServer, sid: &str, phone: &str, code: &str, texts: &[&str]) -> Vec<String> {
    let mut replies = Vec::new();
    for text in texts {
        let (status, body) = server.post_form("/ussd/africastalking", &at_hop(sid, phone, code, text)).await;
        assert_eq!(status, 200, "{body}");
        replies.push(body);
    }
    replies
}

pub fn at_hop(session: &str, phone: &str, code: &str, text: &str) -> String {
    form(&[
        ("sessionId", session),
        ("serviceCode", code),
        ("phoneNumber", phone),
        ("networkCode", "63902"),
        ("text", text),
    ])
}

// --- PostgreSQL (TEST_DATABASE_URL, default the local server; tests fail without it) ----------

/// A fresh database on the test server; dropped by `drop_database`.
pub struct TestDatabase {
    admin_url: String,
    name: String,
    pub url: String,
}

pub async fn pg_client(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.unwrap_or_else(|e| {
        let cause = std::error::Error::source(&e).map(|c| format!(" ({c})")).unwrap_or_default();
        panic!(
            "the tests need PostgreSQL and it is not reachable at {url}: {e}{cause}. Fix: start PostgreSQL on \
             127.0.0.1:5432 with trust authentication for user postgres (on Debian: `pg_ctlcluster \
             --skip-systemctl-redirect $(ls /etc/postgresql) main start`), or set TEST_DATABASE_URL to a server \
             where the user may create databases"
        )
    });
    tokio::spawn(conn);
    client
}

pub async fn create_database() -> TestDatabase {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let admin_url =
        std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let name = format!("njia_test_{}_{}", std::process::id(), N.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    let client = pg_client(&admin_url).await;
    // Two statements: several in one string would run as one transaction, which
    // CREATE/DROP DATABASE refuse.
    client.batch_execute(&format!("DROP DATABASE IF EXISTS {name}")).await.unwrap();
    client.batch_execute(&format!("CREATE DATABASE {name}")).await.unwrap();
    let mut config: tokio_postgres::Config = admin_url.parse().unwrap();
    config.dbname(&name);
    let url = pg_url(&config);
    TestDatabase { admin_url, name, url }
}

/// Rebuilds a URL from a parsed config (host, port, user, password, database).
fn pg_url(c: &tokio_postgres::Config) -> String {
    let host = c
        .get_hosts()
        .first()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(h) => h.clone(),
            #[cfg(unix)]
            tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
        })
        .unwrap_or_else(|| "127.0.0.1".into());
    let port = c.get_ports().first().copied().unwrap_or(5432);
    let user = c.get_user().unwrap_or("postgres");
    let password = c.get_password().map(|p| format!(":{}", String::from_utf8_lossy(p))).unwrap_or_default();
    format!("postgres://{user}{password}@{host}:{port}/{}", c.get_dbname().unwrap_or("postgres"))
}

pub async fn drop_database(db: TestDatabase) {
    let client = pg_client(&db.admin_url).await;
    client.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", db.name)).await.unwrap();
}
