//! The guardian: a tiny helper process that kills a runner's children if the
//! runner itself is killed (SIGKILL, OOM killer), so no simulation outlives it.
//!
//! Children are started with `posix_spawn` (no `fork`), which rules out
//! `PR_SET_PDEATHSIG` in each child; a fork per run costs more than the run on
//! short simulations. Instead the runner starts one guardian (its own binary with
//! the hidden `__guardian` argument) and tells it, over a pipe, each child's
//! process group as it starts (`+pgid`) and ends (`-pgid`). When the pipe closes
//! — the runner exited or died — the guardian SIGKILLs every group still listed.
//! A normal exit lists none.

use std::collections::HashSet;
use std::io::{BufRead, Write};
use std::process::{Child, ChildStdin, Command, Stdio};

/// The runner's side: a handle to notify the guardian.
pub struct Guardian {
    child: Child,
    pipe: Option<ChildStdin>,
}

impl Guardian {
    /// Starts `exe __guardian` in its own process group (terminal signals do not
    /// reach it) with its stdin as the notification pipe.
    pub fn start(exe: &std::path::Path) -> std::io::Result<Guardian> {
        use std::os::unix::process::CommandExt;
        let mut child = Command::new(exe)
            .arg(GUARDIAN_ARG)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .process_group(0)
            .spawn()?;
        let pipe = child
            .stdin
            .take()
            .ok_or_else(|| std::io::Error::other("guardian has no stdin"))?;
        Ok(Guardian {
            child,
            pipe: Some(pipe),
        })
    }

    /// Records that process group `pgid` started.
    pub fn started(&self, pgid: u32) {
        self.send(&format!("+{pgid}\n"));
    }

    /// Records that process group `pgid` ended.
    pub fn ended(&self, pgid: u32) {
        self.send(&format!("-{pgid}\n"));
    }

    fn send(&self, line: &str) {
        // One write of a few bytes into a pipe is atomic, so threads need no lock.
        if let Some(pipe) = &self.pipe {
            let _ = (&*pipe).write_all(line.as_bytes());
        }
    }
}

impl Drop for Guardian {
    fn drop(&mut self) {
        // Closing the pipe lets the guardian exit; reap it.
        drop(self.pipe.take());
        let _ = self.child.wait();
    }
}

/// The argument that turns the simforge binary into a guardian.
pub const GUARDIAN_ARG: &str = "__guardian";

/// The guardian's main loop: reads `+pgid`/`-pgid` lines from stdin until EOF,
/// then kills the groups still running. Returns how many it killed.
pub fn serve(input: impl BufRead) -> usize {
    let mut live: HashSet<i32> = HashSet::new();
    for line in input.lines() {
        let Ok(line) = line else { break };
        let (op, num) = line.split_at(line.len().min(1));
        if let Ok(pgid) = num.trim().parse::<i32>() {
            match op {
                "+" => {
                    live.insert(pgid);
                }
                "-" => {
                    live.remove(&pgid);
                }
                _ => {}
            }
        }
    }
    for pgid in &live {
        if *pgid > 1 {
            // SAFETY: signalling a process group the runner told us it started.
            unsafe { libc::killpg(*pgid, libc::SIGKILL) };
        }
    }
    live.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kills_only_groups_still_running_at_eof() {
        use std::os::unix::process::CommandExt;
        let mut alive = Command::new("sleep")
            .arg("30")
            .process_group(0)
            .spawn()
            .unwrap();
        let mut done = Command::new("true").process_group(0).spawn().unwrap();
        done.wait().unwrap();
        let input = format!("+{}\n+{}\n-{}\ngarbage\n", alive.id(), done.id(), done.id());
        assert_eq!(serve(input.as_bytes()), 1);
        let status = alive.wait().unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(libc::SIGKILL));
    }
}
