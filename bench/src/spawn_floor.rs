//! The physical floor for orchestrating no-op runs: `N` threads that each spawn
//! a command and wait for it, with no bookkeeping at all. simforge's overhead is
//! measured against this.
//!
//! Usage: `spawn-floor RUNS THREADS COMMAND [ARGS...]`; prints runs per second.

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!("usage: spawn-floor RUNS THREADS COMMAND [ARGS...]");
        std::process::exit(2);
    }
    let (Ok(runs), Ok(threads)) = (args[1].parse::<usize>(), args[2].parse::<usize>()) else {
        eprintln!("RUNS and THREADS must be whole numbers");
        std::process::exit(2);
    };
    let next = AtomicUsize::new(0);
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads.max(1) {
            s.spawn(|| {
                while next.fetch_add(1, Ordering::Relaxed) < runs {
                    let status = Command::new(&args[3])
                        .args(&args[4..])
                        .stdin(Stdio::null())
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .status();
                    if status.is_err() {
                        eprintln!("spawn failed");
                        std::process::exit(1);
                    }
                }
            });
        }
    });
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{runs} runs in {secs:.3}s: {:.1} runs/s",
        runs as f64 / secs
    );
}
