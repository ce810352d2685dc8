//! One attempt of one run, whatever the simulator: a builtin from
//! `simforge-sims` or an external command with templated arguments, input files
//! and environment.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use minijinja::{Environment, UndefinedBehavior};
use serde_json::{Map, Value};
use simforge_core::diagnostic::{Diagnostic, Diagnostics, did_you_mean};
use simforge_core::spec::CommandSpec;
use simforge_core::study::canonical_json;
use simforge_core::{RunState, Study};
use simforge_sims::{RunInput, Simulator};

use crate::outputs::OutputRules;
use crate::process::{self, Exit, Supervision};
use crate::rundir;

/// Names a template may use besides the parameters themselves.
const CONTEXT_NAMES: &[&str] = &["params", "run", "study", "input"];
/// minijinja's global functions, which look like undeclared variables.
const TEMPLATE_GLOBALS: &[&str] = &[
    "range",
    "dict",
    "namespace",
    "debug",
    "lipsum",
    "cycler",
    "joiner",
];

/// A simulator ready to execute runs of one study.
pub enum RunnableSimulator {
    /// Compiled into simforge.
    Builtin(Box<dyn Simulator>),
    /// An external program.
    Command(Box<CommandSimulator>),
}

/// An external command simulator with its templates compiled.
pub struct CommandSimulator {
    env: Environment<'static>,
    argv_len: usize,
    shell: bool,
    inputs: Vec<String>,
    env_vars: Vec<String>,
    rules: OutputRules,
    program_dir: PathBuf,
    identity: String,
    version: String,
}

/// Everything an attempt needs besides the run itself.
pub struct AttemptContext<'a> {
    /// The study.
    pub study: &'a Study,
    /// Directory of this run.
    pub dir: &'a Path,
    /// Attempt number (1-based).
    pub attempt: u32,
    /// GPUs assigned to this slot.
    pub gpus: &'a [u32],
    /// Set when the user asked to stop.
    pub cancel: &'a AtomicBool,
    /// Kills the run's process group if the runner dies.
    pub guardian: Option<&'a crate::guardian::Guardian>,
}

/// One run as the executor hands it to a simulator.
#[derive(Debug, Clone)]
pub struct RunSpec {
    /// Run id.
    pub id: String,
    /// Design index.
    pub index: u64,
    /// Replicate.
    pub replicate: u32,
    /// Seed.
    pub seed: u64,
    /// Parameters.
    pub params: Map<String, Value>,
}

/// What one attempt produced.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptOutcome {
    /// succeeded, failed, timed_out or cancelled.
    pub state: RunState,
    /// Why, if not succeeded.
    pub reason: Option<String>,
    /// Metrics when succeeded.
    pub metrics: Map<String, Value>,
    /// Exit code of a command.
    pub exit_code: Option<i32>,
    /// Signal that ended a command.
    pub signal: Option<i32>,
    /// Peak memory in KiB.
    pub max_rss_kb: Option<i64>,
}

impl AttemptOutcome {
    fn failed(reason: impl Into<String>) -> Self {
        AttemptOutcome {
            state: RunState::Failed,
            reason: Some(reason.into()),
            metrics: Map::new(),
            exit_code: None,
            signal: None,
            max_rss_kb: None,
        }
    }
}

impl RunnableSimulator {
    /// Builds the study's simulator and checks everything that can be checked
    /// before running: builtin options and parameters, templates and their
    /// variables, the executable, output rules.
    pub fn new(study: &Study) -> Result<Self, Diagnostics> {
        let sim = &study.spec.simulator;
        if let Some(name) = &sim.builtin {
            let options = sim.options.clone().unwrap_or_default();
            let origin = crate::builtin::OptionsOrigin {
                source: Some(&study.source),
                path: "simulator.options",
                label: "option",
                relative_to: "the study file's directory",
            };
            let builtin = crate::builtin::build_builtin(name, &options, &study.dir, &origin)?;
            check_builtin_params(study, builtin.as_ref())?;
            return Ok(RunnableSimulator::Builtin(builtin));
        }
        CommandSimulator::new(study).map(|c| RunnableSimulator::Command(Box::new(c)))
    }

    /// Identity used in run ids.
    pub fn identity(&self) -> String {
        match self {
            RunnableSimulator::Builtin(b) => format!("builtin:{}@{}", b.identity(), b.version()),
            RunnableSimulator::Command(c) => c.identity.clone(),
        }
    }

    /// Version for provenance.
    pub fn version(&self) -> String {
        match self {
            RunnableSimulator::Builtin(b) => b.version().to_string(),
            RunnableSimulator::Command(c) => c.version.clone(),
        }
    }

    /// Runs one attempt of `run` in `ctx.dir` (already prepared).
    pub fn attempt(&self, run: &RunSpec, ctx: &AttemptContext<'_>) -> AttemptOutcome {
        let outcome = match self {
            RunnableSimulator::Builtin(b) => run_builtin(b.as_ref(), run, ctx),
            RunnableSimulator::Command(c) => c.attempt(run, ctx),
        };
        require_metrics(outcome, &ctx.study.spec.metrics)
    }
}

fn require_metrics(mut outcome: AttemptOutcome, declared: &[String]) -> AttemptOutcome {
    if outcome.state == RunState::Succeeded
        && let Some(missing) = declared.iter().find(|m| !outcome.metrics.contains_key(*m))
    {
        outcome.state = RunState::Failed;
        outcome.reason = Some(format!("missing metric `{missing}` in the outputs"));
    }
    outcome
}

fn check_builtin_params(study: &Study, sim: &dyn Simulator) -> Result<(), Diagnostics> {
    let mut diags = Vec::new();
    let declared = sim.parameters();
    for p in declared.iter().filter(|p| p.required) {
        if study.space.get(&p.name).is_none() {
            diags.push(
                study
                    .source
                    .error_at(
                        "parameters",
                        format!("the builtin simulator needs parameter `{}`", p.name),
                    )
                    .expected(format!(
                        "parameters {}",
                        declared
                            .iter()
                            .map(|d| d.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                    .hint(match p.bounds {
                        Some((lo, hi)) => format!("add `{}: {{range: [{lo}, {hi}]}}`", p.name),
                        None => format!("add `{}: {{range: [low, high]}}`", p.name),
                    }),
            );
        }
    }
    for p in &study.space.params {
        let path = format!("parameters.{}", p.name);
        let Some(decl) = declared.iter().find(|d| d.name == p.name) else {
            let mut d = study.source.error_at_key(
                &path,
                format!("the builtin simulator has no parameter `{}`", p.name),
            );
            d = d.expected(format!(
                "one of {}",
                declared
                    .iter()
                    .map(|d| d.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            if let Some(s) = did_you_mean(&p.name, declared.iter().map(|d| d.name.as_str())) {
                d = d.hint(format!("did you mean `{s}`?"));
            }
            diags.push(d);
            continue;
        };
        if let (Some((lo, hi)), simforge_core::space::Domain::Real { low, high, .. }) =
            (decl.bounds, &p.domain)
        {
            let tol = 1e-12 * (hi - lo).abs().max(1.0);
            if *low < lo - tol || *high > hi + tol {
                diags.push(
                    study
                        .source
                        .error_at(
                            &format!("{path}.range"),
                            format!("range [{low}, {high}] leaves the simulator's domain"),
                        )
                        .expected(format!("a range within [{lo}, {hi}]")),
                );
            }
        }
    }
    if diags.is_empty() {
        Ok(())
    } else {
        Err(Diagnostics(diags))
    }
}

fn run_builtin(sim: &dyn Simulator, run: &RunSpec, ctx: &AttemptContext<'_>) -> AttemptOutcome {
    let params: BTreeMap<String, Value> = run.params.clone().into_iter().collect();
    let input = RunInput {
        params: &params,
        seed: run.seed,
        workdir: ctx.dir,
        threads: run_threads(ctx.study),
    };
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sim.run(&input))) {
        Ok(Ok(out)) => AttemptOutcome {
            state: RunState::Succeeded,
            reason: None,
            metrics: out.metrics.into_iter().collect(),
            exit_code: None,
            signal: None,
            max_rss_kb: None,
        },
        Ok(Err(e)) => AttemptOutcome::failed(e.to_string()),
        Err(_) => {
            AttemptOutcome::failed("the builtin simulator panicked (a bug: please report it)")
        }
    }
}

impl CommandSimulator {
    fn new(study: &Study) -> Result<Self, Diagnostics> {
        let sim = &study.spec.simulator;
        let src = &study.source;
        let mut diags = Vec::new();
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        let argv: Vec<String> = match &sim.command {
            Some(CommandSpec::Argv(a)) => a.clone(),
            Some(CommandSpec::Line(l)) => vec![l.clone()],
            None => vec![],
        };
        let mut identity_inputs = BTreeMap::new();
        let add = |env: &mut Environment<'static>,
                   name: String,
                   text: String,
                   path: String,
                   diags: &mut Vec<Diagnostic>| {
            if let Err(e) = env.add_template_owned(name, text) {
                diags.push(src.error_at(
                    &path,
                    format!(
                        "template syntax error: {}",
                        e.detail().unwrap_or(&e.to_string())
                    ),
                ));
            }
        };
        for (i, a) in argv.iter().enumerate() {
            add(
                &mut env,
                format!("command[{i}]"),
                a.clone(),
                format!("simulator.command[{i}]"),
                &mut diags,
            );
        }
        let mut inputs = Vec::new();
        for (target, template) in &sim.inputs {
            let path = format!("simulator.inputs.{target}");
            match std::fs::read_to_string(study.dir.join(template)) {
                Ok(text) => {
                    identity_inputs.insert(
                        target.clone(),
                        simforge_core::study::short_hash(text.as_bytes(), 16),
                    );
                    add(&mut env, format!("inputs.{target}"), text, path, &mut diags);
                    inputs.push(target.clone());
                }
                Err(e) => diags
                    .push(src.error_at(&path, format!("cannot read template `{template}`: {e}"))),
            }
        }
        let mut env_vars = Vec::new();
        for (name, value) in &sim.env {
            add(
                &mut env,
                format!("env.{name}"),
                value.clone(),
                format!("simulator.env.{name}"),
                &mut diags,
            );
            env_vars.push(name.clone());
        }
        let rules = OutputRules::new(sim.outputs.as_ref()).unwrap_or_else(|(metric, e)| {
            diags.push(src.error_at(
                &format!("simulator.outputs.regex.{metric}"),
                format!("invalid regular expression: {e}"),
            ));
            OutputRules::new(None).unwrap_or_else(|_| unreachable!("no rules cannot fail"))
        });
        if diags.is_empty() {
            check_template_variables(study, &env, &mut diags);
        }
        if !sim.shell
            && let Some(program) = argv.first()
            && !program.contains("{{")
            && let Err(d) = resolve_program(study, program)
        {
            diags.push(*d);
        }
        if !diags.is_empty() {
            return Err(Diagnostics(diags));
        }
        let version = sim.version.clone().unwrap_or_default();
        let identity = format!(
            "command:{}",
            canonical_json(&serde_json::json!({
                "command": argv,
                "shell": sim.shell,
                "inputs": identity_inputs,
                "env": sim.env,
                "version": version,
            }))
        );
        Ok(CommandSimulator {
            env,
            argv_len: argv.len(),
            shell: sim.shell,
            inputs,
            env_vars,
            rules,
            program_dir: absolute(&study.dir),
            identity,
            version,
        })
    }

    fn attempt(&self, run: &RunSpec, ctx: &AttemptContext<'_>) -> AttemptOutcome {
        match self.try_attempt(run, ctx) {
            Ok(o) => o,
            Err(reason) => AttemptOutcome::failed(reason),
        }
    }

    fn render(&self, name: &str, ctx: &minijinja::Value) -> Result<String, String> {
        let tmpl = self.env.get_template(name).map_err(|e| e.to_string())?;
        tmpl.render(ctx)
            .map_err(|e| format!("rendering {name}: {e}"))
    }

    fn try_attempt(
        &self,
        run: &RunSpec,
        ctx: &AttemptContext<'_>,
    ) -> Result<AttemptOutcome, String> {
        let dir = ctx.dir;
        let tctx = template_context(ctx.study, run, dir, ctx.attempt, &self.inputs);
        for target in &self.inputs {
            let text = self.render(&format!("inputs.{target}"), &tctx)?;
            let path = dir.join(target);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
            }
            std::fs::write(&path, text).map_err(|e| format!("cannot write input {target}: {e}"))?;
        }
        let mut argv = Vec::with_capacity(self.argv_len);
        for i in 0..self.argv_len {
            argv.push(self.render(&format!("command[{i}]"), &tctx)?);
        }
        let mut cmd = if self.shell {
            let mut c = Command::new("/bin/sh");
            c.arg("-c").arg(argv.first().cloned().unwrap_or_default());
            c
        } else {
            let program = argv.first().cloned().unwrap_or_default();
            let program = if program.contains('/') && Path::new(&program).is_relative() {
                self.program_dir.join(&program)
            } else {
                PathBuf::from(&program)
            };
            let mut c = Command::new(program);
            c.args(&argv[1..]);
            c
        };
        cmd.current_dir(dir);
        for (k, v) in run_env(ctx.study, run, dir, ctx.attempt, ctx.gpus) {
            cmd.env(k, v);
        }
        for name in &self.env_vars {
            cmd.env(name, self.render(&format!("env.{name}"), &tctx)?);
        }
        let res = &ctx.study.resources;
        let (stdout, stderr) = (dir.join(rundir::STDOUT_FILE), dir.join(rundir::STDERR_FILE));
        let sup = Supervision {
            timeout: res.time,
            max_log_size: res.max_log_size,
            stdout: &stdout,
            stderr: &stderr,
            cancel: ctx.cancel,
            guardian: ctx.guardian,
        };
        let finished = match process::run(cmd, &sup) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(format!(
                    "executable `{}` not found",
                    argv.first().map(String::as_str).unwrap_or("")
                ));
            }
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                return Err(format!(
                    "executable `{}` is not executable",
                    argv.first().map(String::as_str).unwrap_or("")
                ));
            }
            Err(e) => return Err(format!("cannot start the command: {e}")),
        };
        let mut outcome = AttemptOutcome {
            state: RunState::Failed,
            reason: None,
            metrics: Map::new(),
            exit_code: None,
            signal: None,
            max_rss_kb: finished.max_rss_kb,
        };
        match finished.exit {
            Exit::Code(0) => match self.rules.read(dir) {
                Ok(m) => {
                    outcome.state = RunState::Succeeded;
                    outcome.metrics = m;
                }
                Err(reason) => outcome.reason = Some(reason),
            },
            Exit::Code(code) => {
                outcome.exit_code = Some(code);
                outcome.reason = Some(with_stderr_tail(format!("exit code {code}"), dir));
            }
            Exit::Signal(sig) => {
                outcome.signal = Some(sig);
                outcome.reason = Some(with_stderr_tail(
                    format!("killed by {}", process::signal_name(sig)),
                    dir,
                ));
            }
            Exit::TimedOut => {
                outcome.state = RunState::TimedOut;
                outcome.reason = Some(format!(
                    "wall time {} exceeded",
                    fmt_duration(res.time.unwrap_or_default())
                ));
            }
            Exit::LogLimit(n) => {
                outcome.reason = Some(format!(
                    "log output exceeded max_log_size ({} > {} bytes); the command was stopped",
                    n, res.max_log_size
                ));
            }
            Exit::Cancelled => {
                outcome.state = RunState::Cancelled;
                outcome.reason = Some("cancelled by the user".into());
            }
        }
        Ok(outcome)
    }
}

/// `exit code 3: <last line of stderr>` — the last line usually says why.
fn with_stderr_tail(head: String, dir: &Path) -> String {
    let tail = std::fs::read(dir.join(rundir::STDERR_FILE))
        .ok()
        .map(|b| {
            let start = b.len().saturating_sub(4096);
            String::from_utf8_lossy(&b[start..]).into_owned()
        })
        .and_then(|t| {
            t.lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .map(|l| l.trim().to_string())
        });
    match tail {
        Some(mut t) => {
            if t.len() > 200 {
                let cut = (0..=200)
                    .rev()
                    .find(|i| t.is_char_boundary(*i))
                    .unwrap_or(0);
                t.truncate(cut);
                t.push('…');
            }
            format!("{head}: {t}")
        }
        None => head,
    }
}

fn fmt_duration(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 3600.0 {
        format!("{:.1}h", s / 3600.0)
    } else if s >= 60.0 {
        format!("{:.1}m", s / 60.0)
    } else {
        format!("{s}s")
    }
}

/// The variables templates see: every parameter by name, plus `params`, `run`,
/// `study` and `input`.
fn template_context(
    study: &Study,
    run: &RunSpec,
    dir: &Path,
    attempt: u32,
    inputs: &[String],
) -> minijinja::Value {
    let mut ctx = Map::new();
    for (name, v) in &run.params {
        insert_path(&mut ctx, name, v.clone());
    }
    ctx.insert("params".into(), Value::Object(run.params.clone()));
    ctx.insert(
        "run".into(),
        serde_json::json!({
            "id": run.id, "index": run.index, "replicate": run.replicate, "seed": run.seed,
            "dir": dir.display().to_string(), "attempt": attempt,
        }),
    );
    ctx.insert(
        "study".into(),
        serde_json::json!({ "name": study.spec.name, "dir": absolute(&study.dir).display().to_string() }),
    );
    let input: Map<String, Value> = inputs
        .iter()
        .map(|n| (n.clone(), Value::String(dir.join(n).display().to_string())))
        .collect();
    ctx.insert("input".into(), Value::Object(input));
    minijinja::Value::from(minijinja::value::Serde(ctx))
}

/// Puts a parameter into the template context; a dotted name
/// (`components.api.replicas`) becomes nested mappings, so templates write it
/// as they read it. The flat name stays available as `params["a.b"]`.
fn insert_path(ctx: &mut Map<String, Value>, name: &str, v: Value) {
    match name.split_once('.') {
        None => {
            ctx.insert(name.to_string(), v);
        }
        Some((head, rest)) => {
            let slot = ctx
                .entry(head.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(inner) = slot {
                insert_path(inner, rest, v);
            }
        }
    }
}

/// Threads one run may use: the cores the pool reserves for it
/// (`resources.cpus`, rounded up, at least 1). Commands see it as
/// `OMP_NUM_THREADS`, builtins as `RunInput::threads`.
fn run_threads(study: &Study) -> usize {
    study.resources.cpus.ceil().max(1.0) as usize
}

/// The environment variable of a parameter: `SIMFORGE_PARAM_` and the name
/// in capitals, dots as underscores.
fn param_env_name(name: &str) -> String {
    format!(
        "SIMFORGE_PARAM_{}",
        name.replace('.', "_").to_ascii_uppercase()
    )
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// Environment variables every command sees.
fn run_env(
    study: &Study,
    run: &RunSpec,
    dir: &Path,
    attempt: u32,
    gpus: &[u32],
) -> Vec<(String, String)> {
    let mut env = Vec::with_capacity(run.params.len() + 10);
    for (k, v) in &run.params {
        let text = match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        env.push((param_env_name(k), text));
    }
    env.push(("SIMFORGE_RUN_ID".into(), run.id.clone()));
    env.push(("SIMFORGE_RUN_DIR".into(), dir.display().to_string()));
    env.push(("SIMFORGE_SEED".into(), run.seed.to_string()));
    env.push(("SIMFORGE_REPLICATE".into(), run.replicate.to_string()));
    env.push(("SIMFORGE_INDEX".into(), run.index.to_string()));
    env.push(("SIMFORGE_ATTEMPT".into(), attempt.to_string()));
    env.push(("SIMFORGE_STUDY".into(), study.spec.name.clone()));
    env.push((
        "SIMFORGE_STUDY_DIR".into(),
        absolute(&study.dir).display().to_string(),
    ));
    env.push(("OMP_NUM_THREADS".into(), run_threads(study).to_string()));
    if study.resources.gpus > 0 {
        let list = gpus
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(",");
        env.push(("CUDA_VISIBLE_DEVICES".into(), list.clone()));
        env.push(("SIMFORGE_GPUS".into(), list));
    }
    env
}

/// Finds undeclared template variables and names them with a suggestion.
fn check_template_variables(
    study: &Study,
    env: &Environment<'static>,
    diags: &mut Vec<Diagnostic>,
) {
    // A dotted parameter is reached through its first segment.
    let mut known: Vec<&str> = Vec::new();
    for p in &study.space.params {
        let head = p.name.split('.').next().unwrap_or(&p.name);
        if !known.contains(&head) {
            known.push(head);
        }
    }
    known.extend_from_slice(CONTEXT_NAMES);
    for (name, tmpl) in env.templates() {
        for var in tmpl.undeclared_variables(false) {
            if known.contains(&var.as_str()) || TEMPLATE_GLOBALS.contains(&var.as_str()) {
                continue;
            }
            let path = format!("simulator.{name}");
            let mut d = study
                .source
                .error_at(&path, format!("template variable `{var}` is not defined"))
                .expected(format!(
                    "a parameter name ({}) or one of params, run, study, input",
                    known[..known.len() - CONTEXT_NAMES.len()].join(", ")
                ));
            if let Some(s) = did_you_mean(&var, known.iter().copied()) {
                d = d.hint(format!("did you mean `{s}`?"));
            }
            diags.push(d);
        }
    }
}

/// Resolves a program name the way the command will: a path with `/` relative to
/// the study directory, otherwise a search of `PATH`.
fn resolve_program(study: &Study, program: &str) -> Result<PathBuf, Box<Diagnostic>> {
    use std::os::unix::fs::PermissionsExt;
    let is_exec = |p: &Path| {
        p.metadata()
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    };
    if program.contains('/') {
        let p = if Path::new(program).is_absolute() {
            PathBuf::from(program)
        } else {
            study.dir.join(program)
        };
        if is_exec(&p) {
            return Ok(p);
        }
        let why = if p.exists() {
            "is not an executable file"
        } else {
            "does not exist"
        };
        return Err(Box::new(
            study
                .source
                .error_at(
                    "simulator.command[0]",
                    format!("executable `{program}` {why} (resolved to {})", p.display()),
                )
                .expected(
                    "the path of an executable, relative to the study file, or a program on PATH",
                )
                .hint("build the program first, fix the path, or `chmod +x` it"),
        ));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let p = dir.join(program);
        if is_exec(&p) {
            return Ok(p);
        }
    }
    Err(Box::new(
        study
            .source
            .error_at(
                "simulator.command[0]",
                format!("executable `{program}` not found on PATH"),
            )
            .expected("a program on PATH, or a path such as ./solver")
            .hint("install it, or give its path relative to the study file"),
    ))
}
