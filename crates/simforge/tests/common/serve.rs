//! A `simforge serve` process on the test PostgreSQL, in a schema of its own
//! (dropped at the end), on a free port, for the tests that drive the server
//! and its clients as processes (`tests/server.rs`, `tests/push.rs`).

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_simforge");

/// The test database URL, or `None` (skip) when none is configured; with
/// `SIMFORGE_REQUIRE_SERVICES=1` a missing one fails the test instead.
pub fn pg_url() -> Option<String> {
    match std::env::var("SIMFORGE_TEST_POSTGRES_URL") {
        Ok(u) if !u.trim().is_empty() => Some(u),
        _ if std::env::var("SIMFORGE_REQUIRE_SERVICES").as_deref() == Ok("1") => {
            panic!("SIMFORGE_REQUIRE_SERVICES=1 but SIMFORGE_TEST_POSTGRES_URL is not set")
        }
        _ => {
            eprintln!("skipping: SIMFORGE_TEST_POSTGRES_URL is not set");
            None
        }
    }
}

/// A `simforge serve` process.
pub struct Server {
    /// The PostgreSQL URL.
    pub pg: String,
    /// Its schema.
    pub schema: String,
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// Its directory: storage, logs, worker directories.
    pub dir: tempfile::TempDir,
    /// The process, while it runs.
    pub child: Option<Child>,
}

impl Server {
    /// Starts a server in a fresh schema named after `prefix`.
    pub fn new(pg: &str, prefix: &str) -> Server {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let mut s = Server {
            pg: pg.to_string(),
            schema: format!("{prefix}_{}_{nanos}", std::process::id()),
            port,
            dir: tempfile::tempdir().expect("tempdir"),
            child: None,
        };
        s.start();
        s
    }

    /// Its base URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A `simforge` command with this server's configuration in its
    /// environment and no client profile, run in the server's directory.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(BIN);
        c.current_dir(self.dir.path())
            .env_remove("SIMFORGE_SERVER")
            .env_remove("SIMFORGE_TOKEN")
            .env_remove("SIMFORGE_TOKEN_FILE")
            .env_remove("SIMFORGE_PROFILE")
            .env_remove("SIMFORGE_PROJECT")
            .env(
                "SIMFORGE_CONFIG",
                self.dir.path().join("no-client-config.yaml"),
            )
            .env("SIMFORGE_SERVER__PROFILE", "test")
            .env("SIMFORGE_SERVER__DATABASE__URL", &self.pg)
            .env("SIMFORGE_SERVER__DATABASE__SCHEMA", &self.schema)
            .env("SIMFORGE_SERVER__DATABASE__POOL_SIZE", "4")
            .env(
                "SIMFORGE_SERVER__LISTEN",
                format!("127.0.0.1:{}", self.port),
            )
            .env(
                "SIMFORGE_SERVER__STORAGE__PATH",
                self.dir.path().join("data"),
            )
            .env("SIMFORGE_SERVER__LEASES__TTL_S", "2")
            .env("SIMFORGE_SERVER__LEASES__SWEEP_S", "0.2");
        c
    }

    /// Starts (or restarts) `simforge serve`, appending to its log, and
    /// waits until it is ready.
    pub fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("serve.log"))
            .expect("serve log");
        let child = self
            .cmd()
            .arg("serve")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn simforge serve");
        self.child = Some(child);
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(c) = self.child.as_mut()
                && let Ok(Some(st)) = c.try_wait()
            {
                panic!("simforge serve exited early ({st}): {}", self.log());
            }
            if agent
                .get(&format!("{}/readyz", self.url()))
                .call()
                .is_ok_and(|r| r.status().is_success())
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "server not ready: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("serve.log")).unwrap_or_default()
    }

    /// Kills it (SIGKILL: no graceful shutdown).
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// `simforge admin ARGS` against its database.
    pub fn admin(&self, args: &[&str]) -> Output {
        self.cmd()
            .arg("admin")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("simforge admin")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
        if let Ok(mut c) = postgres::Client::connect(&self.pg, postgres::NoTls) {
            let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema));
        }
    }
}
