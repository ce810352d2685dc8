//! SLURM job arrays: how many runs each array task gets, how a large submission
//! is split under the cluster's MaxArraySize, and the exact sbatch scripts.
//!
//! Each array task runs `simforge exec-bundle MANIFEST --task N` on a shared
//! filesystem; it writes `result.json` files that the coordinator ingests, so the
//! coordinator stays the only writer of the store.

use std::collections::HashMap;
use std::fmt::Write;
use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use simforge_core::study::{PilotSettings, Resources, SlurmBackend};

use crate::bundle::BundleRun;

/// Bundle size when nothing is known about run times.
const DEFAULT_BUNDLE: usize = 1;
/// Largest bundle chosen automatically.
const MAX_AUTO_BUNDLE: usize = 10_000;
/// SLURM's default MaxArraySize.
pub const DEFAULT_MAX_ARRAY_SIZE: u32 = 1001;
/// Target length of an array task, in minutes, when choosing bundles.
const DEFAULT_TASK_MINUTES: f64 = 5.0;
/// Margin added to a task's computed wall time.
const TASK_TIME_MARGIN: Duration = Duration::from_secs(300);
/// Task wall time without `time` settings.
const DEFAULT_TASK_TIME: Duration = Duration::from_secs(3600);

/// Runs per array task: the user's `bundle`, else enough runs of the median
/// observed duration to fill `task_minutes`, else 1.
pub fn bundle_size(slurm: &SlurmBackend, median_run_s: Option<f64>) -> usize {
    choose_bundle(slurm.spec.bundle, slurm.spec.task_minutes, median_run_s)
}

/// Runs per cluster task (SLURM array task or Kubernetes pod): `bundle` if
/// given, else enough runs of the median observed duration to fill
/// `task_minutes` (default 5), else 1.
pub fn choose_bundle(
    bundle: Option<u32>,
    task_minutes: Option<f64>,
    median_run_s: Option<f64>,
) -> usize {
    if let Some(b) = bundle {
        return b.max(1) as usize;
    }
    let target = task_minutes.unwrap_or(DEFAULT_TASK_MINUTES) * 60.0;
    match median_run_s {
        Some(m) if m > 0.0 && m.is_finite() => {
            ((target / m).ceil() as usize).clamp(1, MAX_AUTO_BUNDLE)
        }
        _ => DEFAULT_BUNDLE,
    }
}

/// Wall time of one task: the user's `time`, else the bundle's runs at
/// `resources.time` each (every attempt) plus a margin, else one hour.
pub fn task_time(slurm: &SlurmBackend, resources: &Resources, bundle: usize) -> Duration {
    if let Some(t) = slurm.time {
        return t;
    }
    match resources.time {
        Some(per_run) => per_run * (bundle as u32) * (resources.retries + 1) + TASK_TIME_MARGIN,
        None => DEFAULT_TASK_TIME,
    }
}

/// A duration as SLURM's `D-HH:MM:SS` (whole minutes rounded up).
pub fn slurm_time(d: Duration) -> String {
    let mins = d.as_secs().div_ceil(60).max(1);
    format!(
        "{}-{:02}:{:02}:00",
        mins / 1440,
        (mins % 1440) / 60,
        mins % 60
    )
}

/// Groups pending runs by the memory their next task should ask for: `mem`
/// grown by `factor` for each time the run was lost to OUT_OF_MEMORY (from
/// `ooms`), capped at `max`. Returns (memory, runs) in increasing memory.
pub fn memory_levels(
    runs: Vec<BundleRun>,
    ooms: &HashMap<String, u32>,
    mem: u64,
    factor: f64,
    max: Option<u64>,
) -> Vec<(u64, Vec<BundleRun>)> {
    let mut levels: std::collections::BTreeMap<u64, Vec<BundleRun>> = Default::default();
    for run in runs {
        let k = ooms.get(&run.id).copied().unwrap_or(0);
        let grown = (mem as f64 * factor.powi(k as i32)).min(u64::MAX as f64) as u64;
        let m = max.map_or(grown, |cap| grown.min(cap.max(mem)));
        levels.entry(m).or_default().push(run);
    }
    levels.into_iter().collect()
}

/// Splits runs into bundles of `bundle` runs and groups the bundles into arrays
/// of at most `max_array_size` tasks. Returns the bundles and, per array, the
/// range of bundle indices it covers.
pub fn plan_arrays(
    runs: Vec<BundleRun>,
    bundle: usize,
    max_array_size: usize,
) -> (Vec<Vec<BundleRun>>, Vec<Range<usize>>) {
    let bundle = bundle.max(1);
    let mut bundles: Vec<Vec<BundleRun>> = Vec::with_capacity(runs.len().div_ceil(bundle));
    for run in runs {
        match bundles.last_mut() {
            Some(b) if b.len() < bundle => b.push(run),
            _ => bundles.push(vec![run]),
        }
    }
    let per = max_array_size.max(1);
    let arrays = (0..bundles.len())
        .step_by(per)
        .map(|s| s..(s + per).min(bundles.len()))
        .collect();
    (bundles, arrays)
}

/// Quotes a word for bash.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// What one sbatch script needs.
pub struct ScriptInput<'a> {
    /// Study name (for the job name).
    pub study: &'a str,
    /// SLURM settings.
    pub slurm: &'a SlurmBackend,
    /// Per-run resources.
    pub resources: &'a Resources,
    /// The simforge executable the tasks run.
    pub exe: &'a Path,
    /// The bundle manifest.
    pub manifest: &'a Path,
    /// Directory for task logs.
    pub log_dir: &'a Path,
    /// Runs per task (for the wall time).
    pub bundle: usize,
}

/// The `#SBATCH` lines every simforge job shares, then `set -e` and the
/// user's setup lines.
fn script_head(
    slurm: &SlurmBackend,
    study: &str,
    array: &str,
    output: &str,
    time: Duration,
) -> String {
    let s = &slurm.spec;
    let mut out = String::from("#!/bin/bash\n");
    let mut opt = |line: String| {
        let _ = writeln!(out, "#SBATCH {line}");
    };
    opt(format!("--job-name=simforge-{study}"));
    opt(format!("--array={array}"));
    opt(format!("--output={output}"));
    opt(format!("--time={}", slurm_time(time)));
    opt(format!("--cpus-per-task={}", slurm.cpus_per_task));
    if let Some(mem) = slurm.mem {
        opt(format!("--mem={}M", mem.div_ceil(1024 * 1024)));
    }
    if slurm.gpus > 0 {
        opt(format!("--gpus-per-task={}", slurm.gpus));
    }
    for (flag, value) in [
        ("partition", &s.partition),
        ("account", &s.account),
        ("qos", &s.qos),
        ("constraint", &s.constraint),
        ("gres", &s.gres),
    ] {
        if let Some(v) = value {
            opt(format!("--{flag}={v}"));
        }
    }
    for extra in &s.extra {
        opt(extra.clone());
    }
    out.push_str("set -euo pipefail\n");
    for line in &s.setup {
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// The sbatch script of one array covering bundle indices `tasks`. Array indices
/// start at 0 in every array (they must stay below MaxArraySize); the task adds
/// the array's offset to find its bundle.
pub fn sbatch_script(input: &ScriptInput<'_>, tasks: &Range<usize>) -> String {
    let last = tasks.len().saturating_sub(1);
    let array = match input.slurm.spec.array_throttle {
        Some(t) => format!("0-{last}%{t}"),
        None => format!("0-{last}"),
    };
    let mut out = script_head(
        input.slurm,
        input.study,
        &array,
        &format!("{}/%A_%a.out", input.log_dir.display()),
        task_time(input.slurm, input.resources, input.bundle),
    );
    let _ = writeln!(
        out,
        "exec {} exec-bundle {} --task $((SLURM_ARRAY_TASK_ID + {}))",
        sh_quote(&input.exe.display().to_string()),
        sh_quote(&input.manifest.display().to_string()),
        tasks.start
    );
    out
}

/// What a pilot job script needs.
pub struct PilotScriptInput<'a> {
    /// Study name (for the job name).
    pub study: &'a str,
    /// SLURM settings (in pilot mode).
    pub slurm: &'a SlurmBackend,
    /// Pilot settings.
    pub pilot: &'a PilotSettings,
    /// The simforge executable the pilots run.
    pub exe: &'a Path,
    /// The coordinator file (URL and token).
    pub connection: &'a Path,
    /// Directory for pilot logs.
    pub log_dir: &'a Path,
}

/// The sbatch script submitting `count` pilots as one array; each runs
/// `simforge worker` until the coordinator has nothing left, it idles, or its
/// wall time nears.
pub fn pilot_script(input: &PilotScriptInput<'_>, count: u32) -> String {
    let p = input.pilot;
    let mut out = script_head(
        input.slurm,
        input.study,
        &format!("0-{}", count.saturating_sub(1)),
        &format!("{}/pilot-%A_%a.out", input.log_dir.display()),
        p.time,
    );
    let _ = writeln!(
        out,
        "exec {} worker --connection {} --id \"${{SLURM_ARRAY_JOB_ID}}_${{SLURM_ARRAY_TASK_ID}}\" \\\n  --slots {} --idle-exit {} --wall {}",
        sh_quote(&input.exe.display().to_string()),
        sh_quote(&input.connection.display().to_string()),
        p.slots,
        p.idle_exit.as_secs_f64(),
        // SLURM rounds --time up to whole minutes; the worker plans on that.
        p.time.as_secs().div_ceil(60).max(1) * 60
    );
    out
}

/// The SLURM state of each array task of one job, from `scontrol show job -o`
/// output (one line per task record). Pending or cancelled-before-start tasks
/// share one record whose `ArrayTaskId` is a list of ranges such as
/// `2-5%2` or `1,3,7-9`; each task in it gets the record's state.
pub fn array_task_states(scontrol: &str) -> HashMap<usize, String> {
    let mut out = HashMap::new();
    for line in scontrol.lines() {
        let field = |key: &str| line.split_whitespace().find_map(|w| w.strip_prefix(key));
        let (Some(ids), Some(state)) = (field("ArrayTaskId="), field("JobState=")) else {
            continue;
        };
        for task in array_task_ids(ids) {
            out.insert(task, state.to_string());
        }
    }
    out
}

/// The same from `sacct -X -n -P -o JobID,State -j JOB` output (lines such as
/// `27_3|TIMEOUT`, `27_[4-7]|CANCELLED by 0`), for jobs that `scontrol` has
/// already forgotten (older than MinJobAge) on clusters with accounting.
pub fn sacct_task_states(sacct: &str) -> HashMap<usize, String> {
    let mut out = HashMap::new();
    for line in sacct.lines() {
        let Some((id, state)) = line.trim().split_once('|') else {
            continue;
        };
        let Some((_, tasks)) = id.split_once('_') else {
            continue;
        };
        let state = state.split_whitespace().next().unwrap_or_default();
        for task in array_task_ids(tasks.trim_start_matches('[').trim_end_matches(']')) {
            out.insert(task, state.to_string());
        }
    }
    out
}

/// Expands a SLURM array index list (`0-3,7,9-11%4`; the `%N` throttle is
/// ignored). Malformed parts are skipped: this reads SLURM's own output.
pub fn array_task_ids(list: &str) -> Vec<usize> {
    let list = list.split('%').next().unwrap_or_default();
    let mut out = Vec::new();
    for part in list.split(',') {
        let mut ends = part.splitn(2, '-').map(str::parse::<usize>);
        match (ends.next(), ends.next()) {
            (Some(Ok(a)), None) => out.push(a),
            (Some(Ok(a)), Some(Ok(b))) if a <= b => out.extend(a..=b),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use simforge_core::spec::SlurmSpec;

    fn backend(spec: SlurmSpec) -> SlurmBackend {
        SlurmBackend {
            spec,
            time: None,
            mem: Some(3 << 30),
            cpus_per_task: 2,
            gpus: 1,
            pilot: None,
            oom_retry: None,
        }
    }

    fn resources(time: Option<u64>) -> Resources {
        Resources {
            cpus: 2.0,
            memory: None,
            gpus: 1,
            time: time.map(Duration::from_secs),
            retries: 1,
            backoff: Duration::from_secs(1),
            max_log_size: 1,
            max_failures: None,
        }
    }

    fn run(i: u64) -> BundleRun {
        BundleRun {
            id: format!("r{i}"),
            index: i,
            replicate: 0,
            seed: i,
            params: Default::default(),
            attempts: 0,
        }
    }

    #[test]
    fn task_states_expand_ranges_of_pending_tasks() {
        let out = "JobId=14 ArrayJobId=14 ArrayTaskId=2-5%2 JobState=CANCELLED Reason=None\n\
                   JobId=16 ArrayJobId=14 ArrayTaskId=1 JobState=TIMEOUT Reason=None\n\
                   JobId=15 ArrayJobId=14 ArrayTaskId=0 JobState=COMPLETED Reason=None\n";
        let s = array_task_states(out);
        assert_eq!(s.len(), 6);
        assert_eq!(s[&0], "COMPLETED");
        assert_eq!(s[&1], "TIMEOUT");
        assert!((2..=5).all(|t| s[&t] == "CANCELLED"));
        assert_eq!(array_task_ids("1,3,7-9"), vec![1, 3, 7, 8, 9]);
        let s = sacct_task_states(
            "27_0|COMPLETED\n27_1|OUT_OF_MEMORY\n27_[2-3%2]|CANCELLED by 0\n27|FAILED\n",
        );
        assert_eq!(s.len(), 4);
        assert_eq!(s[&1], "OUT_OF_MEMORY");
        assert_eq!(s[&3], "CANCELLED");
        assert_eq!(
            array_task_ids("5-2,x,4"),
            vec![4],
            "malformed parts are skipped"
        );
    }

    #[test]
    fn out_of_memory_runs_ask_for_more() {
        let ooms: HashMap<String, u32> = [("r1".to_string(), 1), ("r2".to_string(), 3)].into();
        let levels = memory_levels(
            (0..4).map(run).collect(),
            &ooms,
            1 << 30,
            2.0,
            Some(6 << 30),
        );
        let shape: Vec<(u64, Vec<String>)> = levels
            .into_iter()
            .map(|(m, rs)| (m >> 30, rs.into_iter().map(|r| r.id).collect()))
            .collect();
        assert_eq!(
            shape,
            vec![
                (1, vec!["r0".to_string(), "r3".to_string()]),
                (2, vec!["r1".to_string()]),
                (6, vec!["r2".to_string()]),
            ],
            "1 GiB, doubled per loss, capped at 6 GiB"
        );
    }

    #[test]
    fn bundles_fill_the_target_task_length() {
        let b = backend(SlurmSpec::default());
        assert_eq!(bundle_size(&b, None), 1, "no history: one run per task");
        assert_eq!(bundle_size(&b, Some(2.0)), 150, "5 min of 2 s runs");
        assert_eq!(bundle_size(&b, Some(900.0)), 1, "long runs: one per task");
        let fixed = backend(SlurmSpec {
            bundle: Some(7),
            ..Default::default()
        });
        assert_eq!(bundle_size(&fixed, Some(2.0)), 7, "the user's bundle wins");
        let short = backend(SlurmSpec {
            task_minutes: Some(1.0),
            ..Default::default()
        });
        assert_eq!(bundle_size(&short, Some(2.0)), 30);
    }

    #[test]
    fn arrays_respect_max_array_size() {
        let (bundles, arrays) = plan_arrays((0..2503).map(run).collect(), 2, 1001);
        assert_eq!(bundles.len(), 1252);
        assert_eq!(bundles[1251].len(), 1);
        assert_eq!(arrays, vec![0..1001, 1001..1252]);
        let (b, a) = plan_arrays(vec![], 5, 10);
        assert!(b.is_empty() && a.is_empty());
    }

    #[test]
    fn task_time_covers_the_bundle() {
        let b = backend(SlurmSpec::default());
        // 10 runs × 60 s × 2 attempts + 5 min = 25 min.
        assert_eq!(
            task_time(&b, &resources(Some(60)), 10),
            Duration::from_secs(1500)
        );
        assert_eq!(
            task_time(&b, &resources(None), 10),
            Duration::from_secs(3600)
        );
        assert_eq!(slurm_time(Duration::from_secs(1500)), "0-00:25:00");
        assert_eq!(slurm_time(Duration::from_secs(90_061)), "1-01:02:00");
        assert_eq!(slurm_time(Duration::from_secs(1)), "0-00:01:00");
    }

    #[test]
    fn script_has_every_option_and_the_offset() {
        let spec = SlurmSpec {
            partition: Some("short".into()),
            account: Some("proj1".into()),
            array_throttle: Some(50),
            extra: vec!["--exclusive".into()],
            setup: vec!["module load gcc".into()],
            ..Default::default()
        };
        let b = backend(spec);
        let r = resources(Some(60));
        let input = ScriptInput {
            study: "cavity",
            slurm: &b,
            resources: &r,
            exe: Path::new("/opt/simforge"),
            manifest: Path::new("/shared/it's/m.json"),
            log_dir: Path::new("/shared/logs"),
            bundle: 10,
        };
        let script = sbatch_script(&input, &(1001..1252));
        let expect = "#!/bin/bash
#SBATCH --job-name=simforge-cavity
#SBATCH --array=0-250%50
#SBATCH --output=/shared/logs/%A_%a.out
#SBATCH --time=0-00:25:00
#SBATCH --cpus-per-task=2
#SBATCH --mem=3072M
#SBATCH --gpus-per-task=1
#SBATCH --partition=short
#SBATCH --account=proj1
#SBATCH --exclusive
set -euo pipefail
module load gcc
exec '/opt/simforge' exec-bundle '/shared/it'\\''s/m.json' --task $((SLURM_ARRAY_TASK_ID + 1001))
";
        assert_eq!(script, expect);
    }
}
