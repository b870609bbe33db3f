//! Conversions between a hardware counter's ticks and nanoseconds, exact
//! for any frequency below 2^64 Hz and any count: the products are taken in
//! 128 bits and rounded down.

/// Nanoseconds in a second.
pub const NS_PER_SECOND: u64 = 1_000_000_000;

/// `ticks` of a counter at `hz`, in nanoseconds (rounded down; saturating
/// at `u64::MAX`). A counter of 0 Hz never advances: 0.
pub fn ticks_to_ns(ticks: u64, hz: u64) -> u64 {
    if hz == 0 {
        return 0;
    }
    let ns = u128::from(ticks) * u128::from(NS_PER_SECOND) / u128::from(hz);
    u64::try_from(ns).unwrap_or(u64::MAX)
}

/// `ns` nanoseconds in ticks of a counter at `hz` (rounded up, so a
/// deadline is never programmed early; saturating at `u64::MAX`).
pub fn ns_to_ticks(ns: u64, hz: u64) -> u64 {
    let ticks = (u128::from(ns) * u128::from(hz)).div_ceil(u128::from(NS_PER_SECOND));
    u64::try_from(ticks).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_frequencies() {
        // The PIT, the aarch64 virt generic timer, a 1 GHz clock.
        assert_eq!(ticks_to_ns(1_193_182, 1_193_182), NS_PER_SECOND);
        assert_eq!(ns_to_ticks(1_000, 62_500_000), 63);
        assert_eq!(ticks_to_ns(62_500_000, 62_500_000), NS_PER_SECOND);
        assert_eq!(ns_to_ticks(5, 1_000_000_000), 5);
        assert_eq!(ticks_to_ns(u64::MAX, 1), u64::MAX);
        assert_eq!(ticks_to_ns(7, 0), 0);
    }

    proptest! {
        #[test]
        fn a_deadline_in_ticks_is_never_early(ns in 0u64..1 << 50, hz in 1u64..1 << 33) {
            let ticks = ns_to_ticks(ns, hz);
            prop_assert!(ticks_to_ns(ticks, hz) >= ns || ticks == u64::MAX);
            // And at most one tick late.
            if ticks > 0 {
                prop_assert!(ticks_to_ns(ticks - 1, hz) < ns);
            }
        }
    }
}
