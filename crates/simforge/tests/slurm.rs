//! The SLURM backend against a real slurmctld + slurmd (scripts/slurm-cluster.sh).
//! Needs SIMFORGE_TEST_SLURM_CONF (the cluster's slurm.conf); without it the
//! tests skip, unless SIMFORGE_REQUIRE_SERVICES=1 makes them fail.

mod common;
use common::*;

use std::time::{Duration, Instant};

/// The cluster's slurm.conf, or None to skip.
fn cluster() -> Option<String> {
    match std::env::var("SIMFORGE_TEST_SLURM_CONF") {
        Ok(conf) if std::path::Path::new(&conf).is_file() => Some(conf),
        _ if std::env::var("SIMFORGE_REQUIRE_SERVICES").as_deref() == Ok("1") => {
            panic!(
                "SIMFORGE_REQUIRE_SERVICES=1 but SIMFORGE_TEST_SLURM_CONF names no slurm.conf (start scripts/slurm-cluster.sh)"
            )
        }
        _ => {
            eprintln!("skipping: SIMFORGE_TEST_SLURM_CONF is not set");
            None
        }
    }
}

fn simforge(s: &Scratch, conf: &str, args: &[&str]) -> std::process::Output {
    bin()
        .args(args)
        .current_dir(s.path())
        .env("SLURM_CONF", conf)
        .output()
        .unwrap()
}

fn study(s: &Scratch, name: &str, runs: u32, extra_slurm: &str) {
    s.script(
        "sim.sh",
        "echo \"$SIMFORGE_RUN_ID\" >> \"$SIMFORGE_STUDY_DIR/counter\"\n\
         case $SIMFORGE_PARAM_I in 3) echo broken >&2; exit 5;; 4) sleep 30;; esac\n\
         [ -n \"${SLOW:-}\" ] && sleep \"$SLOW\"\necho y=$SIMFORGE_PARAM_I",
    );
    s.write(
        "study.yaml",
        &format!(
            "name: {name}\nsimulator: {{command: [\"./sim.sh\"], outputs: {{keyvalue: stdout}}, env: {{SLOW: \"{{{{ slow }}}}\"}}}}\n\
             parameters: {{i: {{range: [1, {runs}], type: integer}}, slow: \"\"}}\ndesign: {{sampler: grid}}\n\
             resources: {{time: 2s, retries: 1, backoff: 10ms}}\n\
             backend: {{slurm: {{partition: debug, bundle: 3, array_throttle: 4{extra_slurm}}}}}\n"
        ),
    );
}

fn counter(s: &Scratch) -> Vec<String> {
    std::fs::read_to_string(s.path().join("counter"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

fn submissions(s: &Scratch) -> i64 {
    if !s.store_db().exists() {
        return 0;
    }
    rusqlite::Connection::open(s.store_db())
        .and_then(|c| c.query_row("SELECT count(*) FROM submissions", [], |r| r.get(0)))
        .unwrap_or(0)
}

/// Starts `simforge run` in the background (output piped) and waits until it
/// has recorded its first submission.
fn start_coordinator(s: &Scratch, conf: &str) -> std::process::Child {
    let child = bin()
        .args(["run", "study.yaml", "--poll", "0.3"])
        .current_dir(s.path())
        .env("SLURM_CONF", conf)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while submissions(s) == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

#[test]
fn job_arrays_run_bundles_and_record_failures_and_time_limits() {
    let Some(conf) = cluster() else { return };
    let s = Scratch::new();
    study(&s, "slarr", 12, "");
    let out = simforge(&s, &conf, &["run", "study.yaml", "--poll", "0.3"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}\n{}", stderr(&out));
    assert!(text.contains("1 job arrays submitted (1 sbatch"), "{text}");
    assert!(
        text.contains("study now: 10 succeeded, 1 failed, 1 timed_out"),
        "{text}"
    );
    assert!(text.contains("exit code 5: broken"), "{text}");
    assert_eq!(
        counter(&s).len(),
        14,
        "12 runs and one retry each for the two bad ones"
    );
    // Task logs are written where the script says.
    let logs = std::fs::read_dir(s.path().join(".simforge/slurm/slarr/logs"))
        .unwrap()
        .count();
    assert_eq!(logs, 4, "12 runs in bundles of 3");
    // Running again submits nothing.
    let again = stdout(&simforge(
        &s,
        &conf,
        &["run", "study.yaml", "--poll", "0.3"],
    ));
    assert!(again.contains("0 job arrays submitted"), "{again}");
}

#[test]
fn a_restarted_coordinator_reattaches_and_cancel_scancels() {
    let Some(conf) = cluster() else { return };
    let s = Scratch::new();
    study(&s, "slre", 6, "");
    // Runs of about 1 s (under the 2 s wall time), so the coordinator can be killed mid-array.
    let text = std::fs::read_to_string(s.path().join("study.yaml")).unwrap();
    s.write(
        "study.yaml",
        &text
            .replace("slow: \"\"", "slow: \"1\"")
            .replace("range: [1, 6]", "range: [5, 10]"),
    );
    let mut coordinator = start_coordinator(&s, &conf);
    assert_eq!(submissions(&s), 1, "the coordinator submitted its array");
    coordinator.kill().unwrap(); // SIGKILL: the jobs keep running
    coordinator.wait().unwrap();
    let out = simforge(&s, &conf, &["run", "study.yaml", "--poll", "0.3"]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}\n{}", stderr(&out));
    assert!(
        text.contains("0 job arrays submitted") && text.contains("1 jobs re-attached"),
        "{text}"
    );
    assert!(text.contains("study now: 6 succeeded"), "{text}");
    let lines = counter(&s);
    let unique: std::collections::HashSet<_> = lines.iter().collect();
    assert_eq!((lines.len(), unique.len()), (6, 6), "no run executed twice");

    // `simforge cancel` scancels a submitted array; its runs go back to pending.
    let s2 = Scratch::new();
    study(&s2, "slcan", 6, "");
    let text = std::fs::read_to_string(s2.path().join("study.yaml")).unwrap();
    s2.write(
        "study.yaml",
        &text
            .replace("slow: \"\"", "slow: \"20\"")
            .replace("time: 2s", "time: 60s"),
    );
    let mut coordinator = start_coordinator(&s2, &conf);
    coordinator.kill().unwrap();
    coordinator.wait().unwrap();
    let out = ok(simforge(&s2, &conf, &["cancel", "study.yaml"]));
    assert!(out.contains("cancelled jobs"), "{out}");
    let c = state_counts(&s2.store_db());
    assert_eq!(c.get("pending"), Some(&6), "{c:?}");
    let q = std::process::Command::new("squeue")
        .args(["-h", "--name", "simforge-slcan"])
        .env("SLURM_CONF", &conf)
        .output()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut left = String::from_utf8_lossy(&q.stdout).trim().to_string();
    while !left.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        let q = std::process::Command::new("squeue")
            .args(["-h", "--name", "simforge-slcan"])
            .env("SLURM_CONF", &conf)
            .output()
            .unwrap();
        left = String::from_utf8_lossy(&q.stdout).trim().to_string();
    }
    assert!(left.is_empty(), "jobs still queued: {left}");
}

#[test]
fn runs_lost_by_a_cancelled_task_are_resubmitted_with_the_reason() {
    let Some(conf) = cluster() else { return };
    let s = Scratch::new();
    study(&s, "sllost", 6, "");
    let text = std::fs::read_to_string(s.path().join("study.yaml")).unwrap();
    s.write(
        "study.yaml",
        &text
            .replace("slow: \"\"", "slow: \"3\"")
            .replace("time: 2s", "time: 30s")
            .replace("range: [1, 6]", "range: [5, 10]"),
    );
    let coordinator = start_coordinator(&s, &conf);
    let job: String = rusqlite::Connection::open(s.store_db())
        .unwrap()
        .query_row("SELECT job_id FROM submissions", [], |r| r.get(0))
        .unwrap();
    // Someone else cancels the array behind simforge's back.
    let sc = std::process::Command::new("scancel")
        .arg(&job)
        .env("SLURM_CONF", &conf)
        .status()
        .unwrap();
    assert!(sc.success());
    let out = coordinator.wait_with_output().unwrap();
    let text = stdout(&out);
    assert!(out.status.success(), "{text}\n{}", stderr(&out));
    assert!(
        text.contains("2 job arrays submitted"),
        "the lost runs were resubmitted: {text}"
    );
    assert!(text.contains("study now: 6 succeeded"), "{text}");
    let conn = rusqlite::Connection::open(s.store_db()).unwrap();
    let reasons: i64 = conn
        .query_row(
            "SELECT count(*) FROM attempts WHERE reason LIKE 'the SLURM task was cancelled (job %'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(
        reasons >= 1,
        "lost runs carry the task's SLURM state as their reason"
    );
}

/// A pilot-mode study: `done` gets one line per run that finished its work, so
/// a run executed twice shows up as a duplicate line.
fn pilot_study(s: &Scratch, name: &str, runs: u32, slow: &str, pilot: &str) {
    s.script(
        "sim.sh",
        "case $SIMFORGE_PARAM_I in 3) echo broken >&2; exit 5;; 4) sleep 30;; esac\n\
         [ -n \"${SLOW:-}\" ] && sleep \"$SLOW\"\n\
         echo \"$SIMFORGE_RUN_ID\" >> \"$SIMFORGE_STUDY_DIR/done\"\necho y=$SIMFORGE_PARAM_I",
    );
    s.write(
        "study.yaml",
        &format!(
            "name: {name}\nsimulator: {{command: [\"./sim.sh\"], outputs: {{keyvalue: stdout}}, env: {{SLOW: \"{slow}\"}}}}\n\
             parameters: {{i: {{range: [1, {runs}], type: integer}}}}\ndesign: {{sampler: grid}}\n\
             resources: {{time: 2s, retries: 1, backoff: 10ms}}\n\
             backend: {{slurm: {{partition: debug, mode: pilot, pilot: {{{pilot}}}}}}}\n"
        ),
    );
}

/// Lines of `done`, asserting none repeats.
fn done_once(s: &Scratch) -> usize {
    let lines: Vec<String> = std::fs::read_to_string(s.path().join("done"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect();
    let unique: std::collections::HashSet<&String> = lines.iter().collect();
    assert_eq!(
        unique.len(),
        lines.len(),
        "a finished run executed again: {lines:?}"
    );
    lines.len()
}

/// Waits until no job of `name` is queued.
fn queue_drains(conf: &str, name: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let q = std::process::Command::new("squeue")
            .args(["-h", "--name", &format!("simforge-{name}")])
            .env("SLURM_CONF", conf)
            .output()
            .unwrap();
        let left = String::from_utf8_lossy(&q.stdout).trim().to_string();
        if left.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "pilots still queued: {left}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn pilot_workers_run_a_study_with_failures_and_time_limits_then_leave() {
    let Some(conf) = cluster() else { return };
    let s = Scratch::new();
    pilot_study(
        &s,
        "slpil",
        12,
        "",
        "max: 2, slots: 2, idle_exit: 5s, heartbeat: 1s",
    );
    let out = simforge(&s, &conf, &["run", "study.yaml", "--poll", "0.3"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}\n{}", stderr(&out));
    assert!(
        text.contains("study now: 10 succeeded, 1 failed, 1 timed_out"),
        "{text}"
    );
    assert!(text.contains("exit code 5: broken"), "{text}");
    assert!(
        text.contains("2 pilots submitted") && text.contains("(1 sbatch"),
        "one array of two pilots serves every run: {text}"
    );
    assert_eq!(done_once(&s), 10);
    assert!(
        text.contains("report:") && s.path().join(".simforge/reports/slpil.html").is_file(),
        "{text}"
    );
    // Attempts went through the coordinator: the failing run has both.
    let conn = rusqlite::Connection::open(s.store_db()).unwrap();
    let attempts: i64 = conn
        .query_row(
            "SELECT count(*) FROM attempts WHERE reason LIKE 'exit code 5%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(attempts, 2, "the failing run was tried twice");
    queue_drains(&conf, "slpil");
    let again = stdout(&simforge(
        &s,
        &conf,
        &["run", "study.yaml", "--poll", "0.3"],
    ));
    assert!(again.contains("0 pilots submitted"), "{again}");
}

#[test]
fn a_killed_pilot_and_a_restarted_coordinator_lose_and_repeat_no_run() {
    let Some(conf) = cluster() else { return };
    let s = Scratch::new();
    // Runs 5..16 of about 0.5 s, one pilot at a time.
    pilot_study(
        &s,
        "slkill",
        16,
        "0.5",
        "max: 1, slots: 1, idle_exit: 5s, heartbeat: 500ms",
    );
    let text = std::fs::read_to_string(s.path().join("study.yaml")).unwrap();
    s.write(
        "study.yaml",
        &text.replace("range: [1, 16]", "range: [5, 16]"),
    );
    let spawn = || {
        bin()
            .args(["run", "study.yaml", "--poll", "0.3"])
            .current_dir(s.path())
            .env("SLURM_CONF", &conf)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let wait_done = |n: usize| {
        let deadline = Instant::now() + Duration::from_secs(30);
        while done_once(&s) < n {
            assert!(Instant::now() < deadline, "runs are not finishing");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let mut coordinator = spawn();
    wait_done(2);
    // The first pilot dies hard (SIGKILL to the whole job): no goodbye, its
    // leases are taken back when the job leaves the queue.
    let job: String = rusqlite::Connection::open(s.store_db())
        .unwrap()
        .query_row("SELECT job_id FROM submissions", [], |r| r.get(0))
        .unwrap();
    let k = std::process::Command::new("scancel")
        .args(["--full", "--signal=KILL", &job])
        .env("SLURM_CONF", &conf)
        .status()
        .unwrap();
    assert!(k.success());
    wait_done(6);
    // Now the coordinator dies; the second pilot keeps its runs and finds
    // the restarted coordinator through the rewritten coordinator file.
    coordinator.kill().unwrap();
    coordinator.wait().unwrap();
    let out = spawn().wait_with_output().unwrap();
    let text = stdout(&out);
    assert!(out.status.success(), "{text}\n{}", stderr(&out));
    assert!(text.contains("study now: 12 succeeded"), "{text}");
    assert!(
        text.contains("1 jobs re-attached"),
        "the second pilot was adopted: {text}"
    );
    assert!(
        !text.contains(" 0 leases adopted"),
        "its held runs were adopted: {text}"
    );
    assert_eq!(done_once(&s), 12);
    let submitted: i64 = rusqlite::Connection::open(s.store_db())
        .unwrap()
        .query_row("SELECT count(*) FROM submissions", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        submitted, 2,
        "one replacement pilot, none after the restart"
    );
    queue_drains(&conf, "slkill");
}

#[test]
fn a_job_submitted_but_not_recorded_is_found_by_its_comment() {
    let Some(conf) = cluster() else { return };
    let s = Scratch::new();
    study(&s, "slunrec", 6, "");
    let text = std::fs::read_to_string(s.path().join("study.yaml")).unwrap();
    s.write(
        "study.yaml",
        &text.replace("range: [1, 6]", "range: [5, 10]"),
    );
    ok(simforge(&s, &conf, &["plan", "study.yaml"]));
    // The state a coordinator killed between sbatch and recording leaves: runs
    // marked `submitting:` with a token, and (for the first three) a job in the
    // queue whose comment carries that token. The job never writes results.
    let wrap = std::process::Command::new("sbatch")
        .args([
            "--parsable",
            "--job-name=simforge-slunrec",
            "--comment=simforge:tok1",
            "--output=/dev/null",
            "--wrap",
            "sleep 2",
        ])
        .env("SLURM_CONF", &conf)
        .output()
        .unwrap();
    assert!(wrap.status.success(), "{}", stderr(&wrap));
    let job = stdout(&wrap).trim().to_string();
    let conn = rusqlite::Connection::open(s.store_db()).unwrap();
    conn.execute_batch(
        "UPDATE runs SET state = 'running', job = 'submitting:tok1|0|/nonexistent.json'
           WHERE id IN (SELECT id FROM runs ORDER BY idx LIMIT 3);
         UPDATE runs SET state = 'running', job = 'submitting:tok2|0|/nonexistent.json'
           WHERE state = 'pending';",
    )
    .unwrap();
    let out = simforge(&s, &conf, &["run", "study.yaml", "--poll", "0.3"]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}\n{}", stderr(&out));
    assert!(
        text.contains("1 jobs re-attached"),
        "the queued job was adopted: {text}"
    );
    assert!(text.contains("study now: 6 succeeded"), "{text}");
    let adopted: i64 = conn
        .query_row(
            "SELECT count(*) FROM attempts WHERE reason LIKE ?1",
            [format!("%(job {job}%")],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        adopted, 3,
        "the adopted job's three runs were accounted to it"
    );
    let counted = counter(&s).len();
    assert_eq!(
        counted, 6,
        "each run executed once by simforge's own arrays"
    );
}

#[test]
fn a_task_past_its_slurm_time_limit_loses_only_its_unfinished_run() {
    let Some(conf) = cluster() else { return };
    let s = Scratch::new();
    // Two runs of 50 s in one task limited to 1 minute: the first finishes,
    // SLURM stops the task (TIMEOUT; slurmctld checks limits every 30 s, so
    // between 60 and 90 s) during the second, which is retried in an array of
    // its own. About 2.5 minutes: SLURM's time limits are whole minutes.
    study(&s, "sltime", 2, ", time: 1m, bundle: 2");
    let text = std::fs::read_to_string(s.path().join("study.yaml")).unwrap();
    s.write(
        "study.yaml",
        &text
            .replace("slow: \"\"", "slow: \"50\"")
            .replace("time: 2s", "time: 100s")
            .replace("range: [1, 2]", "range: [5, 6]")
            .replace("bundle: 3, ", ""),
    );
    let out = simforge(&s, &conf, &["run", "study.yaml", "--poll", "1"]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}\n{}", stderr(&out));
    assert!(text.contains("study now: 2 succeeded"), "{text}");
    assert!(text.contains("2 job arrays submitted"), "{text}");
    let conn = rusqlite::Connection::open(s.store_db()).unwrap();
    let timed_out: i64 = conn
        .query_row(
            "SELECT count(*) FROM attempts WHERE reason LIKE 'the SLURM task hit its time limit (job %'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(timed_out, 1, "only the run in progress was lost: {text}");
    let mut lines = counter(&s);
    lines.sort();
    lines.dedup();
    assert_eq!(lines.len(), 2);
}

#[test]
fn optimize_runs_its_batches_as_slurm_job_arrays() {
    // The adaptive loop on SLURM: 4 initial LHS points, then batches of 4
    // proposals, each batch one job array, to a budget of 12 runs.
    let Some(conf) = cluster() else { return };
    let s = Scratch::new();
    s.write(
        "study.yaml",
        "name: bo-slurm\nsimulator: {builtin: analytic, options: {function: branin}}\n\
         parameters:\n  x1: {range: [-5, 10]}\n  x2: {range: [0, 15]}\n\
         design: {sampler: lhs, samples: 4, seed: 3}\nmetrics: [y]\nobjective: {minimize: y}\n\
         optimize: {budget: 12, batch: 4}\nresources: {time: 1m}\n\
         backend: {slurm: {partition: debug}}\n",
    );
    let out = simforge(
        &s,
        &conf,
        &["optimize", "study.yaml", "--poll", "0.3", "--no-report"],
    );
    let text = ok(out);
    assert!(text.contains("stopped: the run budget is spent"), "{text}");
    assert!(text.contains("iteration   2: +4 points, 12 runs"), "{text}");
    let db = s.store_db();
    let conn = rusqlite::Connection::open(&db).unwrap();
    let done: i64 = conn
        .query_row(
            "SELECT count(*) FROM runs WHERE state = 'succeeded'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(done, 12);
    // One job array per batch: the initial design and two proposal batches.
    assert!(submissions(&s) >= 3, "{} submissions", submissions(&s));
}
