//! Who holds which run, until when. A lease is granted when a worker takes a
//! run, renewed by every sync that lists the run as held, and expires when the
//! worker falls silent (its pilot died, its node failed): the run then goes back
//! to pending without counting an attempt. A run lost with its worker too often
//! is probably what kills the worker, so the coordinator fails it instead of
//! feeding it to pilot after pilot.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// After this many losses with a worker, a run's next loss counts as a failed
/// attempt.
pub const MAX_LOSSES: u32 = 3;

/// One run's lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The worker holding it.
    pub worker: String,
    /// When it lapses unless renewed.
    pub expires: Instant,
    /// Attempts the run has had, including one in progress.
    pub attempts: u32,
    /// Whether an attempt is in progress (started, not finished).
    pub in_progress: bool,
}

/// A run taken back from a worker that is gone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lost {
    /// Run id.
    pub run_id: String,
    /// The worker that held it.
    pub worker: String,
    /// Attempts the run has had.
    pub attempts: u32,
    /// How many times it has now been lost with a worker.
    pub losses: u32,
    /// Whether an attempt was in progress when it was lost.
    pub in_progress: bool,
}

/// The lease table of one coordinator.
#[derive(Debug)]
pub struct Leases {
    ttl: Duration,
    held: HashMap<String, Lease>,
    losses: HashMap<String, u32>,
}

impl Leases {
    /// An empty table whose leases last `ttl` between renewals.
    pub fn new(ttl: Duration) -> Self {
        Leases {
            ttl,
            held: HashMap::new(),
            losses: HashMap::new(),
        }
    }

    /// Runs leased now.
    pub fn len(&self) -> usize {
        self.held.len()
    }

    /// Whether no run is leased.
    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// Leases `run_id` to `worker` until `now + ttl`.
    pub fn grant(&mut self, worker: &str, run_id: &str, attempts: u32, now: Instant) {
        self.held.insert(
            run_id.to_string(),
            Lease {
                worker: worker.to_string(),
                expires: now + self.ttl,
                attempts,
                in_progress: false,
            },
        );
    }

    /// Adopts a run the store says `worker` holds (a restarted coordinator),
    /// giving the worker `grace` to check in.
    pub fn adopt(&mut self, worker: &str, run_id: &str, attempts: u32, deadline: Instant) {
        self.held.insert(
            run_id.to_string(),
            Lease {
                worker: worker.to_string(),
                expires: deadline,
                attempts,
                in_progress: false,
            },
        );
    }

    /// Whether `worker` holds `run_id`.
    pub fn holds(&self, worker: &str, run_id: &str) -> bool {
        self.held.get(run_id).is_some_and(|l| l.worker == worker)
    }

    /// Notes that attempt `attempt` of a leased run started.
    pub fn started(&mut self, run_id: &str, attempt: u32) {
        if let Some(l) = self.held.get_mut(run_id) {
            l.attempts = l.attempts.max(attempt);
            l.in_progress = true;
        }
    }

    /// Notes that an attempt of a leased run finished and another may follow.
    pub fn finished_attempt(&mut self, run_id: &str) {
        if let Some(l) = self.held.get_mut(run_id) {
            l.in_progress = false;
        }
    }

    /// Ends the lease of a run its worker handed back unfinished, keeping its
    /// count of losses.
    pub fn settle_kept_losses(&mut self, run_id: &str) {
        self.held.remove(run_id);
    }

    /// Renews the leases `worker` says it holds; returns those it does not hold
    /// (expired and given to someone else, or settled): the worker must drop them.
    pub fn renew(&mut self, worker: &str, held: &[String], now: Instant) -> Vec<String> {
        let mut revoked = Vec::new();
        for id in held {
            match self.held.get_mut(id) {
                Some(l) if l.worker == worker => l.expires = now + self.ttl,
                _ => revoked.push(id.clone()),
            }
        }
        revoked
    }

    /// Ends the lease of a settled run.
    pub fn settle(&mut self, run_id: &str) {
        self.held.remove(run_id);
        self.losses.remove(run_id);
    }

    /// Ends the leases of a worker that handed its runs back on purpose (it
    /// is exiting); these do not count as losses. Returns the runs.
    pub fn release_worker(&mut self, worker: &str) -> Vec<String> {
        let ids: Vec<String> = self
            .held
            .iter()
            .filter(|(_, l)| l.worker == worker)
            .map(|(id, _)| id.clone())
            .collect();
        for id in &ids {
            self.held.remove(id);
        }
        ids
    }

    /// Takes back every run held by workers whose id starts with `prefix` (all
    /// pilots of a job that left the queue).
    pub fn lose_workers(&mut self, prefix: &str) -> Vec<Lost> {
        self.take_back(|l| l.worker.starts_with(prefix))
    }

    /// Takes back every run whose lease lapsed.
    pub fn expire(&mut self, now: Instant) -> Vec<Lost> {
        self.take_back(|l| l.expires <= now)
    }

    fn take_back(&mut self, gone: impl Fn(&Lease) -> bool) -> Vec<Lost> {
        let ids: Vec<String> = self
            .held
            .iter()
            .filter(|(_, l)| gone(l))
            .map(|(id, _)| id.clone())
            .collect();
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(l) = self.held.remove(&id) {
                let losses = self.losses.entry(id.clone()).or_insert(0);
                *losses += 1;
                out.push(Lost {
                    run_id: id,
                    worker: l.worker,
                    attempts: l.attempts,
                    losses: *losses,
                    in_progress: l.in_progress,
                });
            }
        }
        out.sort_by(|a, b| a.run_id.cmp(&b.run_id));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewal_keeps_a_lease_and_silence_loses_it() {
        let t0 = Instant::now();
        let mut l = Leases::new(Duration::from_secs(10));
        l.grant("w1", "a", 0, t0);
        l.grant("w2", "b", 2, t0);
        assert!(
            l.renew("w1", &["a".into()], t0 + Duration::from_secs(8))
                .is_empty()
        );
        let lost = l.expire(t0 + Duration::from_secs(12));
        assert_eq!(lost.len(), 1, "w2 fell silent");
        assert_eq!(lost[0].run_id, "b");
        assert_eq!(lost[0].attempts, 2);
        assert_eq!(lost[0].losses, 1);
        assert!(l.holds("w1", "a"));
        assert!(l.expire(t0 + Duration::from_secs(17)).is_empty());
        assert_eq!(l.expire(t0 + Duration::from_secs(18)).len(), 1);
    }

    #[test]
    fn a_worker_is_told_to_drop_runs_it_no_longer_holds() {
        let t0 = Instant::now();
        let mut l = Leases::new(Duration::from_secs(10));
        l.grant("w1", "a", 0, t0);
        let _ = l.expire(t0 + Duration::from_secs(11));
        l.grant("w2", "a", 0, t0 + Duration::from_secs(11));
        let revoked = l.renew("w1", &["a".into()], t0 + Duration::from_secs(12));
        assert_eq!(revoked, vec!["a".to_string()]);
        assert!(
            l.holds("w2", "a"),
            "w1's late heartbeat does not steal it back"
        );
    }

    #[test]
    fn losses_accumulate_per_run_until_it_settles() {
        let t0 = Instant::now();
        let mut l = Leases::new(Duration::from_secs(1));
        for k in 1..=3 {
            l.grant("123_0", "a", 0, t0);
            l.grant("124_0", "b", 0, t0);
            let lost = l.lose_workers("123_");
            assert_eq!(lost.len(), 1, "only job 123's pilots are gone");
            assert_eq!(lost[0].losses, k);
            l.settle("b");
        }
        l.settle("a");
        l.grant("125_0", "a", 0, t0);
        assert_eq!(
            l.lose_workers("125_")[0].losses,
            1,
            "settling forgets losses"
        );
    }

    #[test]
    fn a_leaving_worker_hands_back_without_losses() {
        let t0 = Instant::now();
        let mut l = Leases::new(Duration::from_secs(1));
        l.grant("w1", "a", 1, t0);
        l.grant("w1", "b", 0, t0);
        l.started("a", 2);
        let mut back = l.release_worker("w1");
        back.sort();
        assert_eq!(back, vec!["a".to_string(), "b".to_string()]);
        assert!(l.is_empty());
        l.grant("w2", "a", 2, t0);
        assert_eq!(l.expire(t0 + Duration::from_secs(2))[0].losses, 1);
    }
}
