//! Planning: a checked study becomes a stream of runs with content-addressed ids.
//!
//! A run id is a hash of the study name, the simulator's identity, the canonical
//! parameter values, the replicate number and the run's seed. Planning the same
//! study twice gives the same ids, so the store can skip runs already done;
//! adding samples or grid levels only adds ids.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::design::{DesignError, UnitDesign, halton, lhs, morris, random, saltelli, sobol};
use crate::study::{DesignMethod, Study, canonical_json, short_hash};

/// Hex digits in a run id (80 bits: collisions are negligible below 10^9 runs).
pub const RUN_ID_LEN: usize = 20;

/// One planned run.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedRun {
    /// Content-addressed id.
    pub id: String,
    /// Index of the point in the design.
    pub index: u64,
    /// Role of the point in a structured design.
    pub tag: Option<String>,
    /// Replicate number, from 0.
    pub replicate: u32,
    /// Seed handed to the simulator: derived from the design seed, the point and
    /// the replicate, so it survives re-planning.
    pub seed: u64,
    /// Parameter values by name (constants included).
    pub params: BTreeMap<String, Value>,
}

enum Points<'a> {
    Unit(UnitDesign),
    Grid(Vec<Vec<Value>>),
    Table(&'a [BTreeMap<String, Value>]),
}

/// The runs of a study, generated lazily so that million-run designs stream.
pub struct Plan<'a> {
    study: &'a Study,
    identity: String,
    points: Points<'a>,
}

impl<'a> Plan<'a> {
    /// Plans `study` for a simulator whose identity (see the simulator's docs) is
    /// `simulator_identity`.
    pub fn new(study: &'a Study, simulator_identity: &str) -> Result<Self, DesignError> {
        let dims = study.space.dims();
        let seed = study.design.seed;
        let n = |s: u64| {
            usize::try_from(s).map_err(|_| {
                DesignError::InvalidOption(format!("{s} samples do not fit in memory"))
            })
        };
        let points = match &study.design.method {
            DesignMethod::Grid => {
                Points::Grid(study.space.params.iter().map(|p| p.grid_levels()).collect())
            }
            DesignMethod::Table { rows } => Points::Table(rows),
            DesignMethod::Random { samples } => {
                Points::Unit(random::points(n(*samples)?, dims, seed))
            }
            DesignMethod::Lhs {
                samples,
                candidates,
            } => Points::Unit(lhs::points(n(*samples)?, dims, seed, *candidates as usize)),
            DesignMethod::Sobol { samples, scramble } => {
                Points::Unit(sobol::points(n(*samples)?, dims, scramble.then_some(seed))?)
            }
            DesignMethod::Halton { samples, scramble } => Points::Unit(halton::points(
                n(*samples)?,
                dims,
                scramble.then_some(seed),
            )?),
            DesignMethod::Saltelli {
                samples,
                second_order,
                scramble,
            } => Points::Unit(saltelli::points(
                n(*samples)?,
                dims,
                scramble.then_some(seed),
                *second_order,
            )?),
            DesignMethod::Morris {
                trajectories,
                levels,
                groups,
            } => {
                let groups: Option<Vec<Vec<usize>>> = groups
                    .as_ref()
                    .map(|g| g.iter().map(|(_, members)| members.clone()).collect());
                Points::Unit(morris::points(
                    n(*trajectories)?,
                    dims,
                    *levels as usize,
                    seed,
                    groups.as_deref(),
                )?)
            }
        };
        Ok(Plan {
            study,
            identity: simulator_identity.to_string(),
            points,
        })
    }

    /// Number of design points.
    pub fn points(&self) -> u64 {
        match &self.points {
            Points::Unit(u) => u.len() as u64,
            Points::Grid(levels) => levels.iter().map(|l| l.len() as u64).product(),
            Points::Table(rows) => rows.len() as u64,
        }
    }

    /// Number of runs (points × replicates).
    pub fn len(&self) -> u64 {
        self.points() * self.study.design.replicates as u64
    }

    /// Whether the plan has no runs.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Parameter values and tag of design point `i`.
    fn point(&self, i: u64) -> (BTreeMap<String, Value>, Option<String>) {
        match &self.points {
            Points::Unit(u) => {
                let row = u.row(i as usize).unwrap_or(&[]);
                let tag = u.tags.as_ref().and_then(|t| t.get(i as usize).cloned());
                (self.study.space.from_unit(row), tag)
            }
            Points::Grid(levels) => {
                // Mixed radix, last parameter fastest (like nested loops in declaration order).
                let mut rest = i;
                let mut values = vec![Value::Null; levels.len()];
                for (k, l) in levels.iter().enumerate().rev() {
                    let len = l.len().max(1) as u64;
                    values[k] = l.get((rest % len) as usize).cloned().unwrap_or(Value::Null);
                    rest /= len;
                }
                let names = self.study.space.params.iter().map(|p| p.name.clone());
                (names.zip(values).collect(), None)
            }
            Points::Table(rows) => (rows.get(i as usize).cloned().unwrap_or_default(), None),
        }
    }

    /// The runs, point by point, replicates of a point together.
    pub fn runs(&self) -> impl Iterator<Item = PlannedRun> + '_ {
        let reps = self.study.design.replicates.max(1);
        (0..self.points()).flat_map(move |i| {
            let (params, tag) = self.point(i);
            let canon = canonical_json(&Value::Object(params.clone().into_iter().collect()));
            (0..reps).map(move |r| self.make_run(i, tag.clone(), r, params.clone(), &canon))
        })
    }

    /// The runs (one per replicate) of a point outside the design, at design
    /// index `index`, with ids and seeds made exactly as for design points:
    /// the adaptive loop's proposals. Constants missing from `params` are
    /// filled in.
    pub fn runs_at(&self, index: u64, mut params: BTreeMap<String, Value>) -> Vec<PlannedRun> {
        for p in &self.study.space.params {
            if !params.contains_key(&p.name) {
                params.insert(p.name.clone(), p.from_unit(0.0));
            }
        }
        let canon = canonical_json(&Value::Object(params.clone().into_iter().collect()));
        (0..self.study.design.replicates.max(1))
            .map(|r| self.make_run(index, None, r, params.clone(), &canon))
            .collect()
    }

    fn make_run(
        &self,
        index: u64,
        tag: Option<String>,
        replicate: u32,
        params: BTreeMap<String, Value>,
        canon: &str,
    ) -> PlannedRun {
        let seed_text = format!("seed\0{}\0{canon}\0{replicate}", self.study.design.seed);
        let seed_hex = short_hash(seed_text.as_bytes(), 8);
        let seed = u64::from_str_radix(&seed_hex, 16).unwrap_or(0) & 0x7fff_ffff;
        let id_text = format!(
            "{}\0{}\0{canon}\0{replicate}\0{seed}",
            self.study.spec.name, self.identity
        );
        PlannedRun {
            id: short_hash(id_text.as_bytes(), RUN_ID_LEN),
            index,
            tag,
            replicate,
            seed,
            params,
        }
    }
}
