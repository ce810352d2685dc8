//! `simforge serve`, `simforge admin`, `simforge ping` and the remote side of
//! `simforge worker --server URL`: argument handling only; the server lives in
//! `simforge_server`, the worker in `simforge_exec::remote::worker`.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use simforge_server::ServerConfig;

use super::UsageError;
use crate::cli::{AdminCommand, EtlCommand, LogFormat};

/// Loads the server configuration; a bad file or value is a usage error
/// (exit 2) that names the file and a hint.
fn config(file: Option<&Path>, profile: Option<&str>) -> Result<ServerConfig> {
    simforge_server::config::load(file, profile, std::env::vars())
        .map_err(|e| UsageError(format!("server configuration: {e}")).into())
}

/// `simforge serve`: serves until SIGTERM or SIGINT, then stops taking
/// connections and finishes the requests in flight (exit 0).
///
/// Logs go to stderr at `info` (more with `-v`); their format is
/// `--log-format` when given on the command line, else the configuration's
/// `log_format` (`json` in the prod profile).
pub fn serve(
    file: Option<&Path>,
    profile: Option<&str>,
    verbose: u8,
    log_format: Option<LogFormat>,
) -> Result<u8> {
    let cfg = config(file, profile)?;
    let format = log_format.unwrap_or(if cfg.log_format.eq_ignore_ascii_case("json") {
        LogFormat::Json
    } else {
        LogFormat::Text
    });
    crate::logging::init_server(verbose, format);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("simforge-server")
        .build()
        .context("starting the async runtime")?;
    let state = simforge_server::prepare(cfg)?;
    // The database pool is synchronous (its connections block_on when
    // dropped): keep a handle here so that the last one is dropped after the
    // runtime is gone, never on one of its threads.
    let keep = state.clone();
    let served = rt.block_on(simforge_server::serve(state, shutdown_signal(), |addr| {
        eprintln!("simforge server listening on http://{addr}");
    }));
    drop(rt);
    drop(keep);
    served?;
    Ok(0)
}

/// `simforge ui`: the dashboard on the local store until SIGTERM or Ctrl-C.
pub fn ui(store: crate::locate::StoreArgs<'_>, port: u16) -> Result<u8> {
    if store.database.is_some() {
        return Err(UsageError(
            "`simforge ui` serves a local store; for a PostgreSQL store run `simforge serve`"
                .into(),
        )
        .into());
    }
    let dir = store.default_dir();
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let local = simforge_server::local::Local::new(std::path::absolute(&dir).unwrap_or(dir));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("simforge-ui")
        .build()
        .context("starting the async runtime")?;
    let shown = local.dir.display().to_string();
    rt.block_on(simforge_server::local::serve_local(
        local,
        std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        shutdown_signal(),
        |addr| {
            println!("simforge ui: the store in {shown} at http://{addr}/ui/ (Ctrl-C stops it)");
        },
    ))
    .with_context(|| format!("serving on 127.0.0.1:{port}"))?;
    Ok(0)
}

/// Resolves when SIGTERM or SIGINT arrives.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    match (term, int) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
                _ = int.recv() => tracing::info!("SIGINT: shutting down"),
            }
        }
        _ => {
            tracing::warn!("could not install signal handlers; serving until killed");
            std::future::pending::<()>().await
        }
    }
}

/// Opens the server's database as its configuration says (migrating it).
fn open_db(cfg: &ServerConfig) -> Result<simforge_server::db::Db> {
    simforge_server::db::Db::open(&cfg.database.url, &cfg.database.schema, 2).with_context(|| {
        format!(
            "opening the database {} (schema {})",
            simforge_store::redact_url(&cfg.database.url),
            cfg.database.schema
        )
    })
}

/// `simforge etl run`: one ETL run on the server's database; exit 1 when a
/// job failed.
pub fn etl(file: Option<&Path>, profile: Option<&str>, command: EtlCommand) -> Result<u8> {
    let cfg = config(file, profile)?;
    let db = open_db(&cfg)?;
    match command {
        EtlCommand::Run { json } => {
            let report = simforge_server::etl::run_etl(&db)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!("{}", report.summary());
            }
        }
    }
    Ok(0)
}

/// `simforge admin`: bootstrap commands straight on the server's database.
pub fn admin(file: Option<&Path>, profile: Option<&str>, command: AdminCommand) -> Result<u8> {
    let cfg = config(file, profile)?;
    let db = open_db(&cfg)?;
    let exists = |e: &simforge_server::ApiError| e.code == "conflict";
    match command {
        AdminCommand::CreateUser {
            name,
            admin,
            password_stdin,
            if_missing,
        } => {
            let password = read_password(password_stdin, &name)?;
            match simforge_server::admin::create_user(&db, &name, password.as_deref(), admin) {
                Ok(id) => println!(
                    "user `{name}` created (id {id}{}{})",
                    if admin { ", server administrator" } else { "" },
                    if password.is_none() {
                        ", no password: token access only"
                    } else {
                        ""
                    }
                ),
                Err(e) if if_missing && exists(&e) => println!("user `{name}` exists"),
                Err(e) => return Err(e.into()),
            }
        }
        AdminCommand::CreateProject { name, if_missing } => {
            match simforge_server::admin::create_project(&db, &name) {
                Ok(id) => println!("project `{name}` created (id {id})"),
                Err(e) if if_missing && exists(&e) => println!("project `{name}` exists"),
                Err(e) => return Err(e.into()),
            }
        }
        AdminCommand::AddMember {
            project,
            user,
            role,
        } => {
            simforge_server::admin::set_member(&db, &project, &user, &role)?;
            println!("`{user}` is {role} of project `{project}`");
        }
        AdminCommand::Token {
            user,
            scopes,
            name,
            expires_days,
            output,
        } => {
            let (id, token) =
                simforge_server::admin::create_token(&db, &user, &name, &scopes, expires_days)?;
            match output {
                Some(path) => {
                    write_secret(&path, &token)?;
                    eprintln!(
                        "token {id} for `{user}` (scopes {}) written to {}",
                        scopes.join(","),
                        path.display()
                    );
                }
                None => {
                    eprintln!(
                        "token {id} for `{user}` (scopes {}); it is shown only once:",
                        scopes.join(",")
                    );
                    println!("{token}");
                }
            }
        }
    }
    Ok(0)
}

/// The new user's password: one line of stdin with `--password-stdin`, else
/// a prompt on a terminal (without echo), else none.
fn read_password(from_stdin: bool, user: &str) -> Result<Option<String>> {
    let stdin = std::io::stdin();
    if from_stdin {
        let mut line = String::new();
        stdin
            .lock()
            .read_line(&mut line)
            .context("reading the password from stdin")?;
        let pw = line.trim_end_matches(['\r', '\n']).to_string();
        if pw.is_empty() {
            return Err(UsageError("--password-stdin: the password is empty".into()).into());
        }
        return Ok(Some(pw));
    }
    if !stdin.is_terminal() {
        return Ok(None);
    }
    eprint!("password for `{user}` (empty: none): ");
    std::io::stderr().flush().ok();
    let echo_off = std::process::Command::new("stty")
        .arg("-echo")
        .stdin(std::process::Stdio::inherit())
        .status()
        .is_ok_and(|s| s.success());
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    if echo_off {
        let _ = std::process::Command::new("stty")
            .arg("echo")
            .stdin(std::process::Stdio::inherit())
            .status();
        eprintln!();
    }
    read.context("reading the password")?;
    let pw = line.trim_end_matches(['\r', '\n']).to_string();
    Ok((!pw.is_empty()).then_some(pw))
}

/// Writes a secret to `path` readable by its owner only (mode 0600).
fn write_secret(path: &Path, secret: &str) -> Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.set_permissions(std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("restricting {}", path.display()))?;
    writeln!(f, "{secret}").with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// `simforge ping URL`: exit 0 on a 2xx answer, 1 otherwise.
pub fn ping(url: &str, timeout: f64) -> Result<u8> {
    let timeout = super::seconds(timeout, "--timeout")?;
    let status = simforge_exec::remote::client::ping(url, timeout)?;
    println!("{url}: {status}");
    Ok(if (200..300).contains(&status) { 0 } else { 1 })
}

/// The token for `simforge worker --server`: `--token` / `SIMFORGE_TOKEN`,
/// else the first line of `--token-file` / `SIMFORGE_TOKEN_FILE`.
pub(crate) fn token(token: Option<&str>, token_file: Option<&Path>) -> Result<Option<String>> {
    if let Some(t) = token.filter(|t| !t.trim().is_empty()) {
        return Ok(Some(t.trim().to_string()));
    }
    match token_file {
        Some(f) => {
            let text = std::fs::read_to_string(f)
                .with_context(|| format!("reading the token file {}", f.display()))?;
            let t = text.lines().next().unwrap_or("").trim().to_string();
            if t.is_empty() {
                return Err(UsageError(format!("the token file {} is empty", f.display())).into());
            }
            Ok(Some(t))
        }
        None => Ok(None),
    }
}

/// What `simforge worker --server` was given.
#[derive(Debug)]
pub struct RemoteWorkerArgs {
    /// Server base URL.
    pub server: String,
    /// Token (already resolved from the flags and environment).
    pub token: Option<String>,
    /// `--queue`, at least one.
    pub queues: Vec<String>,
    /// `--slots`.
    pub slots: u32,
    /// `--name` / `--id`.
    pub name: Option<String>,
    /// `--workdir`.
    pub workdir: Option<PathBuf>,
    /// `--idle-exit` seconds (None: never).
    pub idle_exit: Option<f64>,
    /// `--patience` seconds.
    pub patience: f64,
}

/// `simforge worker --server URL --queue Q`: pulls runs until SIGTERM/SIGINT
/// (which hand back what it holds), `--idle-exit`, or the server stays away
/// for `--patience`.
pub fn remote_worker(a: RemoteWorkerArgs) -> Result<u8> {
    if a.queues.is_empty() {
        return Err(UsageError(
            "worker --server: name at least one queue with --queue (a simulator name such as `analytic`, or `command:<program>`)".into(),
        )
        .into());
    }
    let Some(token) = a.token else {
        return Err(UsageError(
            "worker --server: no token; pass --token, SIMFORGE_TOKEN, --token-file or SIMFORGE_TOKEN_FILE (create one with `simforge admin token USER --scope worker`)".into(),
        )
        .into());
    };
    let opts = simforge_exec::remote::worker::RemoteWorkerOptions {
        server: a.server.trim_end_matches('/').to_string(),
        token,
        queues: a.queues,
        name: a.name.unwrap_or_else(|| {
            format!(
                "{}-{}",
                simforge_exec::runner::hostname(),
                std::process::id()
            )
        }),
        slots: a.slots.max(1),
        workdir: a
            .workdir
            .unwrap_or_else(|| PathBuf::from("simforge-worker")),
        idle_exit: a
            .idle_exit
            .map(|s| super::seconds(s, "--idle-exit"))
            .transpose()?,
        patience: super::seconds(a.patience, "--patience")?,
    };
    std::fs::create_dir_all(&opts.workdir)
        .with_context(|| format!("creating the work directory {}", opts.workdir.display()))?;
    let cancel = super::run::stop_on_signals()?;
    eprintln!(
        "worker {} serving {} on {} with {} slots",
        opts.name,
        opts.queues.join(", "),
        opts.server,
        opts.slots
    );
    let s = simforge_exec::remote::worker::run_remote_worker(&opts, &cancel)?;
    println!(
        "worker {}: {} runs taken, {} syncs; stopped: {}",
        opts.name, s.runs, s.syncs, s.stopped
    );
    Ok(0)
}
