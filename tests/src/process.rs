//! The real `orders-server` binary as a child process, for what only a
//! process shows: start-up failures, signals, crashes, several processes.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Builds `orders-server` once per test process (a no-op when it is fresh)
/// and returns its path. The whole workspace is selected so the features of
/// shared dependencies match `cargo test --workspace`'s, and the two builds
/// do not keep invalidating each other.
pub fn server_binary() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
            let status =
                Command::new(cargo).args(["build", "--quiet", "--workspace", "--bins"]).status().expect("cargo runs");
            assert!(status.success(), "building orders-server failed");
            // target/<profile>/deps/<test binary> → target/<profile>/orders-server
            let exe = std::env::current_exe().expect("test binary path");
            let profile_dir = exe.parent().and_then(|deps| deps.parent()).expect("target/<profile>");
            profile_dir.join("orders-server")
        })
        .clone()
}

/// Whether the tests run as root.
pub(crate) fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

/// A new, empty folder for a server process to run in (its SQLite file, its
/// `data/`), named after the test that asked for it.
pub fn temp_dir(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("orders-{tag}-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A running `orders-server` whose output is collected.
pub struct ServerProcess {
    child: Child,
    pub port: u16,
    output: Arc<Mutex<String>>,
    /// Its `DATABASE_URL`, with a relative SQLite path made absolute.
    database_url: String,
}

impl ServerProcess {
    /// Starts the binary in `dir` with exactly these environment variables
    /// (plus PATH) and a free `BIND_ADDR`.
    pub fn start(dir: &std::path::Path, vars: &[(&str, &str)]) -> Self {
        Self::spawn(Command::new(server_binary()), dir, vars)
    }

    /// [`ServerProcess::start`] as a user that file permissions apply to:
    /// `nobody` when the tests run as root, who ignores them.
    pub fn start_unprivileged(dir: &std::path::Path, vars: &[(&str, &str)]) -> Self {
        if !is_root() {
            return Self::start(dir, vars);
        }
        let mut command = Command::new("setpriv");
        command.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"]).arg(server_binary());
        Self::spawn(command, dir, vars)
    }

    fn spawn(mut command: Command, dir: &std::path::Path, vars: &[(&str, &str)]) -> Self {
        let port = free_port();
        command
            .current_dir(dir)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("BIND_ADDR", format!("127.0.0.1:{port}"))
            .env("HTTP_WORKERS", "2")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (name, value) in vars {
            command.env(name, value);
        }
        let database_url =
            vars.iter().find(|(name, _)| *name == "DATABASE_URL").map_or("sqlite://data/orders.db", |v| v.1);
        let database_url = match database_url.strip_prefix("sqlite://") {
            Some(path) if !path.starts_with('/') => format!("sqlite://{}", dir.join(path).display()),
            _ => database_url.to_owned(),
        };
        let mut child = command.spawn().expect("orders-server starts");
        let output = Arc::new(Mutex::new(String::new()));
        for stream in [
            child.stdout.take().map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            child.stderr.take().map(|s| Box::new(s) as _),
        ]
        .into_iter()
        .flatten()
        {
            let output = output.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let mut all = output.lock().unwrap();
                    all.push_str(&line);
                    all.push('\n');
                }
            });
        }
        Self { child, port, output, database_url }
    }

    /// A client for it, with a key to its database (every scope).
    pub fn api(&self) -> crate::Api {
        crate::Api::new(format!("http://127.0.0.1:{}", self.port)).with_key(crate::keys::key_for(&self.database_url))
    }

    /// Waits until `/health/ready` answers 200 and the server accepts the
    /// harness's key (it loads keys made elsewhere every 2 s).
    pub async fn wait_ready(&self) {
        let api = crate::Api::new(format!("http://127.0.0.1:{}", self.port));
        crate::eventually("the server to be ready", async || {
            let ready = api.client_get_status("/health/ready").await;
            (ready == Some(200)).then_some(())
        })
        .await;
        self.api().wait_for_key().await;
    }

    /// Everything it printed so far.
    pub fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// Waits until it printed a line containing `text`. Async, so servers the
    /// test runs on its own runtime (an SMTP sink) keep answering meanwhile.
    pub async fn wait_for_output(&self, text: &str) {
        self.wait_for_line(&[text]).await;
    }

    /// Waits until it printed one line containing all of `texts`.
    pub async fn wait_for_line(&self, texts: &[&str]) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.output().lines().any(|line| texts.iter().all(|t| line.contains(t))) {
            assert!(Instant::now() < deadline, "no line with {texts:?} in the output:\n{}", self.output());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits for the process to exit by itself.
    pub async fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // Let the reader threads drain the pipes.
                tokio::time::sleep(Duration::from_millis(50)).await;
                return status;
            }
            assert!(Instant::now() < deadline, "process did not exit:\n{}", self.output());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Sends a signal (`TERM`, `KILL`, `INT`).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill").arg(format!("-{name}")).arg(self.child.id().to_string()).status().unwrap();
        assert!(status.success());
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
