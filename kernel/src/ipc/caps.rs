//! Capability transfer in IPC, as seL4 does it: a sender names up to three
//! caps (CPtrs in its IPC buffer); only through an endpoint cap with the grant
//! right are they transferred, and in a reply only when the replier took the
//! Call through such a cap. A badged cap to the very endpoint the message
//! goes through is unwrapped: the receiver gets its badge instead of the cap.
//! Otherwise one cap can be received, into the slot the receiver names in its
//! IPC buffer (receive CNode, index, depth), which must be empty; caps that
//! cannot be delivered end the transfer.

use crate::object::handle::Thread;
use crate::object::memory::KernelMemory;
use keel_abi::invocation::{IpcBuffer, MAX_EXTRA_CAPS};
use keel_abi::CapType;
use keel_kernel_core::cap::Cap;
use keel_kernel_core::cspace::{
    derive, insert_derived, lookup_cap, lookup_slot, read_cap, LookupError,
};
use keel_kernel_core::object_memory::ObjectMemory;

fn buffer_word(buffer: u64, offset: usize, i: usize) -> u64 {
    buffer + offset as u64 + 8 * i as u64
}

/// The empty slot `receiver` named for a received cap, if any.
fn receive_slot(receiver: Thread) -> Option<u64> {
    let mem = KernelMemory;
    let buffer = receiver.ipc_buffer();
    if buffer == 0 {
        return None;
    }
    let field = |offset| mem.read(buffer_word(buffer, offset, 0));
    let cnode_cptr = field(core::mem::offset_of!(IpcBuffer, receive_cnode));
    let index = field(core::mem::offset_of!(IpcBuffer, receive_index));
    let depth = field(core::mem::offset_of!(IpcBuffer, receive_depth));
    let root = receiver.cspace_root();
    let (_, cnode) = lookup_cap(&mem, root, cnode_cptr).ok()?;
    let slot = lookup_slot(&mem, cnode, index, depth).ok()?;
    read_cap(&mem, slot).is_null().then_some(slot)
}

/// The caps a message names, as seL4's `lookupExtraCaps` finds them: slot
/// and cap of each of them, in order.
pub type ExtraCaps = [(u64, Cap); MAX_EXTRA_CAPS];

/// seL4's `lookupExtraCaps`: looks up the `count` caps `sender` names in
/// its IPC buffer (a sender without one names none) into the first entries
/// of `extra` (filled in place: an invocation's message holds them, and
/// each invocation would otherwise copy the array). Returns how many there
/// are.
///
/// # Errors
/// The first CPtr whose lookup fails, with how it failed.
pub fn lookup_extra(
    sender: Thread,
    count: usize,
    extra: &mut ExtraCaps,
) -> Result<usize, (u64, LookupError)> {
    let from = sender.ipc_buffer();
    if from == 0 {
        return Ok(0);
    }
    let count = count.min(MAX_EXTRA_CAPS);
    for (i, found) in extra.iter_mut().enumerate().take(count) {
        *found = named_cap(sender, from, i)?;
    }
    Ok(count)
}

/// Looks up the `i`th cap `sender` names in its IPC buffer at `from`: its
/// slot and the cap in it, or the CPtr and how its lookup failed.
fn named_cap(sender: Thread, from: u64, i: usize) -> Result<(u64, Cap), (u64, LookupError)> {
    let mem = KernelMemory;
    let caps_offset = core::mem::offset_of!(IpcBuffer, caps_or_badges);
    let cptr = mem.read(buffer_word(from, caps_offset, i));
    lookup_cap(&mem, sender.cspace_root(), cptr).map_err(|e| (cptr, e))
}

/// Transfers the `count` caps `sender` names to `receiver` for a message
/// through `endpoint`; returns how many were handled (transferred or
/// unwrapped) and the mask of unwrapped ones. Badges of unwrapped caps are
/// written to the receiver's `caps_or_badges`.
pub fn transfer(
    sender: Thread,
    receiver: Thread,
    endpoint: Option<u64>,
    count: usize,
) -> (usize, u64) {
    if count == 0 {
        return (0, 0);
    }
    let mut mem = KernelMemory;
    let (from, to) = (sender.ipc_buffer(), receiver.ipc_buffer());
    if from == 0 || to == 0 {
        return (0, 0);
    }
    let caps_offset = core::mem::offset_of!(IpcBuffer, caps_or_badges);
    let mut slot = receive_slot(receiver);
    let (mut handled, mut unwrapped) = (0, 0);
    for i in 0..count.min(MAX_EXTRA_CAPS) {
        let Ok((src, cap)) = named_cap(sender, from, i) else {
            break;
        };
        if cap.kind() == CapType::Endpoint && Some(cap.paddr()) == endpoint && cap.badge() != 0 {
            mem.write(buffer_word(to, caps_offset, i), cap.badge());
            unwrapped |= 1 << i;
        } else {
            let Some(dest) = slot.take() else { break };
            let Ok(derived) = derive(&mem, src, cap) else {
                break;
            };
            if derived.is_null() {
                break;
            }
            insert_derived(&mut mem, src, dest, derived);
        }
        handled += 1;
    }
    (handled, unwrapped)
}
