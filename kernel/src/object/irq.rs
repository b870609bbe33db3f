//! IRQControl and IRQHandler: interrupts delivered to user-level drivers as
//! notification signals, with seL4's rules. `IRQControl_Get` (and the
//! architecture's forms, decoded by `arch::InterruptController`) makes the
//! one IRQHandler cap of a line, as a child of the IRQControl cap; a line
//! with a handler, or one the kernel keeps (its timer), is `RevokeFirst`.
//! An interrupt masks its line and signals the notification set with
//! `IRQHandler_SetNotification` with that cap's badge; the line stays masked
//! until `IRQHandler_Ack`. Deleting the last cap to a handler masks the line
//! and frees it for another Get; deleting a notification stops every line
//! that signalled it.
//!
//! The kernel keeps, per line, whether a handler exists and the notification
//! (object and badge) it signals: seL4 keeps a copy of the notification cap
//! in a kernel CNode instead; Keel forgets the notification when its last cap
//! goes, where seL4 keeps the object alive and signals it unreachable.

use crate::arch::{InterruptController, Interrupts};
use crate::kernel_cell::KernelCell;
use crate::object::memory::KernelMemory;
use crate::syscall::invocation::{Message, Outcome};
use keel_abi::{CapRights, CapType, Error, Label};
use keel_kernel_core::cap::Cap;
use keel_kernel_core::cspace::{insert_new, lookup_slot, read_cap};
use keel_kernel_core::error::SyscallError;
use keel_kernel_core::notification::Notification;

const LINES: usize = InterruptController::MAX_LINES;

/// Whether each line has a handler cap.
static ISSUED: [KernelCell<bool>; LINES] = [const { KernelCell::new(false) }; LINES];
/// Whether each line is unmasked (it has a handler, and no interrupt since
/// the last Ack).
static ENABLED: [KernelCell<bool>; LINES] = [const { KernelCell::new(false) }; LINES];
/// The notification each line signals and the badge: `(object, badge)`,
/// object 0 for none.
static TARGET: [KernelCell<(u64, u64)>; LINES] = [const { KernelCell::new((0, 0)) }; LINES];

/// An IRQControl request, decoded by the architecture: the line, the
/// destination slot (index and depth under extra cap 0) and how to route it.
pub struct IrqRequest<R> {
    /// The IRQ number.
    pub irq: u64,
    /// The destination slot's index under extra cap 0.
    pub index: u64,
    /// Its depth.
    pub depth: u64,
    /// The architecture's routing of the line.
    pub route: R,
}

/// The empty slot at `index`/`depth` under the CNode in extra cap `root_cap`
/// (seL4's `lookupTargetSlot` then `ensureEmptySlot`).
///
/// # Errors
/// `TruncatedMessage` without the cap; `FailedLookup`/`RangeError` for the
/// slot; `DeleteFirst` when it is full.
pub fn empty_slot(
    msg: &Message,
    root_cap: usize,
    index: u64,
    depth: u64,
) -> Result<u64, SyscallError> {
    let (_, root) = msg.extra_cap(root_cap)?;
    let slot = lookup_slot(&KernelMemory, root, index, depth)?;
    if !read_cap(&KernelMemory, slot).is_null() {
        return Err(Error::DeleteFirst.into());
    }
    Ok(slot)
}

/// Decodes and performs an IRQControl invocation of the cap in `control_slot`.
///
/// # Errors
/// The architecture's decoding errors (`IllegalOperation` for a form it
/// does not have, `TruncatedMessage`, `RangeError` for its arguments);
/// `RangeError` with the machine's IRQ numbers for one outside them;
/// `RevokeFirst` for a line with a handler or one the kernel keeps; then the
/// destination slot's errors.
pub fn invoke_control(
    label: Label,
    msg: &Message,
    control_slot: u64,
) -> Result<Outcome, SyscallError> {
    let request = InterruptController::decode_get(label, msg)?;
    let irq = request.irq;
    let lines = InterruptController::lines();
    if irq >= lines {
        return Err(SyscallError::range(0, lines - 1));
    }
    if ISSUED[irq as usize].read() || InterruptController::reserved(irq) {
        return Err(Error::RevokeFirst.into());
    }
    let dest = empty_slot(msg, 0, request.index, request.depth)?;
    InterruptController::route(irq, request.route);
    ISSUED[irq as usize].write(true);
    set_target(irq, (0, 0));
    // As in seL4, a line with a handler starts unmasked: its first
    // interrupt is delivered (or, with no notification set, dropped and
    // the line masked until Ack).
    set_enabled(irq, true);
    insert_new(&mut KernelMemory, control_slot, dest, Cap::irq_handler(irq));
    Ok(Outcome::Done([0, 0]))
}

/// Decodes and performs an IRQHandler invocation of `cap`.
///
/// # Errors
/// `IllegalOperation` for a label that is not an IRQHandler's;
/// `TruncatedMessage` or `InvalidCapability(1)` for SetNotification without
/// a notification cap that may signal.
pub fn invoke_handler(label: Label, msg: &Message, cap: Cap) -> Result<Outcome, SyscallError> {
    let irq = cap.word1();
    match label {
        Label::IrqHandlerAck => set_enabled(irq, true),
        Label::IrqHandlerSetNotification => {
            let (_, ntfn) = msg.extra_cap(0)?;
            if ntfn.kind() != CapType::Notification || !ntfn.rights().contains(CapRights::WRITE) {
                return Err(SyscallError::invalid_capability(1));
            }
            set_target(irq, (ntfn.paddr(), ntfn.badge()));
        }
        Label::IrqHandlerClear => set_target(irq, (0, 0)),
        _ => return Err(Error::IllegalOperation.into()),
    }
    Ok(Outcome::Done([0, 0]))
}

/// An interrupt on `irq` arrived (the architecture acknowledges and ends it
/// at the controller around this): the line is masked until its handler's
/// Ack, and its notification, if any, is signalled. A line without a handler
/// (none can be unmasked, so only a stale request) is masked and dropped.
pub fn interrupt(irq: u64) {
    set_enabled(irq, false);
    let Some(target) = TARGET.get(irq as usize) else {
        return;
    };
    let (ntfn, badge) = target.read();
    if ntfn != 0 {
        crate::object::notification::signal(ntfn, badge);
    }
}

/// The last cap to `irq`'s handler is gone: the line is masked, its routing
/// undone, and it may be given out again.
pub fn finalise(irq: u64) {
    InterruptController::release(irq);
    let i = irq as usize;
    if let (Some(issued), Some(enabled)) = (ISSUED.get(i), ENABLED.get(i)) {
        issued.write(false);
        enabled.write(false);
        set_target(irq, (0, 0));
    }
}

/// Makes `irq` (a line below `InterruptController::lines()`) signal
/// `target` (`(object, badge)`, object 0 for none), keeping each
/// notification's count of the lines that signal it.
fn set_target(irq: u64, target: (u64, u64)) {
    let Some(cell) = TARGET.get(irq as usize) else {
        return;
    };
    let (old, _) = cell.read();
    if old != 0 {
        Notification::at(old).count_irq_line(&mut KernelMemory, -1);
    }
    if target.0 != 0 {
        Notification::at(target.0).count_irq_line(&mut KernelMemory, 1);
    }
    cell.write(target);
}

/// Masks or unmasks `irq` (a line below `InterruptController::lines()`).
fn set_enabled(irq: u64, enabled: bool) {
    if let Some(state) = ENABLED.get(irq as usize) {
        state.write(enabled);
        if enabled {
            InterruptController::unmask(irq);
        } else {
            InterruptController::mask(irq);
        }
    }
}

/// True when some line is unmasked and signals a notification: an
/// interrupt may yet wake a thread.
pub fn may_signal() -> bool {
    ENABLED
        .iter()
        .zip(&TARGET)
        .any(|(enabled, target)| enabled.read() && target.read().0 != 0)
}

/// The notification at `ntfn` is being destroyed: no line signals it any more.
/// Only a notification some line signals is looked for.
pub fn notification_deleted(ntfn: u64) {
    if Notification::at(ntfn).irq_lines(&KernelMemory) == 0 {
        return;
    }
    for irq in 0..LINES as u64 {
        if TARGET[irq as usize].read().0 == ntfn {
            set_target(irq, (0, 0));
        }
    }
}
