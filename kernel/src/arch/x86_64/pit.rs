//! The 8254 programmable interval timer, used once at boot as the reference
//! clock that the TSC is measured against: channel 2 (the PC speaker's, gated
//! through port 0x61, its output readable there) counts down once. The PIT
//! never interrupts (its 8259 line stays masked); the kernel's timer is the
//! local APIC's (`timer.rs`).

use super::io::{inb, outb, read_tsc};

/// The PIT's input clock, in Hz.
const PIT_HZ: u64 = 1_193_182;
/// Length of the measurement: 10 ms.
const MEASURE_MS: u64 = 10;
const CHANNEL2_DATA: u16 = 0x42;
const COMMAND: u16 = 0x43;
/// Channel 2, low then high byte, mode 0 (interrupt on terminal count), binary.
const CHANNEL2_ONE_SHOT: u8 = 0b1011_0000;
/// NMI status and control: bit 0 gates channel 2, bit 1 drives the speaker,
/// bit 5 reads channel 2's output.
const PORT_61: u16 = 0x61;
const GATE2: u8 = 1 << 0;
const SPEAKER: u8 = 1 << 1;
const OUT2: u8 = 1 << 5;
/// Polls of port 0x61 after which the PIT is taken to be absent (each poll is
/// an I/O access of at least ~100 ns, so this is far beyond the 10 ms).
const MAX_POLLS: u64 = 100_000_000;
/// Measurements tried at most; the first good one is kept.
const ATTEMPTS: u32 = 5;
/// A measurement is good when the TSC readings bracket the PIT's start and
/// end to within 1/GOOD of its length (the bracket is wider when the CPU was
/// away, e.g. a QEMU thread descheduled).
const GOOD: u64 = 2000;

/// Measures the TSC's frequency in Hz over 10 ms of the PIT. Tries up to
/// [`ATTEMPTS`] times and keeps the first good measurement, or else the one
/// with the narrowest bracket.
///
/// # Panics
/// If channel 2 never reaches its terminal count (no PIT).
pub fn tsc_frequency() -> u64 {
    let latch = PIT_HZ * MEASURE_MS / 1000;
    let mut best: Option<(u64, u64)> = None;
    for _ in 0..ATTEMPTS {
        let (elapsed, uncertainty) = measure(latch);
        if best.is_none_or(|(_, u)| uncertainty < u) {
            best = Some((elapsed, uncertainty));
        }
        if uncertainty * GOOD < elapsed {
            break;
        }
    }
    let (elapsed, _) = best.expect("invariant: at least one attempt");
    elapsed * PIT_HZ / latch
}

/// Counts channel 2 down from `latch` once; returns the TSC ticks it took
/// (between the midpoints of the readings around its start and its end) and
/// the width of those two brackets together.
fn measure(latch: u64) -> (u64, u64) {
    // Gate high, speaker off; mode 0 starts counting when the count is loaded
    // and raises OUT2 when it reaches zero.
    outb(PORT_61, (inb(PORT_61) & !SPEAKER) | GATE2);
    outb(COMMAND, CHANNEL2_ONE_SHOT);
    outb(CHANNEL2_DATA, latch as u8);
    let before_start = read_tsc();
    outb(CHANNEL2_DATA, (latch >> 8) as u8);
    let after_start = read_tsc();
    let mut before_end = after_start;
    let mut polls = 0;
    let after_end = loop {
        let out = inb(PORT_61) & OUT2;
        let now = read_tsc();
        if out != 0 {
            break now;
        }
        before_end = now;
        polls += 1;
        assert!(
            polls < MAX_POLLS,
            "KEEL: timer: the PIT (8254 channel 2) did not count down; cannot measure the TSC"
        );
    };
    outb(PORT_61, inb(PORT_61) & !(GATE2 | SPEAKER));
    let start = before_start.midpoint(after_start);
    let end = before_end.midpoint(after_end);
    (
        end - start,
        (after_start - before_start) + (after_end - before_end),
    )
}
