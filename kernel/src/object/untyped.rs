//! Untyped invocations: decoding `Untyped_Retype`'s arguments (seL4's order:
//! type, size bits, node index, node depth, node offset, count; the root CNode
//! as extra cap 0) and performing it with the capability core.

use crate::object::hooks::KernelHooks;
use crate::object::memory::KernelMemory;
use crate::preemption::KernelPreempt;
use crate::syscall::invocation::{Message, Outcome};
use keel_abi::{CapType, Error, Label, LookupFailure, ObjectType};
use keel_kernel_core::cspace::{lookup_slot, read_cap, LookupError};
use keel_kernel_core::error::SyscallError;

/// Decodes and performs an invocation of the Untyped in `slot`.
///
/// # Errors
/// seL4's Untyped errors, with details.
pub fn invoke(label: Label, msg: &Message, slot: u64) -> Result<Outcome, SyscallError> {
    if label != Label::UntypedRetype {
        return Err(Error::IllegalOperation.into());
    }
    let mut mem = KernelMemory;
    let ty = ObjectType::try_from(msg.mr(0)?).map_err(|_| SyscallError::invalid_argument(0))?;
    let (size_bits, node_index, node_depth) = (msg.mr(1)?, msg.mr(2)?, msg.mr(3)?);
    let (offset, count) = (msg.mr(4)?, msg.mr(5)?);
    let (_, root) = msg.extra_cap(0)?;
    // Depth 0 names the root CNode itself (seL4).
    let dest_cnode = match node_depth {
        0 => root,
        _ => read_cap(&mem, lookup_slot(&mem, root, node_index, node_depth)?),
    };
    if dest_cnode.kind() != CapType::CNode {
        let e = LookupError::new(LookupFailure::MissingCapability, node_depth.min(64) as u8);
        return Err(SyscallError::failed_lookup(false, e));
    }
    keel_kernel_core::untyped::retype(
        &mut mem,
        slot,
        ty,
        size_bits,
        dest_cnode,
        offset,
        count,
        &mut KernelHooks,
        &mut KernelPreempt,
    )
    .map(Outcome::from)
}
