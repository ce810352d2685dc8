//! Running one external process under supervision: its own process group, a
//! wall-time limit, a cap on log size, cancellation, and peak-memory accounting.
//!
//! The child is started in a new process group so that a time-out or Ctrl-C kills
//! everything it spawned, and with `PR_SET_PDEATHSIG` so that it dies with the
//! runner even if the runner is killed with SIGKILL. Waiting uses a pidfd and
//! `poll`, so a finished child is noticed at once and no thread sleeps in a loop.

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How often a waiting supervisor wakes to check logs and cancellation.
const CHECK_EVERY: Duration = Duration::from_millis(100);
/// Time between SIGTERM and SIGKILL when stopping a process group.
const KILL_GRACE: Duration = Duration::from_secs(2);

/// Limits and signals for one supervised process.
pub struct Supervision<'a> {
    /// Wall-time limit.
    pub timeout: Option<Duration>,
    /// Largest allowed size of each log file, in bytes.
    pub max_log_size: u64,
    /// Log files to watch (stdout, stderr).
    pub logs: [&'a File; 2],
    /// Set when the user asked to stop.
    pub cancel: &'a AtomicBool,
}

/// How a supervised process ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Exit {
    /// It exited with this code.
    Code(i32),
    /// A signal ended it (not one we sent).
    Signal(i32),
    /// It ran past its wall time and was killed.
    TimedOut,
    /// A log grew past the limit and the process was killed.
    LogLimit(u64),
    /// The user cancelled and the process was killed.
    Cancelled,
}

/// What supervision observed.
#[derive(Debug, Clone, PartialEq)]
pub struct Finished {
    /// How it ended.
    pub exit: Exit,
    /// Peak resident memory in KiB.
    pub max_rss_kb: Option<i64>,
}

/// Starts `cmd` in its own process group, tied to the runner's life, and
/// supervises it to the end.
pub fn run(
    mut cmd: Command,
    stdout: File,
    stderr: File,
    sup: &Supervision<'_>,
) -> std::io::Result<Finished> {
    cmd.stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .process_group(0);
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd.spawn()?;
    let pid = child.id() as libc::pid_t;
    // `child` is dropped without waiting; we reap with wait4 to get its rusage.
    drop(child);
    supervise(pid, sup)
}

fn supervise(pid: libc::pid_t, sup: &Supervision<'_>) -> std::io::Result<Finished> {
    let start = Instant::now();
    // SAFETY: plain syscall; a negative result means pidfds are unavailable.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as libc::c_int;
    let mut forced: Option<Exit> = None;
    loop {
        if let Some(status) = try_reap(pid, pidfd, CHECK_EVERY)? {
            if pidfd >= 0 {
                // SAFETY: we own this descriptor.
                unsafe { libc::close(pidfd) };
            }
            let exit = forced.unwrap_or(status.0);
            return Ok(Finished {
                exit,
                max_rss_kb: status.1,
            });
        }
        if forced.is_some() {
            continue;
        }
        let verdict = if sup.cancel.load(Ordering::Relaxed) {
            Some(Exit::Cancelled)
        } else if sup.timeout.is_some_and(|t| start.elapsed() >= t) {
            Some(Exit::TimedOut)
        } else {
            sup.logs
                .iter()
                .map(|f| f.metadata().map(|m| m.len()).unwrap_or(0))
                .find(|len| *len > sup.max_log_size)
                .map(Exit::LogLimit)
        };
        if let Some(v) = verdict {
            forced = Some(v);
            stop_group(pid, pidfd);
        }
    }
}

/// Waits up to `wait` for the child to end; reaps it and returns its exit and peak RSS.
fn try_reap(
    pid: libc::pid_t,
    pidfd: libc::c_int,
    wait: Duration,
) -> std::io::Result<Option<(Exit, Option<i64>)>> {
    if pidfd >= 0 {
        let mut pfd = libc::pollfd {
            fd: pidfd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut pfd, 1, wait.as_millis() as libc::c_int) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(e);
            }
            return Ok(None);
        }
        if n == 0 {
            return Ok(None);
        }
        return reap(pid, 0);
    }
    // No pidfd (old kernel): poll with WNOHANG.
    if let Some(done) = reap(pid, libc::WNOHANG)? {
        return Ok(Some(done));
    }
    std::thread::sleep(wait.min(Duration::from_millis(20)));
    Ok(None)
}

fn reap(pid: libc::pid_t, flags: libc::c_int) -> std::io::Result<Option<(Exit, Option<i64>)>> {
    let mut status: libc::c_int = 0;
    // SAFETY: zeroed rusage is a valid out-parameter.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: valid pointers to locals.
        let r = unsafe { libc::wait4(pid, &mut status, flags, &mut usage) };
        if r == 0 {
            return Ok(None);
        }
        if r < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        let exit = if libc::WIFEXITED(status) {
            Exit::Code(libc::WEXITSTATUS(status))
        } else if libc::WIFSIGNALED(status) {
            Exit::Signal(libc::WTERMSIG(status))
        } else {
            Exit::Code(-1)
        };
        return Ok(Some((exit, Some(usage.ru_maxrss))));
    }
}

/// SIGTERM to the whole group, then SIGKILL after a grace period if the leader lives.
fn stop_group(pid: libc::pid_t, pidfd: libc::c_int) {
    // SAFETY: signalling our own child's process group.
    unsafe { libc::killpg(pid, libc::SIGTERM) };
    let deadline = Instant::now() + KILL_GRACE;
    while Instant::now() < deadline {
        if pidfd >= 0 {
            let mut pfd = libc::pollfd {
                fd: pidfd,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            if unsafe { libc::poll(&mut pfd, 1, 50) } > 0 {
                break;
            }
        } else {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    // The leader is not reaped yet, so the group id cannot have been reused.
    // SAFETY: as above.
    unsafe { libc::killpg(pid, libc::SIGKILL) };
}

/// A readable name for a signal number.
pub fn signal_name(sig: i32) -> String {
    let name = match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGTERM => "SIGTERM",
        libc::SIGXCPU => "SIGXCPU",
        libc::SIGXFSZ => "SIGXFSZ",
        _ => return format!("signal {sig}"),
    };
    name.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logs() -> (tempfile::TempDir, File, File) {
        let dir = tempfile::tempdir().unwrap();
        let out = File::create(dir.path().join("o")).unwrap();
        let err = File::create(dir.path().join("e")).unwrap();
        (dir, out, err)
    }

    fn sh(script: &str, timeout: Option<Duration>, max_log: u64) -> Finished {
        let (_d, out, err) = logs();
        let cancel = AtomicBool::new(false);
        let sup = Supervision {
            timeout,
            max_log_size: max_log,
            logs: [&out, &err],
            cancel: &cancel,
        };
        let mut cmd = Command::new("/bin/sh");
        cmd.arg("-c").arg(script);
        run(
            cmd,
            out.try_clone().unwrap(),
            err.try_clone().unwrap(),
            &sup,
        )
        .unwrap()
    }

    #[test]
    fn reports_exit_codes_and_signals() {
        assert_eq!(sh("exit 0", None, 1 << 20).exit, Exit::Code(0));
        assert_eq!(sh("exit 3", None, 1 << 20).exit, Exit::Code(3));
        assert_eq!(
            sh("kill -SEGV $$", None, 1 << 20).exit,
            Exit::Signal(libc::SIGSEGV)
        );
    }

    #[test]
    fn kills_the_whole_group_on_timeout() {
        let t = Instant::now();
        // The grandchild `sleep` would keep running if only the shell were killed.
        let f = sh(
            "sleep 30 & sleep 30; wait",
            Some(Duration::from_millis(300)),
            1 << 20,
        );
        assert_eq!(f.exit, Exit::TimedOut);
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "took {:?}",
            t.elapsed()
        );
    }

    #[test]
    fn stops_a_flood() {
        let f = sh("yes flood", None, 64 * 1024);
        assert!(
            matches!(f.exit, Exit::LogLimit(n) if n > 64 * 1024),
            "{f:?}"
        );
    }
}
