//! CNode invocations: decoding the arguments of Copy, Mint, Move, Mutate,
//! Rotate, Delete, Revoke and CancelBadgedSends (seL4's argument order), then
//! performing them with the capability core. Slot storage, lookup and the
//! derivation tree are the core's (`keel_kernel_core::cspace`).

use crate::object::handle::{EndpointRef, Thread};
use crate::object::hooks::KernelHooks;
use crate::object::memory::KernelMemory;
use crate::preemption::KernelPreempt;
use crate::syscall::invocation::{Message, Outcome};
use keel_abi::{CapRights, Error, Label};
use keel_kernel_core::cap::Cap;
use keel_kernel_core::cspace::{self, lookup_slot, lookup_source_slot, read_cap};
use keel_kernel_core::error::SyscallError;

/// log2 of the number of slots in the root task's CNode.
pub const ROOT_CNODE_BITS: u8 = 13;

/// Decodes and performs an invocation of the CNode `cnode`.
///
/// # Errors
/// seL4's CNode errors, with details.
pub fn invoke(
    label: Label,
    msg: &Message,
    cnode: Cap,
    caller: Thread,
) -> Result<Outcome, SyscallError> {
    const CNODE_LABELS: [Label; 8] = [
        Label::CNodeRevoke,
        Label::CNodeDelete,
        Label::CNodeCancelBadgedSends,
        Label::CNodeCopy,
        Label::CNodeMint,
        Label::CNodeMove,
        Label::CNodeMutate,
        Label::CNodeRotate,
    ];
    if !CNODE_LABELS.contains(&label) {
        return Err(Error::IllegalOperation.into());
    }
    let mut mem = KernelMemory;
    let dest = lookup_slot(&mem, cnode, msg.mr(0)?, msg.mr(1)?)?;
    let source = |index: usize, root_cap: usize| -> Result<u64, SyscallError> {
        let (_, root) = msg.extra_cap(root_cap)?;
        lookup_source_slot(&mem, root, msg.mr(index)?, msg.mr(index + 1)?)
    };
    match label {
        Label::CNodeCopy => {
            let (src, rights) = (source(2, 0)?, CapRights::from_bits(msg.mr(4)?));
            cspace::copy(&mut mem, src, dest, rights).map(|()| Outcome::Done([0, 0]))
        }
        Label::CNodeMint => {
            let (src, rights, data) = (source(2, 0)?, CapRights::from_bits(msg.mr(4)?), msg.mr(5)?);
            cspace::mint(&mut mem, src, dest, rights, data).map(|()| Outcome::Done([0, 0]))
        }
        Label::CNodeMove => {
            let src = source(2, 0)?;
            cspace::move_cap(&mut mem, src, dest).map(|()| Outcome::Done([0, 0]))
        }
        Label::CNodeMutate => {
            let (src, data) = (source(2, 0)?, msg.mr(4)?);
            cspace::mutate(&mut mem, src, dest, data).map(|()| Outcome::Done([0, 0]))
        }
        Label::CNodeRotate => {
            // seL4's order: dest index, depth, badge; pivot index, depth,
            // badge; src index, depth. Each badge is for the cap moved there.
            let (dest_data, pivot_data) = (msg.mr(2)?, msg.mr(5)?);
            let pivot = source(3, 0)?;
            let src = source(6, 1)?;
            cspace::rotate(&mut mem, dest, pivot, src, pivot_data, dest_data)
                .map(|()| Outcome::Done([0, 0]))
        }
        Label::CNodeDelete => {
            cspace::delete(&mut mem, dest, &mut KernelHooks, &mut KernelPreempt).map(Outcome::from)
        }
        Label::CNodeRevoke => {
            cspace::revoke(&mut mem, dest, &mut KernelHooks, &mut KernelPreempt).map(Outcome::from)
        }
        Label::CNodeCancelBadgedSends => {
            // seL4's hasCancelSendRights: an endpoint cap with every right.
            let cap = read_cap(&mem, dest);
            let ep = EndpointRef::from_cap(&cap).filter(|_| cap.rights().contains(CapRights::ALL));
            let Some(ep) = ep else {
                return Err(Error::IllegalOperation.into());
            };
            Ok(crate::object::endpoint::cancel_badged_sends(ep, cap.badge(), caller).into())
        }
        _ => Err(Error::IllegalOperation.into()),
    }
}
