//! One replication of a system design: requests flow through the components
//! of a [`Model`] as discrete events.
//!
//! A request is a tree of *calls*. A call reaches a component after the
//! edge's network latency, waits for a free slot (a thread or pooled
//! connection of one replica), does its own work, makes its downstream calls
//! step by step (each step one call or a parallel fan-out), then either hands
//! the request on (`next`) or answers its caller. A caller that times out
//! stops waiting (the callee keeps working, as real servers do) and may retry
//! after a backoff. Topics answer at once and queue the message for their
//! consumer group; sinks record how long the message took from its source.
//!
//! Statistics are kept for requests that arrive in the measured window
//! `[warmup, warmup + horizon)`; arrivals stop at its end and the requests in
//! flight are drained (for at most one more horizon).

use std::collections::VecDeque;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::topology::{Arrivals, Kind, Model, Policy, Server};
use crate::des::calendar::Calendar;
use crate::des::dist::{Dist, exponential};

const NONE: u32 = u32::MAX;
/// Calls alive at once beyond which the design is declared saturated and the
/// replication stops (so an overloaded design reports instead of exhausting
/// memory).
const MAX_LIVE_CALLS: usize = 2_000_000;

// Call flags.
const ABANDONED: u8 = 1;
const DONE: u8 = 2;
const FAILED: u8 = 4;
const MISS: u8 = 8;
const ASYNC: u8 = 16;
const HOLDS: u8 = 32;

/// Why a call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Failure {
    #[default]
    None,
    /// A queue was full.
    Rejected,
    /// A caller stopped waiting.
    Timeout,
    /// A downstream call failed for good.
    Downstream,
}

#[derive(Debug, Clone)]
struct Call {
    epoch: u32,
    /// Where the call is now.
    comp: u32,
    /// The component the caller called (before a balancer picked a backend).
    to: u32,
    /// The caller's component (for the response's network latency).
    from: u32,
    inst: u32,
    parent: u32,
    pepoch: u32,
    /// Balancer backend holding an outstanding count for this call.
    lb_comp: u32,
    lb_backend: u32,
    class: u16,
    attempt: u8,
    flags: u8,
    failure: Failure,
    step: u16,
    pending: u16,
    /// When the request (or message) entered the system.
    origin: f64,
    /// When the call joined its queue.
    enq: f64,
}

/// A call to make again after a backoff. Kept beside the calendar so that
/// events stay small (the calendar moves them on every push and pop).
#[derive(Clone, Copy)]
struct RetryReq {
    parent: u32,
    pepoch: u32,
    to: u32,
    from: u32,
    attempt: u8,
    class: u16,
    origin: f64,
}

enum Ev {
    Arrival(u32),
    Deliver(u32, u32),
    WorkDone(u32, u32),
    Reply(u32, u32),
    Timeout(u32, u32),
    /// A retry waiting out its backoff (index into `Sim::retries`).
    Retry(u32),
    WarmupEnd,
    HorizonEnd,
}

#[derive(Default)]
struct Inst {
    busy: u32,
    queue: VecDeque<u32>,
}

#[derive(Default)]
struct CompState {
    insts: Vec<Inst>,
    rr: usize,
    busy: u64,
    working: u64,
    queued: u64,
    last_t: f64,
    // Balancers.
    backends: Vec<(u32, u32)>,
    outstanding: Vec<u32>,
    // Topics: per partition (message origin, class, published at).
    partitions: Vec<VecDeque<(f64, u16, f64)>>,
    next_partition: usize,
    // Sources.
    mmpp_state: usize,
    mmpp_switch: f64,
    trace_index: usize,
    trace_cycle: u64,
}

/// What one component did during the measured window.
#[derive(Debug, Clone, Default)]
pub struct CompStats {
    /// Time integral of held slots, including slots waiting on downstream
    /// calls (ms).
    pub busy_area: f64,
    /// Time integral of slots doing the component's own work (ms).
    pub work_area: f64,
    /// Time integral of waiting calls or messages (ms).
    pub queue_area: f64,
    /// Slots (replicas × concurrency; consumers for a processor).
    pub capacity: f64,
    /// Total time measured calls waited here (ms).
    pub wait_sum: f64,
    /// Measured calls that started service here.
    pub served: u64,
    /// Calls rejected by a full queue, or messages dropped by retention.
    pub dropped: u64,
    /// Latencies of measured messages that reached this sink (ms).
    pub latencies: Vec<f64>,
}

/// What one replication measured.
#[derive(Debug, Clone, Default)]
pub struct RepStats {
    /// Latency of each measured successful request, by class (ms).
    pub latencies: Vec<Vec<f64>>,
    /// Per component.
    pub comps: Vec<CompStats>,
    /// Measured requests that arrived.
    pub offered: u64,
    /// Measured requests that succeeded.
    pub ok: u64,
    /// Measured requests that failed because a queue was full.
    pub rejected: u64,
    /// Measured requests that failed by a timeout.
    pub timed_out: u64,
    /// Measured requests that failed because a downstream call failed.
    pub errors: u64,
    /// Measured requests still unanswered when the drain ended.
    pub unfinished: u64,
    /// Retries made by all measured calls.
    pub retries: u64,
    /// Asynchronous messages completed, by the topic they went through.
    pub async_latencies: Vec<Vec<f64>>,
    /// Measured calls and messages sent along each edge, row-major by
    /// (from, to) component index (`from * n + to`); retries count again.
    pub edges: Vec<u64>,
    /// Events processed.
    pub events: u64,
    /// Whether the replication stopped because too many calls were alive.
    pub saturated: bool,
    /// Simulated time when it stopped (ms).
    pub end_time: f64,
}

/// Runs one replication with `seed`.
pub fn replicate(model: &Model, seed: u64) -> RepStats {
    let mut sim = Sim::new(model, seed);
    sim.run();
    sim.stats
}

struct Sim<'m> {
    m: &'m Model,
    rng: ChaCha8Rng,
    cal: Calendar<Ev>,
    calls: Vec<Call>,
    free: Vec<u32>,
    retries: Vec<RetryReq>,
    free_retries: Vec<u32>,
    live: usize,
    st: Vec<CompState>,
    latency: Vec<Option<Dist>>,
    n: usize,
    measuring: bool,
    arrivals_open: bool,
    window: (f64, f64),
    stats: RepStats,
}

impl<'m> Sim<'m> {
    fn new(m: &'m Model, seed: u64) -> Self {
        let n = m.components.len();
        let mut latency = vec![m.default_latency.clone(); n * n];
        for (&(a, b), d) in &m.latency {
            latency[a * n + b] = Some(d.clone());
        }
        // Zero latencies cost nothing: skip their events.
        for l in &mut latency {
            if matches!(l, Some(Dist::Deterministic { value }) if *value <= 0.0) {
                *l = None;
            }
        }
        let mut st: Vec<CompState> = (0..n).map(|_| CompState::default()).collect();
        let mut stats = RepStats {
            latencies: vec![Vec::new(); m.classes.len()],
            comps: vec![CompStats::default(); n],
            async_latencies: vec![Vec::new(); n],
            edges: vec![0; n * n],
            ..RepStats::default()
        };
        for (i, c) in m.components.iter().enumerate() {
            match &c.kind {
                Kind::Server(s) => {
                    st[i].insts = (0..s.replicas).map(|_| Inst::default()).collect();
                    stats.comps[i].capacity = (s.replicas * s.concurrency) as f64;
                }
                Kind::Topic(t) => {
                    st[i].partitions = (0..t.partitions).map(|_| VecDeque::new()).collect();
                }
                _ => {}
            }
        }
        for (i, c) in m.components.iter().enumerate() {
            if let Kind::Balancer { targets, .. } = &c.kind {
                for &t in targets {
                    let k = st[t].insts.len().max(1);
                    st[i].backends.extend((0..k).map(|r| (t as u32, r as u32)));
                }
                st[i].outstanding = vec![0; st[i].backends.len()];
            }
        }
        Sim {
            m,
            rng: ChaCha8Rng::seed_from_u64(seed),
            cal: Calendar::default(),
            calls: Vec::new(),
            free: Vec::new(),
            retries: Vec::new(),
            free_retries: Vec::new(),
            live: 0,
            st,
            latency,
            n,
            measuring: false,
            arrivals_open: true,
            window: (m.warmup, m.warmup + m.horizon),
            stats,
        }
    }

    fn run(&mut self) {
        let m = self.m;
        for (i, c) in m.components.iter().enumerate() {
            if let Kind::Source(s) = &c.kind {
                if let Arrivals::Mmpp { durations, .. } = &s.arrivals {
                    // Start in a state drawn from the stationary distribution.
                    let p0 = durations[0] / (durations[0] + durations[1]);
                    let state = usize::from(self.rng.random::<f64>() >= p0);
                    self.st[i].mmpp_state = state;
                    self.st[i].mmpp_switch = exponential(&mut self.rng, durations[state]);
                }
                let t = self.next_arrival(i, 0.0);
                self.cal.schedule(t, Ev::Arrival(i as u32));
            }
        }
        if m.warmup > 0.0 {
            self.cal.schedule(m.warmup, Ev::WarmupEnd);
        } else {
            self.measuring = true;
        }
        self.cal.schedule(self.window.1, Ev::HorizonEnd);
        let drain_end = self.window.1 + m.horizon;
        while let Some((now, ev)) = self.cal.pop() {
            self.stats.events += 1;
            if now > drain_end {
                break;
            }
            match ev {
                Ev::Arrival(src) => self.arrival(src as usize, now),
                Ev::Deliver(c, g) if self.calls[c as usize].epoch == g => self.deliver(c, now),
                Ev::WorkDone(c, g) if self.calls[c as usize].epoch == g => self.work_done(c, now),
                Ev::Reply(c, g) if self.calls[c as usize].epoch == g => self.reply(c, now),
                Ev::Timeout(c, g) if self.calls[c as usize].epoch == g => self.timeout(c, now),
                Ev::Retry(k) => {
                    let r = self.retries[k as usize];
                    self.free_retries.push(k);
                    if r.parent == NONE || self.parent_waiting(r.parent, r.pepoch) {
                        self.send(r.parent, r.to, r.from, r.class, r.origin, r.attempt, now);
                    }
                }
                Ev::WarmupEnd => {
                    for i in 0..self.n {
                        self.touch(i, now);
                        let c = &mut self.stats.comps[i];
                        (c.busy_area, c.work_area, c.queue_area) = (0.0, 0.0, 0.0);
                    }
                    self.measuring = true;
                }
                Ev::HorizonEnd => {
                    for i in 0..self.n {
                        self.touch(i, now);
                    }
                    self.measuring = false;
                    self.arrivals_open = false;
                }
                _ => {} // an event for a call already gone
            }
            if self.live > MAX_LIVE_CALLS {
                self.stats.saturated = true;
                break;
            }
        }
        self.stats.end_time = self.cal.now();
        if self.measuring {
            // Stopped early (saturated): close the integrals here.
            let now = self.cal.now();
            for i in 0..self.n {
                self.touch(i, now);
            }
        }
        let answered =
            self.stats.ok + self.stats.rejected + self.stats.timed_out + self.stats.errors;
        self.stats.unfinished = self.stats.offered.saturating_sub(answered);
    }

    fn in_window(&self, origin: f64) -> bool {
        origin >= self.window.0 && origin < self.window.1
    }

    /// Brings component `i`'s time integrals up to `now`.
    fn touch(&mut self, i: usize, now: f64) {
        let s = &mut self.st[i];
        if self.measuring {
            let dt = now - s.last_t;
            let c = &mut self.stats.comps[i];
            c.busy_area += s.busy as f64 * dt;
            c.work_area += s.working as f64 * dt;
            c.queue_area += s.queued as f64 * dt;
        }
        s.last_t = now;
    }

    fn next_arrival(&mut self, src: usize, now: f64) -> f64 {
        let m = self.m;
        let Kind::Source(s) = &m.components[src].kind else {
            return f64::INFINITY;
        };
        match &s.arrivals {
            Arrivals::Poisson { rate } => now + exponential(&mut self.rng, 1000.0 / rate),
            Arrivals::Constant { rate } => now + 1000.0 / rate,
            Arrivals::Mmpp { rates, durations } => {
                let mut t = now;
                loop {
                    let st = &mut self.st[src];
                    let r = rates[st.mmpp_state];
                    let cand = if r > 0.0 {
                        t + exponential(&mut self.rng, 1000.0 / r)
                    } else {
                        f64::INFINITY
                    };
                    if cand <= st.mmpp_switch {
                        return cand;
                    }
                    // Memoryless: restart from the switch, in the other state.
                    t = st.mmpp_switch;
                    st.mmpp_state = 1 - st.mmpp_state;
                    st.mmpp_switch = t + exponential(&mut self.rng, durations[st.mmpp_state]);
                }
            }
            Arrivals::Trace { times, period } => {
                let st = &mut self.st[src];
                if st.trace_index >= times.len() {
                    st.trace_index = 0;
                    st.trace_cycle += 1;
                }
                let t = times[st.trace_index] + st.trace_cycle as f64 * period;
                st.trace_index += 1;
                t.max(now)
            }
        }
    }

    fn arrival(&mut self, src: usize, now: f64) {
        if !self.arrivals_open {
            return;
        }
        let next = self.next_arrival(src, now);
        self.cal.schedule(next, Ev::Arrival(src as u32));
        let m = self.m;
        let Kind::Source(s) = &m.components[src].kind else {
            return;
        };
        let (class, entry) = if s.mix.len() == 1 {
            (s.mix[0].0, s.mix[0].2)
        } else {
            let u: f64 = self.rng.random();
            let k = s
                .mix
                .iter()
                .position(|m| u < m.1)
                .unwrap_or(s.mix.len() - 1);
            (s.mix[k].0, s.mix[k].2)
        };
        if self.in_window(now) {
            self.stats.offered += 1;
        }
        self.send(NONE, entry as u32, src as u32, class as u16, now, 0, now);
    }

    fn alloc(&mut self, call: Call) -> u32 {
        self.live += 1;
        match self.free.pop() {
            Some(i) => {
                let epoch = self.calls[i as usize].epoch;
                self.calls[i as usize] = Call { epoch, ..call };
                i
            }
            None => {
                self.calls.push(call);
                (self.calls.len() - 1) as u32
            }
        }
    }

    fn release(&mut self, c: u32) {
        self.live -= 1;
        let call = &mut self.calls[c as usize];
        call.epoch = call.epoch.wrapping_add(1);
        self.free.push(c);
    }

    /// Counts a measured call or message going from `from` to `to`.
    fn hop(&mut self, from: u32, to: u32, origin: f64) {
        if from != NONE && self.in_window(origin) {
            self.stats.edges[from as usize * self.n + to as usize] += 1;
        }
    }

    fn latency(&mut self, from: u32, to: u32) -> f64 {
        if from == NONE {
            return 0.0;
        }
        match &self.latency[from as usize * self.n + to as usize] {
            None => 0.0,
            Some(d) => d.sample(&mut self.rng),
        }
    }

    /// Sends a new call from `from` (a component) to `to` on behalf of `parent`.
    #[allow(clippy::too_many_arguments)]
    fn send(
        &mut self,
        parent: u32,
        to: u32,
        from: u32,
        class: u16,
        origin: f64,
        attempt: u8,
        now: f64,
    ) {
        let pepoch = if parent == NONE {
            0
        } else {
            self.calls[parent as usize].epoch
        };
        let flags = if parent != NONE && self.calls[parent as usize].flags & ASYNC != 0 {
            ASYNC
        } else {
            0
        };
        let c = self.alloc(Call {
            epoch: 0,
            comp: to,
            to,
            from,
            inst: NONE,
            parent,
            pepoch,
            lb_comp: NONE,
            lb_backend: NONE,
            class,
            attempt,
            flags,
            failure: Failure::None,
            step: 0,
            pending: 0,
            origin,
            enq: now,
        });
        let epoch = self.calls[c as usize].epoch;
        if let Some(t) = self.m.components[to as usize].calls.timeout {
            self.cal.schedule(now + t, Ev::Timeout(c, epoch));
        }
        self.hop(from, to, origin);
        let d = self.latency(from, to);
        if d > 0.0 {
            self.cal.schedule(now + d, Ev::Deliver(c, epoch));
        } else {
            self.deliver(c, now);
        }
    }

    fn deliver(&mut self, c: u32, now: f64) {
        let m = self.m;
        let comp = self.calls[c as usize].comp as usize;
        match &m.components[comp].kind {
            Kind::Balancer { policy, time, .. } => {
                let b = self.pick_backend(comp, *policy);
                let (bc, bi) = self.st[comp].backends[b];
                self.st[comp].outstanding[b] += 1;
                let call = &mut self.calls[c as usize];
                call.lb_comp = comp as u32;
                call.lb_backend = b as u32;
                call.comp = bc;
                call.inst = bi;
                let own = time.as_ref().map_or(0.0, |d| d.sample(&mut self.rng));
                let origin = self.calls[c as usize].origin;
                self.hop(comp as u32, bc, origin);
                let d = own + self.latency(comp as u32, bc);
                if d > 0.0 {
                    let epoch = self.calls[c as usize].epoch;
                    self.cal.schedule(now + d, Ev::Deliver(c, epoch));
                } else {
                    self.deliver(c, now);
                }
            }
            Kind::Server(s) => {
                let call = &mut self.calls[c as usize];
                if call.inst == NONE || call.inst as usize >= s.replicas {
                    let st = &mut self.st[comp];
                    call.inst = st.rr as u32;
                    st.rr = (st.rr + 1) % s.replicas;
                }
                self.accept(c, s, now);
            }
            Kind::Cache {
                hit_ratio,
                hit_time,
                miss_time,
                ..
            } => {
                let hit = self.rng.random::<f64>() < *hit_ratio;
                let d = if hit {
                    hit_time.sample(&mut self.rng)
                } else {
                    self.calls[c as usize].flags |= MISS;
                    miss_time.sample(&mut self.rng)
                };
                let epoch = self.calls[c as usize].epoch;
                self.cal.schedule(now + d, Ev::WorkDone(c, epoch));
            }
            Kind::Topic(t) => {
                self.publish(comp, c, now);
                let d = t
                    .publish_time
                    .as_ref()
                    .map_or(0.0, |d| d.sample(&mut self.rng));
                let epoch = self.calls[c as usize].epoch;
                self.cal.schedule(now + d, Ev::WorkDone(c, epoch));
            }
            Kind::Sink => {
                let origin = self.calls[c as usize].origin;
                if self.in_window(origin) {
                    self.stats.comps[comp].latencies.push(now - origin);
                }
                self.finish(c, true, now);
            }
            Kind::Source(_) => self.finish(c, true, now),
        }
    }

    fn pick_backend(&mut self, comp: usize, policy: Policy) -> usize {
        let st = &mut self.st[comp];
        let n = st.backends.len();
        match policy {
            Policy::RoundRobin => {
                let b = st.rr % n;
                st.rr = (st.rr + 1) % n;
                b
            }
            Policy::Random => self.rng.random_range(0..n),
            Policy::LeastOutstanding => {
                // Start the scan after the last pick, so ties rotate.
                let start = st.rr;
                let mut best = start % n;
                for k in 0..n {
                    let b = (start + k) % n;
                    if st.outstanding[b] < st.outstanding[best] {
                        best = b;
                    }
                }
                st.rr = (best + 1) % n;
                best
            }
        }
    }

    fn accept(&mut self, c: u32, s: &Server, now: f64) {
        // Waiting starts here: network and balancer time are not queueing.
        self.calls[c as usize].enq = now;
        let comp = self.calls[c as usize].comp as usize;
        let inst = self.calls[c as usize].inst as usize;
        if (self.st[comp].insts[inst].busy as usize) < s.concurrency {
            self.start(c, s, now);
        } else if s
            .queue_capacity
            .is_none_or(|q| self.st[comp].insts[inst].queue.len() < q)
        {
            self.touch(comp, now);
            let st = &mut self.st[comp];
            st.insts[inst].queue.push_back(c);
            st.queued += 1;
        } else {
            if self.in_window(self.calls[c as usize].origin) {
                self.stats.comps[comp].dropped += 1;
            }
            self.calls[c as usize].failure = Failure::Rejected;
            self.finish(c, false, now);
        }
    }

    fn start(&mut self, c: u32, s: &Server, now: f64) {
        let (comp, inst, origin, enq) = {
            let call = &mut self.calls[c as usize];
            call.flags |= HOLDS;
            (
                call.comp as usize,
                call.inst as usize,
                call.origin,
                call.enq,
            )
        };
        self.touch(comp, now);
        let st = &mut self.st[comp];
        st.insts[inst].busy += 1;
        st.busy += 1;
        st.working += 1;
        if self.in_window(origin) {
            let cs = &mut self.stats.comps[comp];
            cs.wait_sum += now - enq;
            cs.served += 1;
        }
        let d = s.service.sample(&mut self.rng);
        let epoch = self.calls[c as usize].epoch;
        self.cal.schedule(now + d, Ev::WorkDone(c, epoch));
    }

    fn work_done(&mut self, c: u32, now: f64) {
        let comp = self.calls[c as usize].comp as usize;
        match &self.m.components[comp].kind {
            Kind::Server(_) => {
                self.touch(comp, now);
                self.st[comp].working -= 1;
                self.issue_step(c, now);
            }
            Kind::Cache { .. } => self.issue_step(c, now),
            _ => self.finish(c, true, now),
        }
    }

    /// Makes the call's next downstream step, or finishes it when none is left.
    fn issue_step(&mut self, c: u32, now: f64) {
        let m = self.m;
        let call = &self.calls[c as usize];
        let (comp, class, step, origin) = (
            call.comp as usize,
            call.class as usize,
            call.step as usize,
            call.origin,
        );
        let targets: &[usize] = match &m.components[comp].kind {
            Kind::Server(s) => s.steps_for(class).get(step).map_or(&[], Vec::as_slice),
            Kind::Cache { miss: Some(t), .. } if call.flags & MISS != 0 && step == 0 => {
                std::slice::from_ref(t)
            }
            _ => &[],
        };
        if targets.is_empty() {
            self.finish(c, true, now);
            return;
        }
        self.calls[c as usize].pending = targets.len() as u16;
        for &t in targets {
            self.send(c, t as u32, comp as u32, class as u16, origin, 0, now);
            // A zero-latency chain may already have failed the parent.
            if self.calls[c as usize].flags & DONE != 0 {
                return;
            }
        }
    }

    fn parent_waiting(&self, parent: u32, pepoch: u32) -> bool {
        let p = &self.calls[parent as usize];
        p.epoch == pepoch && p.flags & DONE == 0
    }

    /// The caller learns the outcome of call `c` (a reply or a timeout).
    fn outcome(&mut self, c: u32, ok: bool, now: f64) {
        let call = self.calls[c as usize].clone();
        if ok {
            if call.parent == NONE {
                self.root_done(&call, true, now);
            } else if self.parent_waiting(call.parent, call.pepoch) {
                let p = &mut self.calls[call.parent as usize];
                p.pending -= 1;
                if p.pending == 0 {
                    p.step += 1;
                    self.issue_step(call.parent, now);
                }
            }
            return;
        }
        if call.parent != NONE && !self.parent_waiting(call.parent, call.pepoch) {
            return;
        }
        let policy = self.m.components[call.to as usize].calls;
        if u32::from(call.attempt) < policy.retries {
            if self.in_window(call.origin) {
                self.stats.retries += 1;
            }
            let wait = policy.backoff * policy.multiplier.powi(i32::from(call.attempt));
            let req = RetryReq {
                parent: call.parent,
                pepoch: call.pepoch,
                to: call.to,
                from: call.from,
                attempt: call.attempt + 1,
                class: call.class,
                origin: call.origin,
            };
            let k = match self.free_retries.pop() {
                Some(k) => {
                    self.retries[k as usize] = req;
                    k
                }
                None => {
                    self.retries.push(req);
                    (self.retries.len() - 1) as u32
                }
            };
            self.cal.schedule(now + wait, Ev::Retry(k));
            return;
        }
        if call.parent == NONE {
            self.root_done(&call, false, now);
        } else {
            // The parent fails for the same root cause (a rejection or a
            // timeout somewhere below), which is what the request reports.
            self.calls[call.parent as usize].failure = match call.failure {
                Failure::None => Failure::Downstream,
                cause => cause,
            };
            self.finish(call.parent, false, now);
        }
    }

    fn root_done(&mut self, call: &Call, ok: bool, now: f64) {
        if call.flags & ASYNC != 0 {
            if ok && self.in_window(call.origin) {
                let topic = self.feeding_topic(call.to as usize);
                self.stats.async_latencies[topic].push(now - call.origin);
            }
            return;
        }
        if !self.in_window(call.origin) {
            return;
        }
        if ok {
            self.stats.ok += 1;
            self.stats.latencies[call.class as usize].push(now - call.origin);
        } else {
            match call.failure {
                Failure::Rejected => self.stats.rejected += 1,
                Failure::Timeout => self.stats.timed_out += 1,
                Failure::Downstream | Failure::None => self.stats.errors += 1,
            }
        }
    }

    fn feeding_topic(&self, comp: usize) -> usize {
        match &self.m.components[comp].kind {
            Kind::Server(s) => s.fed_by.unwrap_or(comp),
            _ => comp,
        }
    }

    fn timeout(&mut self, c: u32, now: f64) {
        let call = &mut self.calls[c as usize];
        if call.flags & ABANDONED != 0 {
            return;
        }
        call.flags |= ABANDONED;
        call.failure = Failure::Timeout;
        self.outcome(c, false, now);
    }

    /// The component is done with call `c`: free its slot, then hand the
    /// request on or answer the caller.
    fn finish(&mut self, c: u32, ok: bool, now: f64) {
        let m = self.m;
        let comp = self.calls[c as usize].comp as usize;
        if self.calls[c as usize].flags & HOLDS != 0 {
            self.calls[c as usize].flags &= !HOLDS;
            self.free_slot(c, comp, now);
        }
        let (lb_comp, lb_b) = {
            let call = &mut self.calls[c as usize];
            let r = (call.lb_comp, call.lb_backend);
            call.lb_comp = NONE;
            r
        };
        if lb_comp != NONE {
            self.st[lb_comp as usize].outstanding[lb_b as usize] -= 1;
        }
        if ok
            && let Kind::Server(s) = &m.components[comp].kind
            && !s.next.is_empty()
        {
            let u: f64 = self.rng.random();
            if let Some(&(_, t)) = s.next.iter().find(|(p, _)| u < *p) {
                let call = &mut self.calls[c as usize];
                call.comp = t as u32;
                call.inst = NONE;
                call.step = 0;
                call.pending = 0;
                call.flags &= !MISS;
                call.enq = now;
                let origin = call.origin;
                self.hop(comp as u32, t as u32, origin);
                let d = self.latency(comp as u32, t as u32);
                if d > 0.0 {
                    let epoch = self.calls[c as usize].epoch;
                    self.cal.schedule(now + d, Ev::Deliver(c, epoch));
                } else {
                    self.deliver(c, now);
                }
                return;
            }
        }
        let call = &mut self.calls[c as usize];
        call.flags |= DONE;
        if !ok {
            call.flags |= FAILED;
        }
        let parent = call.parent;
        let back = if parent == NONE {
            call.from
        } else {
            self.calls[parent as usize].comp
        };
        let d = self.latency(comp as u32, back);
        if d > 0.0 {
            let epoch = self.calls[c as usize].epoch;
            self.cal.schedule(now + d, Ev::Reply(c, epoch));
        } else {
            self.reply(c, now);
        }
    }

    fn free_slot(&mut self, c: u32, comp: usize, now: f64) {
        let inst = self.calls[c as usize].inst as usize;
        self.touch(comp, now);
        let st = &mut self.st[comp];
        st.insts[inst].busy -= 1;
        st.busy -= 1;
        let m = self.m;
        let Kind::Server(s) = &m.components[comp].kind else {
            return;
        };
        if let Some(topic) = s.fed_by {
            self.consume(topic, inst, now);
        } else if let Some(next) = self.st[comp].insts[inst].queue.pop_front() {
            self.st[comp].queued -= 1;
            self.start(next, s, now);
        }
    }

    /// The answer to call `c` reaches its caller.
    fn reply(&mut self, c: u32, now: f64) {
        let flags = self.calls[c as usize].flags;
        if flags & ABANDONED == 0 {
            self.outcome(c, flags & FAILED == 0, now);
        }
        self.release(c);
    }

    fn publish(&mut self, topic: usize, c: u32, now: f64) {
        let m = self.m;
        let Kind::Topic(t) = &m.components[topic].kind else {
            return;
        };
        let (origin, class) = {
            let call = &self.calls[c as usize];
            (call.origin, call.class)
        };
        self.touch(topic, now);
        let st = &mut self.st[topic];
        let p = st.next_partition;
        st.next_partition = (p + 1) % t.partitions;
        st.partitions[p].push_back((origin, class, now));
        st.queued += 1;
        if t.retention.is_some_and(|r| st.partitions[p].len() > r) {
            st.partitions[p].pop_front();
            st.queued -= 1;
            if self.in_window(origin) {
                self.stats.comps[topic].dropped += 1;
            }
        }
        let Kind::Server(s) = &m.components[t.consumer].kind else {
            return;
        };
        let consumer = p % s.replicas;
        if self.st[t.consumer].insts[consumer].busy == 0 {
            self.consume(topic, consumer, now);
        }
    }

    /// Consumer `consumer` of `topic`'s group takes the oldest message at the
    /// head of its partitions, if any.
    fn consume(&mut self, topic: usize, consumer: usize, now: f64) {
        let m = self.m;
        let Kind::Topic(t) = &m.components[topic].kind else {
            return;
        };
        let Kind::Server(s) = &m.components[t.consumer].kind else {
            return;
        };
        let group = s.replicas;
        let st = &self.st[topic];
        let mut best: Option<(usize, f64)> = None;
        for p in (consumer..t.partitions).step_by(group) {
            if let Some(&(_, _, at)) = st.partitions[p].front()
                && best.is_none_or(|(_, b)| at < b)
            {
                best = Some((p, at));
            }
        }
        let Some((p, _)) = best else {
            return;
        };
        self.touch(topic, now);
        let st = &mut self.st[topic];
        let Some((origin, class, at)) = st.partitions[p].pop_front() else {
            return;
        };
        st.queued -= 1;
        if self.in_window(origin) {
            let cs = &mut self.stats.comps[topic];
            cs.wait_sum += now - at;
            cs.served += 1;
        }
        self.hop(topic as u32, t.consumer as u32, origin);
        let c = self.alloc(Call {
            epoch: 0,
            comp: t.consumer as u32,
            to: t.consumer as u32,
            from: topic as u32,
            inst: consumer as u32,
            parent: NONE,
            pepoch: 0,
            lb_comp: NONE,
            lb_backend: NONE,
            class,
            attempt: 0,
            flags: ASYNC,
            failure: Failure::None,
            step: 0,
            pending: 0,
            origin,
            enq: now,
        });
        self.start(c, s, now);
    }
}
