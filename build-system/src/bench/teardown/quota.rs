//! The quota charge's share of an allocation. Each round of the app is one
//! `alloc_object` round trip through the process server, charged as every
//! allocation is (`quota-alloc-charged`), and the charge alone, the same
//! calls on the same table (`quota-charge`); the uncharged allocation is
//! the first less the second, and the overhead the charge over that. The
//! summary holds the median of the rounds' overheads.

use serde::Serialize;

use super::median;
use crate::bench::app::Sample;
use crate::bench::Measurement;

/// The round trip's rows.
const CHARGED: &str = "quota-alloc-charged";
/// The charge's rows.
const CHARGE: &str = "quota-charge";

/// The charge against the allocation, over the rounds.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct QuotaOverhead {
    /// Rounds measured.
    pub rounds: usize,
    /// An allocation through the process server, charged: instructions,
    /// median.
    pub charged_median: f64,
    /// The same allocation without the charge: instructions, median.
    pub uncharged_median: f64,
    /// The charge (admission and charge): instructions, median.
    pub charge_median: f64,
    /// The charge over the uncharged allocation, in percent: the median of
    /// the rounds'.
    pub percent_median: f64,
    /// The same, the largest round's.
    pub percent_max: f64,
}

/// The overhead of the `quota-` rows paired by round; `None` without them.
pub fn overhead(samples: &[Sample]) -> Option<QuotaOverhead> {
    let rounds: Vec<(u64, u64)> = super::paired(samples, CHARGED, CHARGE)
        .into_iter()
        .map(|(total, charge)| (total, charge.min(total)))
        .collect();
    if rounds.is_empty() {
        return None;
    }
    let percents: Vec<f64> = rounds
        .iter()
        .map(|&(total, charge)| 100.0 * charge as f64 / (total - charge).max(1) as f64)
        .collect();
    let column = |f: fn(&(u64, u64)) -> u64| median(&rounds.iter().map(f).collect::<Vec<_>>());
    let spread = Measurement::from_samples("", "%", &percents);
    Some(QuotaOverhead {
        rounds: rounds.len(),
        charged_median: column(|r| r.0),
        uncharged_median: column(|r| r.0 - r.1),
        charge_median: column(|r| r.1),
        percent_median: spread.median,
        percent_max: spread.max,
    })
}

/// Prints the overhead.
pub fn print(arch: &str, q: &QuotaOverhead) {
    println!(
        "\nquota charge on {arch} ({} rounds, instructions, median): allocation through the \
         process server {:.0} charged, {:.0} uncharged; the charge {:.0}; overhead {:.2}% \
         (largest round {:.2}%, target at most 5%)",
        q.rounds,
        q.charged_median,
        q.uncharged_median,
        q.charge_median,
        q.percent_median,
        q.percent_max
    );
}
