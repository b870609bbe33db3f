//! Interrupts for user-level drivers on aarch64: an IRQ is a GICv2 interrupt
//! ID (QEMU virt: 0..288). The SGIs (0..16) and the kernel's timer (PPI 27,
//! the virtual timer) are the kernel's; every other PPI and SPI may be given
//! out. `IRQControl_Get` keeps the line's trigger, `IRQControl_GetTrigger`
//! makes an SPI edge-triggered (nonzero) or level-sensitive (0), as seL4's;
//! a PPI's trigger is fixed.

use super::{gic, timer};
use crate::arch::Interrupts;
use crate::object::irq::IrqRequest;
use crate::syscall::invocation::Message;
use keel_abi::{Error, Label};
use keel_kernel_core::error::SyscallError;

/// The first interrupt ID that is not a software-generated one.
const FIRST_PPI: u64 = 16;

/// The GIC's interrupt lines.
pub struct InterruptController;

impl Interrupts for InterruptController {
    /// The trigger to set (edge when true), or none to keep the line's.
    type Route = Option<bool>;
    const MAX_LINES: usize = 288;

    fn lines() -> u64 {
        u64::from(gic::lines()).min(Self::MAX_LINES as u64)
    }

    fn reserved(irq: u64) -> bool {
        irq < FIRST_PPI || irq == u64::from(timer::TIMER_IRQ)
    }

    /// `IrqControlGet` (MR0 the IRQ, MR1 index, MR2 depth) and
    /// `IrqControlGetTrigger` (MR0 the IRQ, MR1 the trigger, MR2 index, MR3
    /// depth); extra cap 0 the destination's root.
    fn decode_get(label: Label, msg: &Message) -> Result<IrqRequest<Option<bool>>, SyscallError> {
        let (irq, route, at) = match label {
            Label::IrqControlGet => (msg.mr(0)?, None, 1),
            Label::IrqControlGetTrigger => (msg.mr(0)?, Some(msg.mr(1)? != 0), 2),
            _ => return Err(Error::IllegalOperation.into()),
        };
        let (index, depth) = (msg.mr(at)?, msg.mr(at + 1)?);
        msg.extra_cap(0)?;
        Ok(IrqRequest {
            irq,
            index,
            depth,
            route,
        })
    }

    fn route(irq: u64, route: Option<bool>) {
        if let Some(edge) = route {
            gic::set_edge_triggered(irq as u32, edge);
        }
    }

    fn mask(irq: u64) {
        gic::disable(irq as u32);
    }

    fn unmask(irq: u64) {
        gic::enable(irq as u32);
    }

    fn release(irq: u64) {
        gic::disable(irq as u32);
        gic::clear_pending(irq as u32);
    }
}
