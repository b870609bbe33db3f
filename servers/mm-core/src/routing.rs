//! The master's choice of a slave for a new client: MMS's routing. Each
//! slave reports its memory and the requests it holds; its *estimated
//! load* is the share of its memory allocated once those are served.
//!
//! Under the watermark policy the master picks the least-loaded slave while
//! any is below LowMem (spreading clients for balance); once none is, the
//! most-loaded slave still below HighMem (packing clients, so that free
//! memory stays in few large pieces rather than spread thin over every
//! slave); none below HighMem, no slave is picked and the request is
//! refused. Round-robin takes the slaves in turn, for comparison. A slave
//! that reports itself overloaded is never picked; its clients' future
//! requests go to the slave [`Router::reroute`] picks.

/// What a slave reports of itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlaveLoad {
    /// Bytes in its partition.
    pub total: u64,
    /// Bytes allocated.
    pub allocated: u64,
    /// Bytes asked for by the requests it holds, not yet served.
    pub pending: u64,
    /// It cannot serve its clients now.
    pub overloaded: bool,
}

impl SlaveLoad {
    /// The estimated load, in thousandths of the partition (at most 1000).
    pub fn load_permille(&self) -> u64 {
        match self.total {
            0 => 1000,
            total => {
                let used = u128::from(self.allocated) + u128::from(self.pending);
                (used * 1000 / u128::from(total)).min(1000) as u64
            }
        }
    }
}

/// How the master routes new clients.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// MMS's watermarks, in thousandths: `low` below `high`.
    Watermark {
        /// LowMem: below it, balance.
        low: u64,
        /// HighMem: at or above it, a slave takes no new client.
        high: u64,
    },
    /// The slaves in turn.
    RoundRobin,
}

/// A policy that cannot route: watermarks out of order or above 1000.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadPolicy;

/// The master's router: the policy and, for round-robin, whose turn it is.
#[derive(Clone, Debug)]
pub struct Router {
    policy: Policy,
    next: usize,
}

impl Router {
    /// A router with `policy`.
    ///
    /// # Errors
    /// `BadPolicy` for watermarks with `low > high` or `high > 1000`.
    pub fn new(policy: Policy) -> Result<Router, BadPolicy> {
        if let Policy::Watermark { low, high } = policy {
            if low > high || high > 1000 {
                return Err(BadPolicy);
            }
        }
        Ok(Router { policy, next: 0 })
    }

    /// The slave a new client goes to, or `None` when no slave may take
    /// one.
    pub fn pick(&mut self, slaves: &[SlaveLoad]) -> Option<usize> {
        self.pick_except(slaves, None)
    }

    /// The slave the clients of the overloaded slave `from` go to next.
    pub fn reroute(&mut self, slaves: &[SlaveLoad], from: usize) -> Option<usize> {
        self.pick_except(slaves, Some(from))
    }

    fn pick_except(&mut self, slaves: &[SlaveLoad], except: Option<usize>) -> Option<usize> {
        let open = |i: &usize| Some(*i) != except && !slaves[*i].overloaded;
        let load = |i: &usize| slaves[*i].load_permille();
        match self.policy {
            Policy::RoundRobin => {
                let n = slaves.len();
                let found = (0..n).map(|k| (self.next + k) % n).find(open)?;
                self.next = (found + 1) % n;
                Some(found)
            }
            Policy::Watermark { low, high } => {
                let candidates = || (0..slaves.len()).filter(open);
                // Least loaded below LowMem (the first of equals); else the
                // most loaded below HighMem (the first of equals).
                candidates()
                    .filter(|i| load(i) < low)
                    .min_by_key(|i| (load(i), *i))
                    .or_else(|| {
                        candidates()
                            .filter(|i| load(i) < high)
                            .max_by_key(|i| (load(i), core::cmp::Reverse(*i)))
                    })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn slave(allocated_permille: u64) -> SlaveLoad {
        SlaveLoad {
            total: 1000,
            allocated: allocated_permille,
            pending: 0,
            overloaded: false,
        }
    }

    const WATERMARK_90: Policy = Policy::Watermark {
        low: 900,
        high: 950,
    };

    #[test]
    fn below_lowmem_the_least_loaded_slave_takes_the_client() {
        let mut r = Router::new(WATERMARK_90).unwrap();
        let slaves = [slave(500), slave(200), slave(920), slave(200)];
        assert_eq!(r.pick(&slaves), Some(1));
    }

    #[test]
    fn above_lowmem_the_most_loaded_slave_below_highmem_takes_it() {
        let mut r = Router::new(WATERMARK_90).unwrap();
        let slaves = [slave(910), slave(940), slave(960), slave(930)];
        assert_eq!(r.pick(&slaves), Some(1));
        let full = [slave(950), slave(990)];
        assert_eq!(r.pick(&full), None);
    }

    #[test]
    fn pending_requests_count_in_the_load() {
        let mut r = Router::new(WATERMARK_90).unwrap();
        let mut busy = slave(100);
        busy.pending = 500;
        assert_eq!(busy.load_permille(), 600);
        assert_eq!(r.pick(&[busy, slave(300)]), Some(1));
    }

    #[test]
    fn a_scripted_sequence_follows_the_policy() {
        // Four slaves fill up as clients of 10% each arrive: balanced while
        // any is below LowMem, then packed into the fullest below HighMem.
        let mut r = Router::new(Policy::Watermark {
            low: 300,
            high: 500,
        })
        .unwrap();
        let mut slaves = [slave(0); 4];
        let mut picks = Vec::new();
        while let Some(i) = r.pick(&slaves) {
            picks.push(i);
            slaves[i].allocated += 100;
        }
        assert_eq!(
            picks,
            [0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 0, 1, 1, 2, 2, 3, 3]
        );
    }

    #[test]
    fn round_robin_takes_turns_and_skips_the_overloaded() {
        let mut r = Router::new(Policy::RoundRobin).unwrap();
        let mut slaves = [slave(0); 3];
        slaves[1].overloaded = true;
        let picks: Vec<_> = (0..4).map(|_| r.pick(&slaves).unwrap()).collect();
        assert_eq!(picks, [0, 2, 0, 2]);
    }

    #[test]
    fn an_overloaded_slaves_clients_move_elsewhere() {
        let mut r = Router::new(WATERMARK_90).unwrap();
        let mut slaves = [slave(100), slave(400)];
        slaves[0].overloaded = true;
        assert_eq!(r.reroute(&slaves, 0), Some(1));
        slaves[1].overloaded = true;
        assert_eq!(r.reroute(&slaves, 0), None);
    }

    #[test]
    fn watermarks_out_of_order_are_refused() {
        for (low, high) in [(600, 500), (900, 1001)] {
            assert_eq!(
                Router::new(Policy::Watermark { low, high }).err(),
                Some(BadPolicy)
            );
        }
    }
}
