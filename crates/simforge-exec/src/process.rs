//! Running one external process under supervision: its own process group, a
//! wall-time limit, a cap on log size, cancellation, and peak-memory accounting.
//!
//! The child is started (with `posix_spawn`, no fork) in a new process group so
//! that a time-out or Ctrl-C kills everything it spawned; the
//! [`crate::guardian`] kills the group if the runner itself is killed with
//! SIGKILL. Its stdout and stderr are
//! pipes that the supervisor copies into log files, created only when output
//! arrives: quiet runs cost no extra files (file creation dominates the cost of
//! short runs on ext4), and the log cap is enforced exactly. Waiting uses a pidfd
//! and `poll`, so a finished child is noticed at once and nothing sleeps in a loop.

use std::fs::File;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How often a waiting supervisor wakes to check time and cancellation.
const CHECK_EVERY: Duration = Duration::from_millis(100);
/// Time between SIGTERM and SIGKILL when stopping a process group.
const KILL_GRACE: Duration = Duration::from_secs(2);
/// How long output is still collected after the child exited (from
/// grandchildren that kept the pipes open).
const DRAIN_AFTER_EXIT: Duration = Duration::from_millis(200);

/// Limits and signals for one supervised process.
pub struct Supervision<'a> {
    /// Wall-time limit.
    pub timeout: Option<Duration>,
    /// Largest allowed size of each log file, in bytes.
    pub max_log_size: u64,
    /// Where stdout goes (created on first output).
    pub stdout: &'a Path,
    /// Where stderr goes (created on first output).
    pub stderr: &'a Path,
    /// Set when the user asked to stop.
    pub cancel: &'a AtomicBool,
    /// Told of the child's process group, to kill it if the runner dies.
    pub guardian: Option<&'a crate::guardian::Guardian>,
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

/// A log file created on first write, with a size cap.
struct Sink {
    path: PathBuf,
    file: Option<File>,
    written: u64,
    max: u64,
}

impl Sink {
    fn new(path: &Path, max: u64) -> Self {
        Sink {
            path: path.to_path_buf(),
            file: None,
            written: 0,
            max,
        }
    }

    /// Appends `buf` (up to just past the cap, so the overflow is visible).
    fn write(&mut self, buf: &[u8]) -> std::io::Result<()> {
        if self.written > self.max {
            return Ok(());
        }
        if self.file.is_none() {
            self.file = Some(File::create(&self.path)?);
        }
        let room = (self.max + 1 - self.written) as usize;
        let part = &buf[..buf.len().min(room)];
        if let Some(f) = self.file.as_mut() {
            f.write_all(part)?;
        }
        self.written += buf.len() as u64;
        Ok(())
    }
}

/// The read end of a child's output pipe and where it goes.
struct Stream {
    read: Option<File>,
    sink: Sink,
}

impl Stream {
    /// Copies what is available now; returns false at end of file.
    fn pump(&mut self, buf: &mut [u8]) -> std::io::Result<bool> {
        use std::io::Read;
        let Some(r) = self.read.as_mut() else {
            return Ok(false);
        };
        loop {
            match r.read(buf) {
                Ok(0) => {
                    self.read = None;
                    return Ok(false);
                }
                Ok(n) => self.sink.write(&buf[..n])?,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(true),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    fn fd(&self) -> libc::c_int {
        self.read.as_ref().map(|f| f.as_raw_fd()).unwrap_or(-1)
    }
}

fn pipe() -> std::io::Result<(File, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: valid out-array of two descriptors.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: pipe2 returned two fresh descriptors that we now own.
    let (r, w) = unsafe { (File::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: setting a flag on our own descriptor.
    unsafe { libc::fcntl(r.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) };
    Ok((r, w))
}

/// Starts `cmd` in its own process group, tied to the runner's life, and
/// supervises it to the end.
pub fn run(mut cmd: Command, sup: &Supervision<'_>) -> std::io::Result<Finished> {
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::from(out_w))
        .stderr(Stdio::from(err_w))
        .process_group(0);
    let child = cmd.spawn()?;
    // Close our copies of the write ends, so the pipes end when the child's do.
    drop(cmd);
    let pid = child.id() as libc::pid_t;
    if let Some(g) = sup.guardian {
        g.started(child.id());
    }
    // `child` is dropped without waiting; we reap with wait4 to get its rusage.
    drop(child);
    let mut streams = [
        Stream {
            read: Some(out_r),
            sink: Sink::new(sup.stdout, sup.max_log_size),
        },
        Stream {
            read: Some(err_r),
            sink: Sink::new(sup.stderr, sup.max_log_size),
        },
    ];
    let result = supervise(pid, sup, &mut streams);
    if let Some(g) = sup.guardian {
        g.ended(pid as u32);
    }
    result
}

fn supervise(
    pid: libc::pid_t,
    sup: &Supervision<'_>,
    streams: &mut [Stream; 2],
) -> std::io::Result<Finished> {
    let start = Instant::now();
    // SAFETY: plain syscall; a negative result means pidfds are unavailable.
    let raw = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as libc::c_int;
    // SAFETY: a fresh descriptor we own (closed on drop).
    let pidfd = (raw >= 0).then(|| unsafe { OwnedFd::from_raw_fd(raw) });
    let mut forced: Option<Exit> = None;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let exited = wait_events(pidfd.as_ref(), streams, CHECK_EVERY)?;
        for s in streams.iter_mut() {
            s.pump(&mut buf)?;
        }
        if exited && let Some((status, rss)) = reap(pid, 0)? {
            drain(streams, &mut buf)?;
            return Ok(Finished {
                exit: forced.unwrap_or(status),
                max_rss_kb: rss,
            });
        }
        if pidfd.is_none()
            && let Some((status, rss)) = reap(pid, libc::WNOHANG)?
        {
            drain(streams, &mut buf)?;
            return Ok(Finished {
                exit: forced.unwrap_or(status),
                max_rss_kb: rss,
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
            streams
                .iter()
                .map(|s| s.sink.written)
                .find(|n| *n > sup.max_log_size)
                .map(Exit::LogLimit)
        };
        if let Some(v) = verdict {
            forced = Some(v);
            stop_group(pid, pidfd.as_ref(), streams, &mut buf)?;
        }
    }
}

/// Waits until the child exits, output arrives, or `wait` passes. Returns
/// whether the child has exited (only known with a pidfd).
fn wait_events(
    pidfd: Option<&OwnedFd>,
    streams: &[Stream; 2],
    wait: Duration,
) -> std::io::Result<bool> {
    let mut fds = [
        libc::pollfd {
            fd: pidfd.map(|f| f.as_raw_fd()).unwrap_or(-1),
            events: libc::POLLIN,
            revents: 0,
        },
        libc::pollfd {
            fd: streams[0].fd(),
            events: libc::POLLIN,
            revents: 0,
        },
        libc::pollfd {
            fd: streams[1].fd(),
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    let timeout = if pidfd.is_some() {
        wait
    } else {
        wait.min(Duration::from_millis(20))
    };
    // SAFETY: three valid pollfd entries (negative fds are ignored by poll).
    let n = unsafe { libc::poll(fds.as_mut_ptr(), 3, timeout.as_millis() as libc::c_int) };
    if n < 0 {
        let e = std::io::Error::last_os_error();
        return if e.kind() == std::io::ErrorKind::Interrupted {
            Ok(false)
        } else {
            Err(e)
        };
    }
    Ok(fds[0].revents != 0)
}

/// Collects output still arriving after the child exited, for a short while.
fn drain(streams: &mut [Stream; 2], buf: &mut [u8]) -> std::io::Result<()> {
    let deadline = Instant::now() + DRAIN_AFTER_EXIT;
    loop {
        let mut open = false;
        for s in streams.iter_mut() {
            open |= s.pump(buf)?;
        }
        if !open || Instant::now() >= deadline {
            return Ok(());
        }
        wait_events(None, streams, Duration::from_millis(20))?;
    }
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

/// SIGTERM to the whole group, then SIGKILL after a grace period if the leader
/// lives; output keeps flowing meanwhile so a blocked writer cannot stall us.
fn stop_group(
    pid: libc::pid_t,
    pidfd: Option<&OwnedFd>,
    streams: &mut [Stream; 2],
    buf: &mut [u8],
) -> std::io::Result<()> {
    // SAFETY: signalling our own child's process group.
    unsafe { libc::killpg(pid, libc::SIGTERM) };
    let deadline = Instant::now() + KILL_GRACE;
    while Instant::now() < deadline {
        let exited = wait_events(pidfd, streams, Duration::from_millis(50))?;
        for s in streams.iter_mut() {
            s.pump(buf)?;
        }
        if exited {
            break;
        }
    }
    // The leader is not reaped yet, so the group id cannot have been reused.
    // SAFETY: as above.
    unsafe { libc::killpg(pid, libc::SIGKILL) };
    Ok(())
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

    fn sh(script: &str, timeout: Option<Duration>, max_log: u64) -> (Finished, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let cancel = AtomicBool::new(false);
        let (o, e) = (dir.path().join("o"), dir.path().join("e"));
        let sup = Supervision {
            timeout,
            max_log_size: max_log,
            stdout: &o,
            stderr: &e,
            cancel: &cancel,
            guardian: None,
        };
        let mut cmd = Command::new("/bin/sh");
        cmd.arg("-c").arg(script);
        (run(cmd, &sup).unwrap(), dir)
    }

    #[test]
    fn reports_exit_codes_and_signals() {
        assert_eq!(sh("exit 0", None, 1 << 20).0.exit, Exit::Code(0));
        assert_eq!(sh("exit 3", None, 1 << 20).0.exit, Exit::Code(3));
        assert_eq!(
            sh("kill -SEGV $$", None, 1 << 20).0.exit,
            Exit::Signal(libc::SIGSEGV)
        );
    }

    #[test]
    fn logs_are_written_only_when_there_is_output() {
        let (f, d) = sh("echo out; echo err >&2", None, 1 << 20);
        assert_eq!(f.exit, Exit::Code(0));
        assert_eq!(
            std::fs::read_to_string(d.path().join("o")).unwrap(),
            "out\n"
        );
        assert_eq!(
            std::fs::read_to_string(d.path().join("e")).unwrap(),
            "err\n"
        );
        let (_, quiet) = sh("true", None, 1 << 20);
        assert!(!quiet.path().join("o").exists() && !quiet.path().join("e").exists());
    }

    #[test]
    fn kills_the_whole_group_on_timeout() {
        let t = Instant::now();
        // The grandchild `sleep` would keep running if only the shell were killed.
        let (f, _d) = sh(
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
    fn stops_a_flood_and_caps_its_log() {
        let (f, d) = sh("yes flood", None, 64 * 1024);
        assert!(
            matches!(f.exit, Exit::LogLimit(n) if n > 64 * 1024),
            "{f:?}"
        );
        assert_eq!(
            std::fs::metadata(d.path().join("o")).unwrap().len(),
            64 * 1024 + 1
        );
    }

    #[test]
    fn a_background_grandchild_holding_the_pipe_does_not_block() {
        let t = Instant::now();
        let (f, _d) = sh("(sleep 5 &) ; echo done", None, 1 << 20);
        assert_eq!(f.exit, Exit::Code(0));
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "took {:?}",
            t.elapsed()
        );
    }
}
