//! Sizing the local slot pool from the machine and the study's per-run resources.

use simforge_core::study::Resources;

/// What this machine offers to runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Machine {
    /// CPU cores.
    pub cpus: f64,
    /// Memory in bytes, when known.
    pub memory: Option<u64>,
    /// GPU indices available to runs.
    pub gpus: Vec<u32>,
}

impl Machine {
    /// Detects cores (respecting CPU affinity), total memory (`/proc/meminfo`) and
    /// GPUs (`CUDA_VISIBLE_DEVICES`, else `/proc/driver/nvidia/gpus`).
    pub fn detect() -> Machine {
        let cpus = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1) as f64;
        let memory = std::fs::read_to_string("/proc/meminfo").ok().and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
                .map(|kb| kb * 1024)
        });
        let gpus = match std::env::var("CUDA_VISIBLE_DEVICES") {
            Ok(list) => list
                .split(',')
                .filter_map(|s| s.trim().parse().ok())
                .collect(),
            Err(_) => std::fs::read_dir("/proc/driver/nvidia/gpus")
                .map(|d| (0..d.count() as u32).collect())
                .unwrap_or_default(),
        };
        Machine { cpus, memory, gpus }
    }
}

/// One execution slot: the GPUs it owns (empty when runs use none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    /// GPU indices for runs in this slot.
    pub gpus: Vec<u32>,
}

/// Why no slot could be sized.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct PoolError(pub String);

/// The slots for runs needing `res` on `machine`: as many as fit without
/// over-committing cores, memory or GPUs; `jobs` (from `--jobs`) sets the count
/// explicitly but never over-commits memory or GPUs.
pub fn slots(
    machine: &Machine,
    res: &Resources,
    jobs: Option<usize>,
) -> Result<Vec<Slot>, PoolError> {
    if res.cpus > machine.cpus && jobs.is_none() {
        return Err(PoolError(format!(
            "each run needs {} CPUs but this machine has {}; lower resources.cpus or pass --jobs 1 to run anyway",
            res.cpus, machine.cpus
        )));
    }
    let mut n = jobs.unwrap_or_else(|| ((machine.cpus / res.cpus).floor() as usize).max(1));
    if let (Some(need), Some(have)) = (res.memory, machine.memory) {
        if need > have {
            return Err(PoolError(format!(
                "each run needs {} MiB of memory but this machine has {} MiB; lower resources.memory",
                need / (1024 * 1024),
                have / (1024 * 1024)
            )));
        }
        n = n.min((have / need.max(1)) as usize);
    }
    let per = res.gpus as usize;
    if per > 0 {
        if machine.gpus.len() < per {
            return Err(PoolError(format!(
                "each run needs {per} GPUs but {} are visible (CUDA_VISIBLE_DEVICES or /proc/driver/nvidia)",
                machine.gpus.len()
            )));
        }
        n = n.min(machine.gpus.len() / per);
    }
    let n = n.max(1);
    Ok((0..n)
        .map(|i| Slot {
            gpus: if per > 0 {
                machine.gpus[i * per..(i + 1) * per].to_vec()
            } else {
                vec![]
            },
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn res(cpus: f64, memory: Option<u64>, gpus: u32) -> Resources {
        Resources {
            cpus,
            memory,
            gpus,
            time: None,
            retries: 0,
            backoff: Duration::from_secs(1),
            max_log_size: 1,
            max_failures: None,
        }
    }

    #[test]
    fn respects_cpus_memory_and_gpus() {
        let m = Machine {
            cpus: 8.0,
            memory: Some(16 << 30),
            gpus: vec![0, 1, 2],
        };
        assert_eq!(slots(&m, &res(1.0, None, 0), None).unwrap().len(), 8);
        assert_eq!(slots(&m, &res(2.0, None, 0), None).unwrap().len(), 4);
        assert_eq!(
            slots(&m, &res(1.0, Some(6 << 30), 0), None).unwrap().len(),
            2,
            "memory caps slots"
        );
        assert_eq!(
            slots(&m, &res(1.0, Some(6 << 30), 0), Some(8))
                .unwrap()
                .len(),
            2,
            "--jobs never over-commits memory"
        );
        assert_eq!(
            slots(&m, &res(1.0, None, 0), Some(32)).unwrap().len(),
            32,
            "--jobs may over-commit cores"
        );
        let g = slots(&m, &res(1.0, None, 1), None).unwrap();
        assert_eq!(
            g.iter().map(|s| s.gpus.clone()).collect::<Vec<_>>(),
            vec![vec![0], vec![1], vec![2]]
        );
        assert_eq!(
            slots(&m, &res(1.0, None, 2), None).unwrap(),
            vec![Slot { gpus: vec![0, 1] }]
        );
        assert!(slots(&m, &res(1.0, None, 4), None).is_err());
        assert!(slots(&m, &res(16.0, None, 0), None).is_err());
        assert!(slots(&m, &res(1.0, Some(32 << 30), 0), None).is_err());
    }
}
