//! The load-balance experiment's figures (MMS's Table 2), from the app's
//! `BENCH balance-<policy>-<what> <N> <count>` lines: four slaves of 256
//! pages, 48 clients each holding one large area of 28 to 92 pages that
//! changes size now and then, arriving one every 25 ticks of the script's
//! clock and living 200 to 600 ticks (a seeded script, the same for every
//! policy). A slave is overloaded in a tick when its partition is at least
//! HighMem (95%) allocated or it refused a request for want of memory in
//! that tick; the overloaded-time ratio is overloaded slave-ticks over all
//! slave-ticks.

use anyhow::{Context, Result};
use serde::Serialize;

use crate::bench::app::Sample;

/// The prefix of the experiment's lines.
pub const PREFIX: &str = "balance-";
/// HighMem, in thousandths of a partition, under every watermark policy.
const HIGH: u64 = 950;
/// The policies, by their names in the lines, with LowMem (`None`:
/// round-robin).
const POLICIES: [(&str, Option<u64>); 4] = [
    ("rr", None),
    ("wm80", Some(800)),
    ("wm90", Some(900)),
    ("wm95", Some(950)),
];

/// One policy's row.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct BalanceRow {
    /// `rr`, `wm80`, `wm90` or `wm95`.
    pub policy: String,
    /// LowMem in thousandths (`None` for round-robin).
    pub low_permille: Option<u64>,
    /// HighMem in thousandths (`None` for round-robin).
    pub high_permille: Option<u64>,
    /// Overloaded slave-ticks over all slave-ticks.
    pub overloaded_ratio: f64,
    /// Slave-ticks (slaves × the script's ticks).
    pub slave_ticks: u64,
    /// Slave-ticks overloaded.
    pub overloaded_slave_ticks: u64,
    /// Requests: client arrivals (routes) and allocations.
    pub requests: u64,
    /// Requests refused: no slave to route to, or no memory even after
    /// the master moved the client.
    pub refused: u64,
    /// `refused / requests`.
    pub refused_ratio: f64,
    /// Allocation attempts (a refused one is retried once elsewhere).
    pub attempts: u64,
    /// Attempts a slave answered `OutOfMemory`.
    pub out_of_memory: u64,
    /// Clients that arrived.
    pub clients: u64,
    /// Times the master moved a client to another slave.
    pub moves: u64,
}

/// The (N, count) of line `balance-<policy>-<what>`.
fn pair(samples: &[Sample], policy: &str, what: &str) -> Result<(u64, u64)> {
    let name = format!("{PREFIX}{policy}-{what}");
    samples
        .iter()
        .find(|s| s.name == name)
        .map(|s| (s.n, s.ticks))
        .with_context(|| format!("the app reported no `{name}`"))
}

fn ratio(part: u64, whole: u64) -> f64 {
    part as f64 / whole.max(1) as f64
}

/// Every policy's row.
///
/// # Errors
/// A line the app must print is missing.
pub fn rows(samples: &[Sample]) -> Result<Vec<BalanceRow>> {
    POLICIES
        .iter()
        .map(|&(policy, low)| {
            let (slave_ticks, overloaded) = pair(samples, policy, "overloaded")?;
            let (requests, refused) = pair(samples, policy, "refused")?;
            let (attempts, out_of_memory) = pair(samples, policy, "oom")?;
            let (clients, moves) = pair(samples, policy, "moved")?;
            Ok(BalanceRow {
                policy: policy.to_string(),
                low_permille: low,
                high_permille: low.map(|_| HIGH),
                overloaded_ratio: ratio(overloaded, slave_ticks),
                slave_ticks,
                overloaded_slave_ticks: overloaded,
                requests,
                refused,
                refused_ratio: ratio(refused, requests),
                attempts,
                out_of_memory,
                clients,
                moves,
            })
        })
        .collect()
}

/// Prints Table 2.
pub fn print(rows: &[BalanceRow]) {
    println!("\nLoad balance (MMS Table 2), 4 slaves, Sjeng-like clients:");
    println!(
        "  {:<22} {:>10} {:>22} {:>16} {:>6}",
        "policy", "overloaded", "refused of requests", "out of memory", "moves"
    );
    for r in rows {
        let policy = match (r.low_permille, r.high_permille) {
            (Some(low), Some(high)) => {
                format!("watermark {}%/{}%", low / 10, high / 10)
            }
            _ => "round-robin".to_string(),
        };
        println!(
            "  {:<22} {:>9.2}% {:>6} of {:>4} ({:>4.1}%) {:>6} of {:>6} {:>6}",
            policy,
            r.overloaded_ratio * 100.0,
            r.refused,
            r.requests,
            r.refused_ratio * 100.0,
            r.out_of_memory,
            r.attempts,
            r.moves
        );
    }
}
