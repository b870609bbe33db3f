//! Interrupts for user-level drivers on x86_64, in seL4's terms: IRQ `n` is
//! delivered on vector `0x30 + n`, so IRQ 0 is the local APIC timer's vector
//! (the kernel's, never given out) and IRQs run up to 206 (vector 0xfe; 0xff
//! is the spurious vector). A line is an I/O APIC pin routed to an IRQ by
//! `IRQControl_GetIOAPIC(index, depth, ioapic, pin, level, polarity, vector)`,
//! `vector` being the IRQ; the plain `IRQControl_Get` is `IllegalOperation`,
//! as in seL4 with an I/O APIC. MSIs (`GetMSI`) are not offered.

use super::{apic, ioapic};
use crate::arch::Interrupts;
use crate::kernel_cell::KernelCell;
use crate::object::irq::IrqRequest;
use crate::syscall::invocation::Message;
use keel_abi::{Error, Label};
use keel_kernel_core::error::SyscallError;

/// The vector of IRQ 0.
const FIRST_VECTOR: u8 = apic::TIMER_VECTOR;
/// IRQ numbers: vectors `FIRST_VECTOR..SPURIOUS_VECTOR`.
const LINES: usize = (apic::SPURIOUS_VECTOR - FIRST_VECTOR) as usize;
/// No pin routed to an IRQ.
const NO_PIN: u32 = u32::MAX;

/// The I/O APIC pin routed to each IRQ ([`NO_PIN`]: none).
static PIN: [KernelCell<u32>; LINES] = [const { KernelCell::new(NO_PIN) }; LINES];

/// An I/O APIC routing: the pin, level-triggered, active low.
pub struct IoApicRoute {
    pin: u32,
    level: bool,
    active_low: bool,
}

/// The x86_64 interrupt controller: the I/O APIC's pins, delivered through
/// the local APIC.
pub struct InterruptController;

/// The IRQ of `vector`, if it is one a driver may handle.
pub fn irq_of_vector(vector: u8) -> Option<u64> {
    (vector > FIRST_VECTOR && vector < apic::SPURIOUS_VECTOR)
        .then(|| u64::from(vector - FIRST_VECTOR))
}

fn pin_of(irq: u64) -> Option<u32> {
    PIN.get(irq as usize)
        .map(KernelCell::read)
        .filter(|&p| p != NO_PIN)
}

fn flag(value: u64) -> Result<bool, SyscallError> {
    match value {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(SyscallError::range(0, 1)),
    }
}

impl Interrupts for InterruptController {
    type Route = IoApicRoute;
    const MAX_LINES: usize = LINES;

    fn lines() -> u64 {
        LINES as u64
    }

    fn reserved(irq: u64) -> bool {
        irq == 0
    }

    /// `IrqControlGetIoApic`: MR0 index, MR1 depth, MR2 the I/O APIC (0, the
    /// only one), MR3 the pin, MR4 level (1) or edge (0), MR5 active low (1)
    /// or high (0), MR6 the IRQ; `RangeError` for an argument outside those,
    /// `DeleteFirst` for a pin routed already.
    fn decode_get(label: Label, msg: &Message) -> Result<IrqRequest<IoApicRoute>, SyscallError> {
        if label != Label::IrqControlGetIoApic {
            return Err(Error::IllegalOperation.into());
        }
        let (index, depth, apic, pin) = (msg.mr(0)?, msg.mr(1)?, msg.mr(2)?, msg.mr(3)?);
        let (level, polarity, irq) = (msg.mr(4)?, msg.mr(5)?, msg.mr(6)?);
        msg.extra_cap(0)?;
        if apic != 0 {
            return Err(SyscallError::range(0, 0));
        }
        let pins = ioapic::pins();
        if pin >= u64::from(pins) {
            return Err(SyscallError::range(0, u64::from(pins) - 1));
        }
        let pin = pin as u32;
        let (level, active_low) = (flag(level)?, flag(polarity)?);
        if PIN.iter().any(|p| p.read() == pin) {
            return Err(Error::DeleteFirst.into());
        }
        Ok(IrqRequest {
            irq,
            index,
            depth,
            route: IoApicRoute {
                pin,
                level,
                active_low,
            },
        })
    }

    fn route(irq: u64, route: IoApicRoute) {
        let vector = FIRST_VECTOR + irq as u8;
        ioapic::route(route.pin, vector, route.level, route.active_low);
        PIN[irq as usize].write(route.pin);
    }

    fn mask(irq: u64) {
        if let Some(pin) = pin_of(irq) {
            ioapic::set_masked(pin, true);
        }
    }

    fn unmask(irq: u64) {
        if let Some(pin) = pin_of(irq) {
            ioapic::set_masked(pin, false);
        }
    }

    fn release(irq: u64) {
        if let Some(pin) = pin_of(irq) {
            ioapic::clear(pin);
            PIN[irq as usize].write(NO_PIN);
        }
    }
}
