//! A station of `c` identical servers with one FIFO queue (G/G/c), fed by a
//! renewal arrival process: the building block of `sysdesign` and the model
//! that queueing theory checks it against. Statistics are taken after a
//! warm-up, with 95% confidence intervals by batch means.

use std::collections::VecDeque;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::calendar::Calendar;
use super::dist::Dist;

/// Batches of the batch-means estimator.
const BATCHES: usize = 30;
/// Student t quantile (0.975, 29 degrees of freedom) for 95% intervals.
const T_975_29: f64 = 2.045;

/// The station's inputs.
#[derive(Debug, Clone, PartialEq)]
pub struct StationModel {
    /// Time between arrivals.
    pub interarrival: Dist,
    /// Service time.
    pub service: Dist,
    /// Servers.
    pub servers: usize,
}

/// A mean with the half-width of its 95% confidence interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    /// Point estimate.
    pub mean: f64,
    /// Half-width of the 95% interval (batch means).
    pub half_width: f64,
}

impl Estimate {
    fn from_batches(batches: &[f64]) -> Estimate {
        let n = batches.len() as f64;
        let mean = batches.iter().sum::<f64>() / n;
        let var = batches.iter().map(|b| (b - mean).powi(2)).sum::<f64>() / (n - 1.0);
        Estimate {
            mean,
            half_width: T_975_29 * (var / n).sqrt(),
        }
    }

    /// Whether `v` lies inside the interval.
    pub fn covers(&self, v: f64) -> bool {
        (v - self.mean).abs() <= self.half_width
    }
}

/// What a station run measured (after the warm-up).
#[derive(Debug, Clone, PartialEq)]
pub struct StationStats {
    /// Customers measured.
    pub customers: u64,
    /// Time in queue.
    pub wait: Estimate,
    /// Time in the station (queue plus service).
    pub response: Estimate,
    /// Time-average number waiting.
    pub queue_length: f64,
    /// Busy fraction of the servers.
    pub utilisation: f64,
    /// Events processed (warm-up included).
    pub events: u64,
}

enum Event {
    Arrival,
    Departure { arrived: f64, started: f64 },
}

/// Simulates `warmup + customers` customers and measures the last
/// `customers` of them.
pub fn simulate(model: &StationModel, customers: u64, warmup: u64, seed: u64) -> StationStats {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut cal: Calendar<Event> = Calendar::default();
    let mut queue: VecDeque<f64> = VecDeque::new();
    let mut busy = 0usize;
    let servers = model.servers.max(1);
    let total = warmup + customers;
    let (mut arrived, mut departed, mut events) = (0u64, 0u64, 0u64);
    let per_batch = (customers / BATCHES as u64).max(1);
    let (mut wait_sum, mut resp_sum, mut in_batch) = (0.0, 0.0, 0u64);
    let (mut wait_batches, mut resp_batches) = (Vec::new(), Vec::new());
    // Time integrals after the warm-up.
    let mut t_start: Option<f64> = None;
    let (mut last_t, mut q_area, mut busy_area) = (0.0, 0.0, 0.0);
    cal.schedule(model.interarrival.sample(&mut rng), Event::Arrival);
    while let Some((now, event)) = cal.pop() {
        events += 1;
        if t_start.is_some() {
            q_area += queue.len() as f64 * (now - last_t);
            busy_area += busy as f64 * (now - last_t);
        }
        last_t = now;
        match event {
            Event::Arrival => {
                arrived += 1;
                if arrived < total {
                    cal.schedule(now + model.interarrival.sample(&mut rng), Event::Arrival);
                }
                if busy < servers {
                    busy += 1;
                    let s = model.service.sample(&mut rng);
                    cal.schedule(
                        now + s,
                        Event::Departure {
                            arrived: now,
                            started: now,
                        },
                    );
                } else {
                    queue.push_back(now);
                }
            }
            Event::Departure {
                arrived: a,
                started,
            } => {
                departed += 1;
                if departed == warmup {
                    t_start = Some(now);
                }
                if departed > warmup {
                    wait_sum += started - a;
                    resp_sum += now - a;
                    in_batch += 1;
                    if in_batch == per_batch && wait_batches.len() < BATCHES {
                        wait_batches.push(wait_sum / in_batch as f64);
                        resp_batches.push(resp_sum / in_batch as f64);
                        (wait_sum, resp_sum, in_batch) = (0.0, 0.0, 0);
                    }
                }
                match queue.pop_front() {
                    Some(a) => {
                        let s = model.service.sample(&mut rng);
                        cal.schedule(
                            now + s,
                            Event::Departure {
                                arrived: a,
                                started: now,
                            },
                        );
                    }
                    None => busy -= 1,
                }
                if departed >= total {
                    break;
                }
            }
        }
    }
    let span = (last_t - t_start.unwrap_or(0.0)).max(f64::MIN_POSITIVE);
    StationStats {
        customers: departed.saturating_sub(warmup),
        wait: Estimate::from_batches(&wait_batches),
        response: Estimate::from_batches(&resp_batches),
        queue_length: q_area / span,
        utilisation: busy_area / (span * servers as f64),
        events,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exp(mean: f64) -> Dist {
        Dist::Exponential { mean }
    }

    fn close(what: &str, got: f64, want: f64, tol: f64) {
        assert!(
            (got / want - 1.0).abs() < tol,
            "{what}: {got} vs {want} (tolerance {tol})"
        );
    }

    #[test]
    fn mm1_matches_queueing_theory() {
        // M/M/1, λ = 0.9, μ = 1: W = 1/(μ−λ) = 10, Wq = 9, Lq = ρ²/(1−ρ) = 8.1,
        // utilisation 0.9. 1.6·10⁷ customers after 10⁵ warm-up (ρ = 0.9 relaxes
        // slowly: 4·10⁶ are still 2% off); tolerance 2%, and
        // W inside the reported 95% interval.
        let m = StationModel {
            interarrival: exp(1.0 / 0.9),
            service: exp(1.0),
            servers: 1,
        };
        let s = simulate(&m, 16_000_000, 100_000, 7);
        close("W", s.response.mean, 10.0, 0.02);
        close("Wq", s.wait.mean, 9.0, 0.02);
        close("Lq", s.queue_length, 8.1, 0.02);
        close("utilisation", s.utilisation, 0.9, 0.01);
        assert!(s.response.covers(10.0), "{:?}", s.response);
    }

    #[test]
    fn mm3_matches_erlang_c() {
        // M/M/3, λ = 0.2, μ = 0.1 (a = 2, ρ = 2/3): Erlang C = 4/9,
        // Wq = C/(cμ − λ) = 4.444, W = 14.444. Tolerance 2%, inside the interval.
        let m = StationModel {
            interarrival: exp(5.0),
            service: exp(10.0),
            servers: 3,
        };
        let s = simulate(&m, 1_000_000, 20_000, 3);
        close("Wq", s.wait.mean, 40.0 / 9.0, 0.02);
        close("W", s.response.mean, 40.0 / 9.0 + 10.0, 0.02);
        assert!(s.response.covers(40.0 / 9.0 + 10.0), "{:?}", s.response);
        close("utilisation", s.utilisation, 2.0 / 3.0, 0.01);
    }

    #[test]
    fn md1_matches_pollaczek_khinchine() {
        // M/D/1, λ = 0.8, service 1: Wq = ρ/(2μ(1−ρ)) = 2, W = 3. Tolerance 2%.
        let m = StationModel {
            interarrival: exp(1.25),
            service: Dist::Deterministic { value: 1.0 },
            servers: 1,
        };
        let s = simulate(&m, 1_000_000, 20_000, 5);
        close("Wq", s.wait.mean, 2.0, 0.02);
        close("W", s.response.mean, 3.0, 0.02);
        assert!(s.response.covers(3.0), "{:?}", s.response);
    }
}
