//! A real server on the test PostgreSQL, in its own schema, on a free port.
//!
//! PostgreSQL comes from `SIMFORGE_TEST_POSTGRES_URL`; without it the tests
//! skip, unless `SIMFORGE_REQUIRE_SERVICES=1`, when they fail.

#![allow(dead_code)]

use std::time::Duration;

use serde_json::Value;
use simforge_server::config::ServerConfig;
use simforge_server::state::Shared;

/// The test database URL, or None (skip) when none is configured.
pub fn pg_url() -> Option<String> {
    match std::env::var("SIMFORGE_TEST_POSTGRES_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            if std::env::var("SIMFORGE_REQUIRE_SERVICES").as_deref() == Ok("1") {
                panic!("SIMFORGE_TEST_POSTGRES_URL is not set but SIMFORGE_REQUIRE_SERVICES=1");
            }
            eprintln!("skipped: set SIMFORGE_TEST_POSTGRES_URL to run the server tests");
            None
        }
    }
}

/// A running server.
pub struct TestServer {
    pub url: String,
    pub state: Shared,
    pub schema: String,
    pub storage: tempfile::TempDir,
    pg: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    keep: bool,
}

impl TestServer {
    /// Starts a server with `ttl_s` leases in a fresh schema.
    pub fn start(pg: &str, ttl_s: f64) -> TestServer {
        let schema = format!(
            "t_server_{}_{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        );
        TestServer::start_in(pg, ttl_s, &schema)
    }

    /// Starts a server on the database schema `schema` (a restart when an
    /// earlier server used it: see [`TestServer::keep_schema`]).
    pub fn start_in(pg: &str, ttl_s: f64, schema: &str) -> TestServer {
        let schema = schema.to_string();
        let storage = tempfile::tempdir().unwrap();
        let mut config = ServerConfig {
            profile: "test".into(),
            listen: "127.0.0.1:0".into(),
            ..Default::default()
        };
        config.database.url = pg.to_string();
        config.database.schema = schema.clone();
        config.database.pool_size = 8;
        config.storage.path = storage.path().to_path_buf();
        config.leases.ttl_s = ttl_s;
        config.leases.sweep_s = 0.2;
        let state = simforge_server::prepare(config).expect("server state");
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let st = state.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(simforge_server::serve(
                st,
                async move {
                    let _ = stop_rx.await;
                },
                move |a| {
                    let _ = addr_tx.send(a);
                },
            ))
            .unwrap();
        });
        let addr = addr_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("server bound");
        TestServer {
            url: format!("http://{addr}"),
            state,
            schema,
            storage,
            pg: pg.to_string(),
            stop: Some(stop_tx),
            thread: Some(thread),
            keep: false,
        }
    }

    /// Stops the server but leaves its schema for a server started after it.
    pub fn stop_keeping_schema(mut self) {
        self.keep = true;
        self.stop();
    }

    /// Project `lab` with member `alice` (a `submit` token) and worker
    /// account `robot` (a `worker` token): (alice's token, robot's token).
    pub fn lab(&self) -> (String, String) {
        simforge_server::admin::create_project(&self.state.db, "lab").unwrap();
        let alice = self.user("alice", false, &["submit"]);
        simforge_server::admin::set_member(&self.state.db, "lab", "alice", "member").unwrap();
        let robot = self.user("robot", false, &["worker"]);
        (alice, robot)
    }

    /// Creates a user with a token of `scopes`; returns the token.
    pub fn user(&self, name: &str, admin: bool, scopes: &[&str]) -> String {
        let db = &self.state.db;
        let _ = simforge_server::admin::create_user(db, name, Some("a long password 123"), admin);
        let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
        simforge_server::admin::create_token(db, name, "test", &scopes, None)
            .unwrap()
            .1
    }

    /// Stops the server, waiting for it to finish.
    pub fn stop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop();
        if self.keep {
            return;
        }
        if let Ok(mut c) = postgres::Client::connect(&self.pg, postgres::NoTls) {
            let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema));
        }
    }
}

/// A small HTTP client that never errors on status.
pub struct Http {
    agent: ureq::Agent,
    base: String,
}

impl Http {
    pub fn new(base: &str) -> Http {
        Http {
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(Duration::from_secs(60)))
                .build()
                .into(),
            base: base.to_string(),
        }
    }

    /// Sends a request; returns (status, JSON body or the text as a string).
    pub fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let url = format!("{}{path}", self.base);
        let auth = token.map(|t| format!("Bearer {t}"));
        let resp = match method {
            "GET" | "DELETE" => {
                let mut r = if method == "GET" {
                    self.agent.get(&url)
                } else {
                    self.agent.delete(&url)
                };
                if let Some(a) = &auth {
                    r = r.header("Authorization", a);
                }
                r.call()
            }
            _ => {
                let mut r = match method {
                    "POST" => self.agent.post(&url),
                    "PUT" => self.agent.put(&url),
                    "PATCH" => self.agent.patch(&url),
                    m => panic!("method {m}"),
                };
                if let Some(a) = &auth {
                    r = r.header("Authorization", a);
                }
                r.send_json(body.cloned().unwrap_or(Value::Null))
            }
        };
        let mut resp = resp.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    /// Sends a request with extra headers and a raw body (GET and DELETE
    /// send none); returns what [`Http::call`] returns.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> (u16, Value) {
        let url = format!("{}{path}", self.base);
        let auth = token.map(|t| format!("Bearer {t}"));
        let resp = match method {
            "GET" | "DELETE" => {
                let mut r = if method == "GET" {
                    self.agent.get(&url)
                } else {
                    self.agent.delete(&url)
                };
                if let Some(a) = &auth {
                    r = r.header("Authorization", a);
                }
                for (k, v) in headers {
                    r = r.header(*k, *v);
                }
                r.call()
            }
            _ => {
                let mut r = match method {
                    "POST" => self.agent.post(&url),
                    "PUT" => self.agent.put(&url),
                    "PATCH" => self.agent.patch(&url),
                    m => panic!("method {m}"),
                };
                if let Some(a) = &auth {
                    r = r.header("Authorization", a);
                }
                for (k, v) in headers {
                    r = r.header(*k, *v);
                }
                r.send(body)
            }
        };
        let mut resp = resp.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    pub fn get(&self, path: &str, token: &str) -> (u16, Value) {
        self.call("GET", path, Some(token), None)
    }

    pub fn post(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        self.call("POST", path, Some(token), Some(&body))
    }
}

/// A small study on the builtin `analytic` simulator.
pub fn branin_study(name: &str, samples: u32) -> String {
    format!(
        "name: {name}\nsimulator: {{builtin: analytic, options: {{function: branin}}}}\n\
         parameters: {{x1: {{range: [-5, 10]}}, x2: {{range: [0, 15]}}}}\n\
         design: {{sampler: random, samples: {samples}, seed: 3}}\n"
    )
}
