//! Progress while runs execute: a bar with counts, rate and ETA on a terminal;
//! plain periodic lines otherwise (CI logs, batch jobs).

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use simforge_core::RunState;

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A bar on a terminal, plain lines otherwise.
    Auto,
    /// Plain lines on stderr every few seconds.
    Plain,
    /// Nothing.
    Quiet,
}

/// Seconds between plain progress lines.
const PLAIN_EVERY: Duration = Duration::from_secs(5);

/// Tracks and shows progress of one invocation.
pub struct Progress {
    bar: Option<ProgressBar>,
    plain: bool,
    total: u64,
    done: u64,
    ok: u64,
    failed: u64,
    timed_out: u64,
    started: Instant,
    last_line: Instant,
}

impl Progress {
    /// Progress over `total` runs.
    pub fn new(mode: Mode, total: u64) -> Self {
        let tty = std::io::stderr().is_terminal();
        let bar = (mode == Mode::Auto && tty).then(|| {
            let bar =
                ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr_with_hz(10));
            let style = ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {msg} eta {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar
        });
        let now = Instant::now();
        Progress {
            plain: bar.is_none() && mode != Mode::Quiet,
            bar,
            total,
            done: 0,
            ok: 0,
            failed: 0,
            timed_out: 0,
            started: now,
            last_line: now,
        }
    }

    /// Records a run that settled.
    pub fn done(&mut self, state: RunState) {
        self.done += 1;
        match state {
            RunState::Succeeded => self.ok += 1,
            RunState::TimedOut => self.timed_out += 1,
            _ => self.failed += 1,
        }
        if let Some(bar) = &self.bar {
            let secs = self.started.elapsed().as_secs_f64();
            let rate = if secs > 0.0 {
                self.done as f64 / secs
            } else {
                0.0
            };
            bar.set_message(format!(
                "{}/{} ({}), {rate:.1} runs/s",
                self.done,
                self.total,
                self.counts()
            ));
            bar.set_position(self.done);
        }
    }

    fn counts(&self) -> String {
        format!(
            "ok {} failed {} timed out {}",
            self.ok, self.failed, self.timed_out
        )
    }

    /// Prints a plain line when one is due.
    pub fn tick(&mut self) {
        if self.plain && self.last_line.elapsed() >= PLAIN_EVERY {
            self.last_line = Instant::now();
            self.line();
        }
    }

    fn line(&self) {
        let secs = self.started.elapsed().as_secs_f64();
        let rate = if secs > 0.0 {
            self.done as f64 / secs
        } else {
            0.0
        };
        let eta = if rate > 0.0 {
            format!(
                "{:.0}s",
                (self.total - self.done.min(self.total)) as f64 / rate
            )
        } else {
            "?".into()
        };
        eprintln!(
            "progress: {}/{} runs ({}), {:.1} runs/s, eta {}",
            self.done,
            self.total,
            self.counts(),
            rate,
            eta
        );
    }

    /// Clears the bar (the summary follows).
    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        } else if self.plain && self.done > 0 {
            self.line();
        }
    }
}
