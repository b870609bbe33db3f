//! The load-balance experiment's workload, like MMS's Sjeng test: clients
//! that each hold one large area, of a size that changes now and then, for
//! a long time. [`CLIENTS`] clients arrive one every [`GAP`] ticks and
//! leave after a lifetime of their own, so about mean lifetime ÷ [`GAP`] =
//! 16 are alive at a time, holding 60 pages each on average: 94% of the
//! four slaves' 1024 pages before paging structures. The script is drawn from a
//! seeded generator in a fixed order that no outcome changes, so every run
//! and every policy gets the same one.

use alloc::vec::Vec;

/// The workload's clock runs this many ticks.
pub const TICKS: u32 = 1200;
/// Clients, arriving one every [`GAP`] ticks from tick 0.
pub const CLIENTS: u16 = 48;
/// Ticks between arrivals.
pub const GAP: u32 = 25;
/// A client's lifetime in ticks: uniform in this range.
const LIFE: (u64, u64) = (200, 600);
/// Ticks a client keeps an area before it takes one of a new size.
const HOLD: (u64, u64) = (80, 240);
/// An area's size in pages.
const SIZE: (u64, u64) = (28, 92);
/// The generator's seed.
pub const SEED: u64 = 0x5eed_0019_7ab1_e002;

/// A seeded xorshift64* generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, (lo, hi): (u64, u64)) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

/// What a client does at a tick.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// It arrives (routed by the master) and takes an area of this many
    /// pages.
    Arrive(u64),
    /// It frees its area and takes one of this many pages.
    Resize(u64),
    /// It frees its area and leaves.
    Leave,
}

/// One step of the script.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    /// When.
    pub tick: u32,
    /// Who: clients are numbered from 1 in order of arrival.
    pub client: u16,
    /// What.
    pub action: Action,
}

/// The script: every event, by tick and then by client.
pub fn script() -> Vec<Event> {
    let mut rng = Rng(SEED);
    let mut events = Vec::new();
    for client in 1..=CLIENTS {
        let arrive = u32::from(client - 1) * GAP;
        let leave = (u64::from(arrive) + rng.range(LIFE)).min(u64::from(TICKS - 1)) as u32;
        events.push(Event {
            tick: arrive,
            client,
            action: Action::Arrive(rng.range(SIZE)),
        });
        let mut at = u64::from(arrive) + rng.range(HOLD);
        while at < u64::from(leave) {
            events.push(Event {
                tick: at as u32,
                client,
                action: Action::Resize(rng.range(SIZE)),
            });
            at += rng.range(HOLD);
        }
        events.push(Event {
            tick: leave,
            client,
            action: Action::Leave,
        });
    }
    events.sort_by_key(|e| (e.tick, e.client));
    events
}
