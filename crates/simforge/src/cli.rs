//! Command-line arguments.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// Run, scale and learn from simulation campaigns.
#[derive(Debug, Parser)]
#[command(name = "simforge", version, about, long_about = None)]
pub struct Cli {
    /// More logging (-v debug, -vv trace).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Log line format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
    /// The store directory (default: `.simforge` beside the study file, or in
    /// the current directory).
    #[arg(long, global = true, env = "SIMFORGE_STORE")]
    pub store: Option<PathBuf>,
    /// Keep the store's records in PostgreSQL at this URL instead of the
    /// SQLite file in the store directory, e.g.
    /// `postgres://user@host:5432/simforge?schema=sims` (`schema=` picks,
    /// and creates, the schema). Run directories, results, reports and locks
    /// stay in the store directory.
    #[arg(
        long,
        global = true,
        env = "SIMFORGE_DATABASE_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    pub database: Option<String>,
    /// A simforge server: `run`, `status`, `results`, `logs` and `cancel`
    /// talk to it instead of the local store; `worker` pulls runs from it.
    #[arg(long, global = true, env = "SIMFORGE_SERVER", value_name = "URL")]
    pub server: Option<String>,
    /// API token for --server (default: the client profile's).
    #[arg(long, global = true, env = "SIMFORGE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// A file whose first line is the API token.
    #[arg(long, global = true, env = "SIMFORGE_TOKEN_FILE", value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// The server's project for remote commands (default: the client profile's).
    #[arg(long, global = true, env = "SIMFORGE_PROJECT")]
    pub project: Option<String>,
    /// `serve` and `admin`: the server configuration's profile (dev, test,
    /// prod). Remote commands: the client profile in
    /// `~/.config/simforge/config.yaml` (else `SIMFORGE_PROFILE`, else its
    /// `default_profile`).
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<String>,
    /// Whether `--log-format` was on the command line (set by `main`).
    #[arg(skip)]
    pub log_format_given: bool,
    /// Whether `--server` was on the command line, not only in
    /// `SIMFORGE_SERVER` (set by `main`).
    #[arg(skip)]
    pub server_given: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Log formats.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Progress display.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ProgressArg {
    /// A bar on a terminal, plain lines otherwise.
    Auto,
    /// Plain lines every few seconds.
    Plain,
    /// None.
    None,
}

/// Result export formats.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum FormatArg {
    /// Apache Parquet.
    Parquet,
    /// CSV with a header.
    Csv,
    /// JSON array of rows.
    Json,
}

impl From<FormatArg> for simforge_exec::export::Format {
    fn from(f: FormatArg) -> Self {
        match f {
            FormatArg::Parquet => Self::Parquet,
            FormatArg::Csv => Self::Csv,
            FormatArg::Json => Self::Json,
        }
    }
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Plan, execute and record every unfinished run of a study.
    Run {
        /// The study file (YAML or JSON).
        study: PathBuf,
        /// Concurrent runs (default: as many as cores and per-run resources allow).
        #[arg(short, long)]
        jobs: Option<usize>,
        /// Also re-run runs that failed or timed out in earlier invocations.
        #[arg(long)]
        retry_failed: bool,
        /// Progress display.
        #[arg(long, value_enum, default_value_t = ProgressArg::Auto)]
        progress: ProgressArg,
        /// Do not write the HTML report and CSV results after the run.
        #[arg(long)]
        no_report: bool,
        /// SLURM backend: seconds between queue polls (one squeue call each).
        #[arg(long, default_value_t = 5.0)]
        poll: f64,
        /// Show what a cluster backend would submit, without submitting: the
        /// sbatch scripts (SLURM) or the manifests as YAML (Kubernetes).
        #[arg(long)]
        dry_run: bool,
        /// With --dry-run on Kubernetes: write one YAML file per object here
        /// instead of printing them.
        #[arg(short, long, requires = "dry_run")]
        output: Option<PathBuf>,
    },
    /// Cancel a study's submitted cluster jobs (scancel); their unfinished runs go back to pending.
    Cancel {
        /// The study file.
        study: PathBuf,
    },
    /// Plan a study into the store without executing anything.
    Plan {
        /// The study file (YAML or JSON).
        study: PathBuf,
    },
    /// Check a study file without running anything.
    Check {
        /// The study file.
        study: PathBuf,
    },
    /// Counts of runs per state.
    Status {
        /// Study file or study name (default: the only study in the store).
        study: Option<String>,
    },
    /// List runs.
    Runs {
        /// Study file or study name.
        study: Option<String>,
        /// Only runs in this state (pending, running, succeeded, failed, timed_out, cancelled).
        #[arg(long)]
        state: Option<String>,
        /// At most this many runs.
        #[arg(long, default_value_t = 50)]
        limit: u64,
        /// Print JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show a run's logs, result and attempts.
    Logs {
        /// Run id or a unique prefix of it.
        run: String,
        /// Restrict the lookup to this study (file or name).
        #[arg(long)]
        study: Option<String>,
        /// Show only the last N lines of each log.
        #[arg(long)]
        tail: Option<usize>,
    },
    /// List a run's artifacts (the files its attempt left in its run
    /// directory, without result.json and the logs); with -o DIR, copy them
    /// there. With --server, the files remote workers uploaded.
    Artifacts {
        /// Run id or a unique prefix of it.
        run: String,
        /// Restrict the lookup to this study (file or name).
        #[arg(long)]
        study: Option<String>,
        /// Copy (download) the artifacts into this directory.
        #[arg(short, long, value_name = "DIR")]
        output: Option<PathBuf>,
    },
    /// Export the results table (one row per run).
    Results {
        /// Study file or study name.
        study: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = FormatArg::Csv)]
        format: FormatArg,
        /// Output file (default: standard output; required for parquet).
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Write a self-contained HTML report.
    Report {
        /// Study file or study name.
        study: Option<String>,
        /// Output file (default: `<store>/reports/<study>.html`).
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Evaluate a Gaussian-process surrogate of a metric, fitted to the
    /// study's succeeded runs, at a point (mean and standard deviation).
    Optimize {
        /// The study file: `objective` (and optionally `optimize`) say what to
        /// optimise or learn; `design` is the initial design.
        study: PathBuf,
        /// Concurrent runs on the local backend; also the default batch size
        /// (default: as many as cores and per-run resources allow).
        #[arg(short, long)]
        jobs: Option<usize>,
        /// Do not write the HTML report and CSV results at the end.
        #[arg(long)]
        no_report: bool,
        /// Cluster backends: seconds between queue polls.
        #[arg(long, default_value_t = 5.0)]
        poll: f64,
    },
    /// Run one point of a builtin simulator, outside any study, e.g.
    /// `simforge sim sysdesign --option topology=system.yaml --params
    /// components.api.replicas=4`. Without NAME, lists the builtins.
    Sim {
        /// Builtin name (`analytic`, `sysdesign`, …).
        name: Option<String>,
        /// Parameter values, `name=value`.
        #[arg(long, num_args = 1.., value_name = "NAME=VALUE")]
        params: Vec<String>,
        /// Builtin options, `key=value` (a value may be YAML, e.g. `a=[1,2]`;
        /// a file-valued option such as `topology=system.yaml` is loaded).
        #[arg(long = "option", value_name = "KEY=VALUE")]
        options: Vec<String>,
        /// Directory for the run's files (default: `sim-NAME` here).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Random seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Print the parameters the builtin accepts (with these options) and exit.
        #[arg(long)]
        list: bool,
        /// Print the metrics as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Evaluate a Gaussian-process surrogate of a metric at a point.
    Predict {
        /// Study file or study name (default: the only study in the store).
        study: Option<String>,
        /// The point: every sampled parameter, e.g. `x1=0.5,x2=2,model=ac`.
        #[arg(long)]
        at: String,
        /// Metric (default: the study's first metric, or its only numeric one).
        #[arg(long)]
        metric: Option<String>,
    },
    /// Analyse finished runs (sensitivity).
    Analyze {
        /// What to analyse.
        #[command(subcommand)]
        command: AnalyzeCommand,
    },
    /// Print the JSON Schema of study files.
    Schema,
    /// SLURM backend tools.
    Slurm {
        /// What to do.
        #[command(subcommand)]
        command: SlurmCommand,
    },
    /// Run a worker: with `--server URL --queue Q`, pull runs of a simforge
    /// server's queues (token from --token, SIMFORGE_TOKEN, --token-file or
    /// SIMFORGE_TOKEN_FILE); with `--connection FILE`, a SLURM pilot worker
    /// pulling from a coordinator (see `mode: pilot`). Give exactly one.
    Worker {
        /// Pilot: the coordinator file (`.simforge/slurm/<study>/pilot.json`).
        #[arg(long)]
        connection: Option<PathBuf>,
        /// Server: a queue to serve (repeat for several).
        #[arg(long = "queue", value_name = "QUEUE")]
        queues: Vec<String>,
        /// Server: directory for study files and run directories.
        #[arg(long, default_value = "simforge-worker")]
        workdir: PathBuf,
        /// Worker name (default: host name and process id).
        #[arg(long, visible_alias = "name")]
        id: Option<String>,
        /// Runs executed at once.
        #[arg(long, default_value_t = 1)]
        slots: u32,
        /// Exit after this many seconds with nothing to do (default: pilot
        /// 60; server: never).
        #[arg(long)]
        idle_exit: Option<f64>,
        /// This pilot's wall time in seconds: runs that would not finish in it
        /// are left to others.
        #[arg(long)]
        wall: Option<f64>,
        /// Seconds to keep retrying a coordinator that does not answer.
        #[arg(long, default_value_t = 300.0)]
        patience: f64,
    },
    /// Serve the HTTP API, queues and dashboard on PostgreSQL until SIGTERM
    /// or Ctrl-C (see docs/server.md).
    Serve {
        /// The server configuration file (default: defaults and
        /// SIMFORGE_SERVER__* variables only). Its profile is --profile.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// The web dashboard on the local store (`--store`, default `.simforge`):
    /// studies, runs, logs, the results explorer, the study editor and the
    /// system designer, without login, on 127.0.0.1 only (docs/dashboard.md).
    Ui {
        /// Port on 127.0.0.1 (0: any free port).
        #[arg(long, default_value_t = 8765)]
        port: u16,
    },
    /// Bootstrap and repair a server straight on its database (no HTTP):
    /// users, projects, members, tokens.
    Admin {
        /// The server configuration file (its profile is --profile).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// What to do.
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Bring the server's reporting tables up to date now, straight on its
    /// database (what the `etl.schedule` cron job does).
    Etl {
        /// The server configuration file (its profile is --profile).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// What to do.
        #[command(subcommand)]
        command: EtlCommand,
    },
    /// Upload a local study's finished runs to a simforge server (--server,
    /// --project, --token): idempotent batches, spooled on disk until the
    /// server acknowledges them; run it again to resume an interrupted push.
    Push {
        /// The study file (its store is found as for `run`).
        study: PathBuf,
        /// Records per batch (1 to 10000).
        #[arg(long, default_value_t = 5000)]
        batch: usize,
        /// Batches in flight at once.
        #[arg(long, default_value_t = 2)]
        parallel: usize,
        /// Seconds to keep retrying a server that does not answer.
        #[arg(long, default_value_t = 600.0)]
        patience: f64,
        /// Send every finished run again, not only those the server has not
        /// acknowledged (the server still changes nothing it already has).
        #[arg(long)]
        resend_all: bool,
    },
    /// GET a URL; exit 0 on a 2xx answer (container health checks).
    Ping {
        /// The URL, e.g. http://localhost:8080/readyz.
        url: String,
        /// Seconds to wait for the answer.
        #[arg(long, default_value_t = 5.0)]
        timeout: f64,
    },
    /// Execute one bundle of a bundle manifest (what a cluster task runs; it
    /// writes result.json files and never touches the store).
    #[command(hide = true)]
    ExecBundle {
        /// The manifest written by the coordinator.
        manifest: PathBuf,
        /// Bundle index (default: $SLURM_ARRAY_TASK_ID, else Kubernetes'
        /// $JOB_COMPLETION_INDEX).
        #[arg(long, env = "SLURM_ARRAY_TASK_ID")]
        task: Option<usize>,
        /// Added to the task index (a Job's first bundle).
        #[arg(long, default_value_t = 0)]
        task_offset: usize,
    },
}

/// `simforge analyze` subcommands.
#[derive(Debug, Subcommand)]
pub enum AnalyzeCommand {
    /// Sobol' indices (first order, total, and second order when the design
    /// has it) of a metric, from a Saltelli design, with bootstrap intervals.
    Sensitivity {
        /// Study file or study name (default: the only study in the store).
        study: Option<String>,
        /// Metric to analyse (default: the study's first metric, or its only numeric one).
        #[arg(long)]
        metric: Option<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Bootstrap resamples for the confidence intervals.
        #[arg(long, default_value_t = 100)]
        bootstrap: usize,
        /// Confidence level of the intervals.
        #[arg(long, default_value_t = 0.95)]
        confidence: f64,
        /// Designs other than Saltelli and Morris: skip the Sobol' indices on
        /// a Gaussian-process surrogate (rank measures only).
        #[arg(long)]
        no_surrogate: bool,
    },
}

/// `simforge slurm` subcommands.
#[derive(Debug, Subcommand)]
pub enum SlurmCommand {
    /// Print the sbatch scripts that would run the study's pending runs, without submitting.
    Script {
        /// The study file (with `backend: {slurm: ...}`).
        study: PathBuf,
    },
}

/// `simforge etl` subcommands.
#[derive(Debug, Subcommand)]
pub enum EtlCommand {
    /// Run the ETL once (waits for a run in progress elsewhere); exit 1 when
    /// a job fails (its changes stay queued for the next run).
    Run {
        /// Print the run's report as JSON instead of a summary.
        #[arg(long)]
        json: bool,
    },
}

/// `simforge admin` subcommands.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create a user (password from --password-stdin, else a prompt on a
    /// terminal, else none: token access only).
    CreateUser {
        /// User name.
        name: String,
        /// A server administrator.
        #[arg(long)]
        admin: bool,
        /// Read the password from the first line of stdin.
        #[arg(long)]
        password_stdin: bool,
        /// Succeed when the user exists already.
        #[arg(long)]
        if_missing: bool,
    },
    /// Create a project.
    CreateProject {
        /// Project name.
        name: String,
        /// Succeed when the project exists already.
        #[arg(long)]
        if_missing: bool,
    },
    /// Give a user a role in a project (viewer, member, admin).
    AddMember {
        /// Project name.
        project: String,
        /// User name.
        user: String,
        /// Role: viewer, member or admin.
        role: String,
    },
    /// Issue an API token for a user (printed once).
    Token {
        /// User name.
        user: String,
        /// Scopes: read, submit, admin, worker (repeat for several).
        #[arg(long = "scope", value_name = "SCOPE", required = true)]
        scopes: Vec<String>,
        /// Token name, shown in listings.
        #[arg(long, default_value = "cli")]
        name: String,
        /// Expire after this many days.
        #[arg(long)]
        expires_days: Option<f64>,
        /// Write the token to this file (mode 0600) instead of printing it.
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
}
