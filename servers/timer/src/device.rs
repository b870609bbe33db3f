//! The hardware timer the server owns, one per architecture, both read as
//! a clock of nanoseconds since the server started and armed one-shot for
//! the earliest deadline:
//!
//! - x86_64, the 8254 PIT through IOPort caps: channel 2 (gated through
//!   port 0x61, no interrupt) runs free as the clock, 65,536 ticks of
//!   1,193,182 Hz per lap, latched and read, never reprogrammed, so it
//!   never drifts; channel 0 counts down once (mode 0) to each deadline and
//!   interrupts through I/O APIC pin 2. Channel 0 is armed at least every
//!   [`PIT_MAX_ARM`] ticks, half a lap of channel 2, so every lap is seen.
//! - aarch64, the EL1 physical timer (PPI 30), which the kernel leaves to
//!   user level: the system counter (CNTPCT_EL0 at CNTFRQ_EL0) is the clock
//!   and the timer's compare value (CNTP_CVAL_EL0) the deadline, both
//!   absolute, so nothing drifts.
//!
//! The kernel keeps the local APIC timer (x86_64) and the EL1 virtual timer
//! (aarch64) for its own budgets; these are the timers it leaves free.

use core::cell::Cell;
use keel_sys::arch::{physical_timer_deadline, physical_timer_stop, system_counter};
use keel_sys::cap::IoPort;
use keel_sys::{Cap, InvocationError};
use keel_timer_core::clock::{ns_to_ticks, ticks_to_ns};

/// The PIT's input clock, in Hz.
pub const PIT_HZ: u64 = 1_193_182;
/// The most ticks channel 0 is armed for: half a lap of channel 2.
pub const PIT_MAX_ARM: u64 = 0x8000;
/// The PIT's ports: channel 0, channel 2, the command port.
const CHANNEL0: u16 = 0x40;
const CHANNEL2: u16 = 0x42;
const COMMAND: u16 = 0x43;
/// Channel 0, low then high byte, mode 0 (one interrupt at terminal count).
const CHANNEL0_ONE_SHOT: u8 = 0x30;
/// Channel 2, low then high byte, mode 2 (rate generator: counts down and
/// reloads forever).
const CHANNEL2_FREE_RUN: u8 = 0xb4;
/// Latches channel 2's count for reading.
const CHANNEL2_LATCH: u8 = 0x80;
/// Port 0x61: bit 0 gates channel 2, bit 1 drives the speaker.
const GATE2: u8 = 1 << 0;
const SPEAKER: u8 = 1 << 1;

/// The server's timer.
pub enum Device {
    /// The x86_64 PIT.
    Pit(Pit),
    /// The aarch64 EL1 physical timer.
    Physical {
        /// The counter at start.
        start: u64,
        /// Its frequency.
        hz: u64,
    },
}

/// The PIT's state: its ports, and the clock kept from channel 2.
pub struct Pit {
    ports: Cap<IoPort>,
    /// Channel 2's count at the last reading.
    last: Cell<u16>,
    /// Ticks since start, at the last reading.
    ticks: Cell<u64>,
}

impl Device {
    /// The PIT through `ports` (0x40..=0x43) and `gate` (0x61): starts
    /// channel 2 running free and stops channel 0.
    ///
    /// # Errors
    /// A port the caps refuse.
    pub fn pit(ports: Cap<IoPort>, gate: Cap<IoPort>) -> Result<Device, InvocationError> {
        let g = gate.ioport_in8(0x61)?;
        gate.ioport_out8(0x61, (g & !SPEAKER) | GATE2)?;
        ports.ioport_out8(COMMAND, CHANNEL2_FREE_RUN)?;
        // A count of 0 is 65,536: the longest lap.
        ports.ioport_out8(CHANNEL2, 0)?;
        ports.ioport_out8(CHANNEL2, 0)?;
        ports.ioport_out8(COMMAND, CHANNEL0_ONE_SHOT)?;
        let pit = Pit {
            ports,
            last: Cell::new(0),
            ticks: Cell::new(0),
        };
        pit.last.set(pit.count()?);
        Ok(Device::Pit(pit))
    }

    /// The EL1 physical timer, stopped; `None` where there is none.
    pub fn physical() -> Option<Device> {
        let (start, hz) = system_counter()?;
        physical_timer_stop();
        Some(Device::Physical { start, hz })
    }

    /// Nanoseconds since the device was set up.
    pub fn now_ns(&self) -> u64 {
        match self {
            Device::Pit(pit) => ticks_to_ns(pit.ticks(), PIT_HZ),
            Device::Physical { start, hz } => {
                let (count, _) = system_counter().unwrap_or((*start, *hz));
                ticks_to_ns(count.saturating_sub(*start), *hz)
            }
        }
    }

    /// Interrupts at `deadline_ns` (at once if it is past), or not at all
    /// for `None` (the PIT still interrupts within half a lap, to keep its
    /// clock).
    pub fn arm(&self, deadline_ns: Option<u64>) {
        match self {
            Device::Pit(pit) => {
                let now = pit.ticks();
                let due =
                    deadline_ns.map_or(PIT_MAX_ARM, |d| ns_to_ticks(d, PIT_HZ).saturating_sub(now));
                pit.one_shot(due.clamp(1, PIT_MAX_ARM));
            }
            Device::Physical { start, hz } => match deadline_ns {
                Some(d) => {
                    physical_timer_deadline(start.saturating_add(ns_to_ticks(d, *hz)));
                }
                None => {
                    physical_timer_stop();
                }
            },
        }
    }
}

impl Pit {
    /// Channel 2's count, latched.
    fn count(&self) -> Result<u16, InvocationError> {
        self.ports.ioport_out8(COMMAND, CHANNEL2_LATCH)?;
        let low = self.ports.ioport_in8(CHANNEL2)?;
        let high = self.ports.ioport_in8(CHANNEL2)?;
        Ok(u16::from_le_bytes([low, high]))
    }

    /// Ticks since start: the last reading plus how far channel 2 counted
    /// down since (less than a lap, as channel 0 interrupts within half a
    /// lap). A port the cap refuses (it cannot, the ports are the cap's)
    /// leaves the clock where it was.
    fn ticks(&self) -> u64 {
        if let Ok(count) = self.count() {
            let counted = self.last.get().wrapping_sub(count);
            self.last.set(count);
            self.ticks.set(self.ticks.get() + u64::from(counted));
        }
        self.ticks.get()
    }

    /// Channel 0 interrupts once, `ticks` (1..=65535) from now.
    fn one_shot(&self, ticks: u64) {
        let [low, high] = (ticks as u16).to_le_bytes();
        // Writing the mode stops the count; the count starts when loaded.
        let _ = self.ports.ioport_out8(COMMAND, CHANNEL0_ONE_SHOT);
        let _ = self.ports.ioport_out8(CHANNEL0, low);
        let _ = self.ports.ioport_out8(CHANNEL0, high);
    }
}
