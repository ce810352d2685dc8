//! Runs a command and reports its wall time and peak resident memory (the
//! child's `ru_maxrss`), like `/usr/bin/time -v` without needing that package.
//!
//! Usage: `measure COMMAND [ARGS...]`; prints `wall_s=… max_rss_mib=…` on stderr
//! and exits with the command's status.

use std::process::Command;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((program, rest)) = args.split_first() else {
        eprintln!("usage: measure COMMAND [ARGS...]");
        std::process::exit(2);
    };
    let start = Instant::now();
    let child = match Command::new(program).args(rest).spawn() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("cannot start {program}: {e}");
            std::process::exit(2);
        }
    };
    let mut status = 0;
    // SAFETY: zeroed rusage is a valid out-parameter; the pid is our child's.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = child.id() as libc::pid_t;
    // SAFETY: valid pointers to locals.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = start.elapsed().as_secs_f64();
    if r < 0 {
        eprintln!("wait failed");
        std::process::exit(2);
    }
    eprintln!(
        "wall_s={wall:.3} max_rss_mib={:.1}",
        usage.ru_maxrss as f64 / 1024.0
    );
    std::process::exit(if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        1
    });
}
