//! MCS scheduling: the limits and flags of `SchedControl_ConfigureFlags`.
//!
//! Time in the API is in microseconds; the kernel keeps it in timer ticks.

/// The smallest budget and period: twice the kernel's worst-case cost of
/// switching to a thread, so a refill always leaves time to run.
pub const MIN_BUDGET_US: u64 = 20;
/// The largest period (and budget): one hour.
pub const MAX_PERIOD_US: u64 = 3_600_000_000;
/// Refills a scheduling context may have beyond its first two.
pub const MAX_EXTRA_REFILLS: u64 = 14;
/// The round-robin timeslice of the root task's scheduling context (budget = period).
pub const ROOT_TIMESLICE_US: u64 = 5_000;

/// Flags of `SchedControl_ConfigureFlags`.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SchedContextFlags(u64);

impl SchedContextFlags {
    /// No flags.
    pub const NONE: Self = SchedContextFlags(0);
    /// Sporadic: the budget is kept over any window of one period as a
    /// sporadic server (seL4's `seL4_SchedContext_Sporadic`).
    pub const SPORADIC: Self = SchedContextFlags(1);

    /// From the raw word; `None` when it has a bit no flag names.
    pub const fn from_bits(bits: u64) -> Option<Self> {
        if bits & !Self::SPORADIC.0 != 0 {
            None
        } else {
            Some(SchedContextFlags(bits))
        }
    }

    /// The raw word.
    pub const fn bits(self) -> u64 {
        self.0
    }

    /// Whether every flag of `other` is set.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_flag_bits_are_rejected() {
        assert_eq!(
            SchedContextFlags::from_bits(1),
            Some(SchedContextFlags::SPORADIC)
        );
        assert_eq!(
            SchedContextFlags::from_bits(0),
            Some(SchedContextFlags::NONE)
        );
        assert_eq!(SchedContextFlags::from_bits(2), None);
        assert!(SchedContextFlags::SPORADIC.contains(SchedContextFlags::NONE));
    }
}
