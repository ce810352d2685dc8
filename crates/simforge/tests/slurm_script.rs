//! The SLURM backend's settings and `simforge slurm script` (no cluster needed).

mod common;
use common::*;

const STUDY: &str = "name: cl\nsimulator: {builtin: analytic, options: {function: branin}}\n\
parameters: {x1: {range: [-5, 10]}, x2: {range: [0, 15]}}\ndesign: {sampler: sobol, samples: 2500}\n\
resources: {cpus: 2, memory: 1GiB, time: 30s}\n";

#[test]
fn scripts_are_printed_split_under_max_array_size() {
    let s = Scratch::new();
    s.write(
        "study.yaml",
        &format!(
            "{STUDY}backend:\n  slurm: {{partition: debug, bundle: 2, array_throttle: 20, max_array_size: 1001, setup: [\"module load gcc\"]}}\n"
        ),
    );
    assert!(ok(s.simforge(&["check", "study.yaml"])).contains("2500 runs"));
    let out = s.simforge(&["slurm", "script", "study.yaml"]);
    let text = ok(out.clone());
    assert!(
        stderr(&out).contains("2500 pending runs in 1250 tasks of up to 2 runs, 2 array(s)"),
        "{}",
        stderr(&out)
    );
    assert_eq!(text.matches("#!/bin/bash").count(), 2);
    assert!(text.contains("#SBATCH --array=0-1000%20"), "{text}");
    assert!(text.contains("#SBATCH --array=0-248%20"), "{text}");
    assert!(
        text.contains("--task $((SLURM_ARRAY_TASK_ID + 1001))"),
        "{text}"
    );
    assert!(
        text.contains("#SBATCH --cpus-per-task=2\n#SBATCH --mem=1024M"),
        "{text}"
    );
    // 2 runs × 30 s + 5 min margin = 6 min.
    assert!(text.contains("#SBATCH --time=0-00:06:00"), "{text}");
    assert!(text.contains("#SBATCH --partition=debug\n"), "{text}");
    assert!(text.contains("module load gcc\nexec "), "{text}");
    assert!(
        !s.path().join(".simforge").exists(),
        "printing scripts writes nothing"
    );
}

#[test]
fn slurm_settings_are_checked() {
    let s = Scratch::new();
    s.write(
        "study.yaml",
        &format!("{STUDY}backend:\n  slurm: {{partiton: debug}}\n"),
    );
    let out = s.simforge(&["check", "study.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("study.yaml:7:11"), "{err}");
    assert!(
        err.contains("unknown key `partiton`") && err.contains("did you mean `partition`?"),
        "{err}"
    );
    s.write("study.yaml", &format!("{STUDY}backend: slrum\n"));
    let err = stderr(&s.simforge(&["check", "study.yaml"]));
    assert!(
        err.contains("unknown backend `slrum`") && err.contains("did you mean `slurm`?"),
        "{err}"
    );
    s.write(
        "study.yaml",
        &format!("{STUDY}backend: {{slurm: {{extra: [\"exclusive\"], bundle: 0, oom_retry: {{factor: 1}}}}}}\n"),
    );
    let err = stderr(&s.simforge(&["check", "study.yaml"]));
    assert!(err.contains("`exclusive` is not an sbatch option"), "{err}");
    assert!(err.contains("a bundle of zero runs"), "{err}");
    assert!(err.contains("a growth factor of 1"), "{err}");
    s.write("study.yaml", STUDY);
    let out = s.simforge(&["slurm", "script", "study.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("does not use the SLURM backend"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn pilot_scripts_size_the_job_for_its_slots() {
    let s = Scratch::new();
    s.write(
        "study.yaml",
        &format!(
            "{STUDY}backend:\n  slurm: {{partition: debug, mode: pilot, pilot: {{max: 8, slots: 4, time: 2h, idle_exit: 90s}}}}\n"
        ),
    );
    let out = s.simforge(&["slurm", "script", "study.yaml"]);
    let text = ok(out.clone());
    assert!(
        stderr(&out).contains("up to 8 pilots of 4 slots"),
        "{}",
        stderr(&out)
    );
    assert_eq!(text.matches("#!/bin/bash").count(), 1, "{text}");
    assert!(text.contains("#SBATCH --array=0-7\n"), "{text}");
    assert!(text.contains("#SBATCH --time=0-02:00:00\n"), "{text}");
    // 4 slots × (2 CPUs, 1 GiB) per run.
    assert!(
        text.contains("#SBATCH --cpus-per-task=8\n#SBATCH --mem=4096M\n"),
        "{text}"
    );
    assert!(text.contains(" worker --connection '"), "{text}");
    assert!(
        text.contains("pilot.json' --id \"${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}\""),
        "{text}"
    );
    assert!(
        text.contains("--slots 4 --idle-exit 90 --wall 7200"),
        "{text}"
    );
    assert!(
        !s.path().join(".simforge").exists(),
        "printing scripts writes nothing"
    );
}

#[test]
fn pilot_settings_are_checked() {
    let s = Scratch::new();
    s.write(
        "study.yaml",
        &format!("{STUDY}backend: {{slurm: {{pilot: {{max: 2}}}}}}\n"),
    );
    let err = stderr(&s.simforge(&["check", "study.yaml"]));
    assert!(err.contains("pilot settings without pilot mode"), "{err}");
    assert!(err.contains("add `mode: pilot`"), "{err}");
    s.write(
        "study.yaml",
        &format!(
            "{STUDY}backend: {{slurm: {{mode: pilot, pilot: {{slots: 0, listen: \"nowhere\", advertise: \"login1:80\", heartbeat: 1ms}}}}}}\n"
        ),
    );
    let out = s.simforge(&["check", "study.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("zero slots"), "{err}");
    assert!(
        err.contains("`nowhere` is not an address to listen on"),
        "{err}"
    );
    assert!(err.contains("`login1:80` is not a URL"), "{err}");
    assert!(err.contains("a heartbeat under 100ms"), "{err}");
    assert!(
        err.contains("study.yaml:6:47: `backend.slurm.pilot.slots`"),
        "{err}"
    );
    s.write(
        "study.yaml",
        &format!("{STUDY}backend: {{slurm: {{mode: pilots}}}}\n"),
    );
    let err = stderr(&s.simforge(&["check", "study.yaml"]));
    assert!(err.contains("pilots"), "{err}");
}
