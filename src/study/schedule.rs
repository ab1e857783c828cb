//! Which cell of a sweep trains next, which cells train together, and what to hand out again: the
//! one rule that `idp sweep`'s threads, the page's workers and the class hub's students follow.
//!
//! A [`Schedule`] holds, for each cell of a plan, whether it has its result and which workers
//! (threads, helper workers, students: any name) hold a lease on it. A worker asks for work with
//! [`Schedule::take`] (one cell) or [`Schedule::take_with`] (a cell and the waiting cells that can
//! train stacked with it); it reports with [`Schedule::finish`] or gives its cells back with
//! [`Schedule::release`]. Leases carry the time a worker was last heard of, so that
//! [`Schedule::expire`] hands out again the cells of a worker that went silent (a student who
//! closed the tab). A schedule can ask for about one cell in `n` to be trained twice, by two
//! different workers, once no cell waits for its first result (BOINC's replication, which checks
//! a class's devices against each other). Plain data, no clock: the caller passes the time.

/// Whether cell `cell` is one of the about one in `every` that a schedule has trained twice: chosen
/// by a hash of its index, so the replicated cells spread over every axis and seed (every `n`th
/// cell in plan order would pick the same points of a grid whose size `n` divides).
pub fn replicated(cell: usize, every: usize) -> bool {
    every > 0
        && crate::study::class::fnv1a(&(cell as u64).to_le_bytes()).is_multiple_of(every as u64)
}

/// A worker's lease on a cell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    /// The worker.
    pub worker: String,
    /// When it took the cell, in milliseconds of the caller's clock.
    pub since_ms: u64,
    /// When it was last heard of.
    pub seen_ms: u64,
    /// Whether it trains the cell a second time (a replica), the cell having its result.
    pub replica: bool,
}

/// One cell's state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Cell {
    /// Workers that gave a result for it (the first is its result; any other a replica).
    done_by: Vec<String>,
    /// Whether a result came from elsewhere (a file, a restart): no worker named.
    done_before: bool,
    /// Leases on it.
    leases: Vec<Lease>,
}

impl Cell {
    fn done(&self) -> bool {
        self.done_before || !self.done_by.is_empty()
    }

    fn results(&self) -> usize {
        self.done_by.len() + usize::from(self.done_before)
    }
}

/// What a worker was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Take {
    /// The cell.
    pub cell: usize,
    /// Whether it is a second training of a cell that has its result.
    pub replica: bool,
}

/// A cell given to another worker because its lease expired.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expired {
    /// The cell.
    pub cell: usize,
    /// The worker that went silent.
    pub worker: String,
}

/// The state of a sweep's cells: results and leases. See the module's documentation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    cells: Vec<Cell>,
    /// A worker not heard of for this long loses its leases ([`Self::expire`]); 0: never.
    pub lease_ms: u64,
    /// About one cell in `n` is trained twice, by two workers ([`replicated`]); 0: none is.
    pub replicate_every: usize,
}

impl Schedule {
    /// A schedule of `cells` cells, none done, with no lease expiry and no replicas.
    pub fn new(cells: usize) -> Self {
        Self {
            cells: vec![Cell::default(); cells],
            lease_ms: 0,
            replicate_every: 0,
        }
    }

    /// Cells in the schedule.
    pub fn len(&self) -> usize {
        self.cells.len()
    }

    /// Whether it has no cell.
    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }

    /// Whether cell `cell` has its result.
    pub fn is_done(&self, cell: usize) -> bool {
        self.cells.get(cell).is_some_and(Cell::done)
    }

    /// Whether cell `cell` has no result and no worker trains it.
    pub fn is_waiting(&self, cell: usize) -> bool {
        self.cells
            .get(cell)
            .is_some_and(|c| !c.done() && c.leases.is_empty())
    }

    /// Cells waiting for a worker.
    pub fn waiting(&self) -> usize {
        (0..self.cells.len())
            .filter(|&c| self.is_waiting(c))
            .count()
    }

    /// Cells with their result.
    pub fn done(&self) -> usize {
        self.cells.iter().filter(|c| c.done()).count()
    }

    /// Whether every cell has its result (replicas may still be due).
    pub fn all_done(&self) -> bool {
        self.cells.iter().all(Cell::done)
    }

    /// Whether every cell has its result and every replica asked for is done or given up.
    pub fn finished(&self) -> bool {
        self.all_done() && (0..self.cells.len()).all(|c| !self.replica_due(c, None))
    }

    /// The leases on cell `cell`.
    pub fn leases(&self, cell: usize) -> &[Lease] {
        self.cells.get(cell).map_or(&[], |c| &c.leases)
    }

    /// The cells `worker` holds, in plan order.
    pub fn held_by(&self, worker: &str) -> Vec<usize> {
        (0..self.cells.len())
            .filter(|&c| self.cells[c].leases.iter().any(|l| l.worker == worker))
            .collect()
    }

    /// The workers that gave cell `cell` its results, first result first.
    pub fn done_by(&self, cell: usize) -> &[String] {
        self.cells.get(cell).map_or(&[], |c| &c.done_by)
    }

    /// Whether cell `cell` is due a second training, which `worker` (if named) may do: it is one
    /// of the replicated cells, has one result, no replica lease, and `worker` gave none of it.
    fn replica_due(&self, cell: usize, worker: Option<&str>) -> bool {
        let c = &self.cells[cell];
        replicated(cell, self.replicate_every)
            && c.results() == 1
            && c.leases.is_empty()
            && worker.is_none_or(|w| !c.done_by.iter().any(|d| d == w))
    }

    fn lease(&mut self, cell: usize, worker: &str, now_ms: u64, replica: bool) {
        self.cells[cell].leases.push(Lease {
            worker: worker.into(),
            since_ms: now_ms,
            seen_ms: now_ms,
            replica,
        });
    }

    /// The next cell for `worker`: the first waiting cell in plan order; when none waits, the
    /// first replica due that `worker` did not train; else none.
    pub fn take(&mut self, worker: &str, now_ms: u64) -> Option<Take> {
        let take = (0..self.cells.len())
            .find(|&c| self.is_waiting(c))
            .map(|cell| Take {
                cell,
                replica: false,
            })
            .or_else(|| {
                (0..self.cells.len())
                    .find(|&c| self.replica_due(c, Some(worker)))
                    .map(|cell| Take {
                        cell,
                        replica: true,
                    })
            })?;
        self.lease(take.cell, worker, now_ms, take.replica);
        Some(take)
    }

    /// The first waiting cell and, after it, up to `max - 1` more waiting cells that `joins` says
    /// can train stacked with it, in plan order, all now leased to `worker`; empty when no cell
    /// waits. (`joins(first, other)`: whether `other` can share a stack with `first`.)
    pub fn take_with(
        &mut self,
        worker: &str,
        now_ms: u64,
        max: usize,
        joins: impl Fn(usize, usize) -> bool,
    ) -> Vec<usize> {
        let Some(first) = (0..self.cells.len()).find(|&c| self.is_waiting(c)) else {
            return Vec::new();
        };
        let cells: Vec<usize> = std::iter::once(first)
            .chain(
                (first + 1..self.cells.len())
                    .filter(|&c| self.is_waiting(c) && joins(first, c))
                    .take(max.saturating_sub(1)),
            )
            .collect();
        for &c in &cells {
            self.lease(c, worker, now_ms, false);
        }
        cells
    }

    /// The first of `units` (groups of cells dealt beforehand, e.g. stacks) that no worker holds
    /// a cell of and that has a cell without its result (a stack going on from its checkpoint may
    /// hold cells done since, which train along), now leased to `worker`; `None` when none is
    /// left.
    pub fn take_unit<'a>(
        &mut self,
        worker: &str,
        now_ms: u64,
        units: &'a [Vec<usize>],
    ) -> Option<&'a [usize]> {
        let unit = units.iter().find(|u| {
            u.iter()
                .all(|&c| c < self.cells.len() && self.cells[c].leases.is_empty())
                && u.iter().any(|&c| !self.cells[c].done())
        })?;
        for &c in unit {
            self.lease(c, worker, now_ms, false);
        }
        Some(unit)
    }

    /// `worker` holds cell `cell` (it was given it before: a run restored after a reload).
    pub fn hold(&mut self, cell: usize, worker: &str, now_ms: u64) {
        if cell < self.cells.len() {
            self.lease(cell, worker, now_ms, false);
        }
    }

    /// `worker` was heard of at `now_ms`: its leases stay alive.
    pub fn heartbeat(&mut self, worker: &str, now_ms: u64) {
        for lease in self.cells.iter_mut().flat_map(|c| &mut c.leases) {
            if lease.worker == worker {
                lease.seen_ms = lease.seen_ms.max(now_ms);
            }
        }
    }

    /// Ends the leases of workers not heard of for [`Self::lease_ms`]: their cells wait again
    /// (a replica lease is dropped). Returns them, in plan order.
    pub fn expire(&mut self, now_ms: u64) -> Vec<Expired> {
        if self.lease_ms == 0 {
            return Vec::new();
        }
        let mut expired = Vec::new();
        for (cell, c) in self.cells.iter_mut().enumerate() {
            c.leases.retain(|l| {
                let alive = now_ms.saturating_sub(l.seen_ms) < self.lease_ms;
                if !alive {
                    expired.push(Expired {
                        cell,
                        worker: l.worker.clone(),
                    });
                }
                alive
            });
        }
        expired
    }

    /// `worker` gave cell `cell` a result: its lease ends (a result from a worker whose lease
    /// expired, or that never had one, counts the same). Returns how many results the cell has.
    pub fn finish(&mut self, cell: usize, worker: &str) -> usize {
        let Some(c) = self.cells.get_mut(cell) else {
            return 0;
        };
        c.leases.retain(|l| l.worker != worker);
        if !c.done_by.iter().any(|d| d == worker) {
            c.done_by.push(worker.into());
        }
        c.results()
    }

    /// Cell `cell` has a result from elsewhere (a file read at a restart): it waits no more.
    pub fn mark_done(&mut self, cell: usize) {
        if let Some(c) = self.cells.get_mut(cell) {
            c.done_before = true;
            c.leases.clear();
        }
    }

    /// `worker` stops (it failed, left or was cancelled): its cells wait again. Returns them.
    pub fn release(&mut self, worker: &str) -> Vec<usize> {
        let held = self.held_by(worker);
        for &c in &held {
            self.cells[c].leases.retain(|l| l.worker != worker);
        }
        held
    }

    /// Every lease ends (a sweep cancelled): returns the workers that held any, in first-seen
    /// order.
    pub fn release_all(&mut self) -> Vec<String> {
        let mut workers: Vec<String> = Vec::new();
        for c in &mut self.cells {
            for l in c.leases.drain(..) {
                if !workers.contains(&l.worker) {
                    workers.push(l.worker);
                }
            }
        }
        workers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_go_out_in_plan_order_once_each() {
        let mut s = Schedule::new(3);
        assert_eq!(s.take("a", 0).unwrap().cell, 0);
        assert_eq!(s.take("b", 0).unwrap().cell, 1);
        assert_eq!(s.finish(0, "a"), 1);
        assert_eq!(s.take("a", 1).unwrap().cell, 2);
        assert_eq!(s.take("c", 1), None);
        assert_eq!(s.waiting(), 0);
        s.finish(1, "b");
        s.finish(2, "a");
        assert!(s.all_done() && s.finished());
    }

    #[test]
    fn a_silent_workers_cells_are_handed_out_again_and_its_late_result_still_counts() {
        let mut s = Schedule::new(2);
        s.lease_ms = 10_000;
        s.take("gone", 0);
        s.take("here", 0);
        s.heartbeat("here", 9_000);
        assert!(s.expire(9_999).is_empty());
        assert_eq!(
            s.expire(10_000),
            vec![Expired {
                cell: 0,
                worker: "gone".into()
            }]
        );
        assert!(s.is_waiting(0));
        assert_eq!(s.take("late", 10_001).unwrap().cell, 0);
        // The silent worker's result arrives after all: kept, and a second one from "late" too.
        assert_eq!(s.finish(0, "gone"), 1);
        assert_eq!(s.finish(0, "late"), 2);
        assert_eq!(s.done_by(0), ["gone".to_string(), "late".to_string()]);
    }

    #[test]
    fn replicas_go_to_another_worker_once_no_cell_waits() {
        let mut s = Schedule::new(12);
        s.replicate_every = 3;
        let chosen: Vec<usize> = (0..12).filter(|&c| replicated(c, 3)).collect();
        assert!(!chosen.is_empty() && chosen.len() < 12, "{chosen:?}");
        for cell in 0..12 {
            assert_eq!(s.take("a", 0).unwrap().cell, cell);
            s.finish(cell, "a");
        }
        assert!(s.all_done() && !s.finished());
        // "a" trained them all: it gets no replica; "b" gets each chosen cell's, once.
        assert_eq!(s.take("a", 1), None);
        for &cell in &chosen {
            assert_eq!(
                s.take("b", 1),
                Some(Take {
                    cell,
                    replica: true
                })
            );
            assert_eq!(s.finish(cell, "b"), 2);
        }
        assert_eq!(s.take("b", 1), None);
        assert!(s.finished());
    }

    #[test]
    fn replicated_cells_spread_over_a_grid() {
        // A 5-point ladder over 3 seeds: every 5th cell would be the same point thrice.
        let chosen: Vec<usize> = (0..15).filter(|&c| replicated(c, 5)).collect();
        let points: std::collections::BTreeSet<usize> = chosen.iter().map(|c| c % 5).collect();
        assert!(points.len() > 1, "{chosen:?}");
        assert!(!(0..100).any(|c| replicated(c, 0)));
    }

    #[test]
    fn stacks_take_waiting_cells_that_join_the_first() {
        let mut s = Schedule::new(6);
        s.take("x", 0);
        let even = |a: usize, b: usize| a % 2 == b % 2;
        assert_eq!(s.take_with("page", 0, 2, even), vec![1, 3]);
        assert_eq!(s.take_with("page", 0, 9, even), vec![2, 4]);
        assert_eq!(s.take_with("page", 0, 9, even), vec![5]);
        assert!(s.take_with("page", 0, 9, even).is_empty());
        assert_eq!(s.release("page"), vec![1, 2, 3, 4, 5]);
        assert_eq!(s.waiting(), 5);
    }

    #[test]
    fn units_go_out_whole_and_cells_done_elsewhere_are_skipped() {
        let mut s = Schedule::new(4);
        s.mark_done(1);
        let units = vec![vec![1], vec![0, 1], vec![2, 3], vec![0]];
        // [1] is done; [0, 1] has cell 0 to train (1 trains along).
        assert_eq!(s.take_unit("t", 0, &units), Some(&[0, 1][..]));
        assert_eq!(s.take_unit("u", 0, &units), Some(&[2, 3][..]));
        // [0] is held by "t".
        assert_eq!(s.take_unit("u", 0, &units), None);
        assert_eq!(s.release_all(), vec!["t".to_string(), "u".to_string()]);
    }
}
