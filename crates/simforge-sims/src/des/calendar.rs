//! The event calendar: events ordered by time, ties by scheduling order (so
//! a run is reproducible for a seed whatever the event mix).

use std::cmp::Ordering;
use std::collections::BinaryHeap;

struct Entry<E> {
    time: f64,
    seq: u64,
    event: E,
}

impl<E> PartialEq for Entry<E> {
    fn eq(&self, other: &Self) -> bool {
        self.seq == other.seq
    }
}

impl<E> Eq for Entry<E> {}

impl<E> PartialOrd for Entry<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<E> Ord for Entry<E> {
    /// Reversed, so that the max-heap pops the earliest event first.
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .time
            .total_cmp(&self.time)
            .then_with(|| other.seq.cmp(&self.seq))
    }
}

/// Pending events and the simulation clock.
pub struct Calendar<E> {
    heap: BinaryHeap<Entry<E>>,
    seq: u64,
    now: f64,
}

impl<E> Default for Calendar<E> {
    fn default() -> Self {
        Calendar {
            heap: BinaryHeap::new(),
            seq: 0,
            now: 0.0,
        }
    }
}

impl<E> Calendar<E> {
    /// Schedules `event` at time `at` (not before now).
    pub fn schedule(&mut self, at: f64, event: E) {
        self.seq += 1;
        self.heap.push(Entry {
            time: at.max(self.now),
            seq: self.seq,
            event,
        });
    }

    /// Advances the clock to the next event and returns it.
    pub fn pop(&mut self) -> Option<(f64, E)> {
        let e = self.heap.pop()?;
        self.now = e.time;
        Some((e.time, e.event))
    }

    /// The current simulation time.
    pub fn now(&self) -> f64 {
        self.now
    }

    /// Events pending.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether no event is pending.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_come_in_time_order_ties_in_scheduling_order() {
        let mut c = Calendar::default();
        c.schedule(2.0, "b");
        c.schedule(1.0, "a");
        c.schedule(2.0, "c");
        let order: Vec<&str> = std::iter::from_fn(|| c.pop().map(|e| e.1)).collect();
        assert_eq!(order, ["a", "b", "c"]);
        assert_eq!(c.now(), 2.0);
        assert!(c.is_empty());
    }
}
