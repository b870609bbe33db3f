//! Invoking kernel objects: `Call` on an object's capability with a label,
//! message registers and extra capabilities, and the typed methods built on it
//! (`Cap<Untyped>::untyped_retype`, `AbsoluteCPtr::copy`, ...), named as in rust-sel4.

use crate::cap::{CNode, Untyped};
use crate::ipc_buffer::with_ipc_buffer;
use crate::{CPtr, Cap, InvocationError};
use keel_abi::invocation::{MAX_EXTRA_CAPS, MAX_MESSAGE_LENGTH, MESSAGE_REGISTERS_IN_REGS};
use keel_abi::{CapRights, Error, Label, MessageInfo, ObjectType, Syscall};

/// Invokes the object behind `cap` with `label`, message registers `mrs` and
/// extra capabilities `caps`; returns the two result words.
///
/// # Errors
/// The kernel's error with its detail words. `InvalidArgument` (no
/// detail) without calling the kernel when the message does not fit (more
/// than 120 words or 3 caps, or more than 4 words or any cap with no IPC
/// buffer).
pub fn invoke(
    cap: CPtr,
    label: Label,
    mrs: &[u64],
    caps: &[CPtr],
) -> Result<[u64; 2], InvocationError> {
    if mrs.len() > MAX_MESSAGE_LENGTH || caps.len() > MAX_EXTRA_CAPS {
        return Err(Error::InvalidArgument.into());
    }
    if mrs.len() > MESSAGE_REGISTERS_IN_REGS || !caps.is_empty() {
        with_ipc_buffer(|buf| {
            for (i, mr) in mrs.iter().enumerate().skip(MESSAGE_REGISTERS_IN_REGS) {
                buf.msg[i] = *mr;
            }
            for (i, c) in caps.iter().enumerate() {
                buf.caps_or_badges[i] = c.bits();
            }
        })
        .ok_or(Error::InvalidArgument)?;
    }
    let info = MessageInfo::new(label as u64, 0, caps.len() as u64, mrs.len() as u64);
    let mr = |i: usize| mrs.get(i).copied().unwrap_or(0);
    let [err, a, b, ..] = crate::arch::syscall(
        Syscall::Call as u64,
        [cap.bits(), info.word(), mr(0), mr(1), mr(2), mr(3)],
    );
    match Error::check(err) {
        Ok(()) => Ok([a, b]),
        Err(e) => Err(InvocationError::new(e, [a, b])),
    }
}

/// A slot named from a CNode: `root`, then `index` resolved to `depth` bits
/// (seL4's "absolute CPtr" for CNode operations).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AbsoluteCPtr {
    /// The CNode the lookup starts in.
    pub root: Cap<CNode>,
    /// The address within it.
    pub index: u64,
    /// How many bits of `index` to resolve.
    pub depth: u64,
}

impl Cap<CNode> {
    /// The slot `index` of this CNode's CSpace, resolved to `depth` bits.
    pub const fn absolute_cptr_with_depth(self, index: u64, depth: u64) -> AbsoluteCPtr {
        AbsoluteCPtr {
            root: self,
            index,
            depth,
        }
    }

    /// The slot `cptr` resolved to the full word (64 bits), as syscalls resolve CPtrs.
    pub const fn absolute_cptr(self, cptr: CPtr) -> AbsoluteCPtr {
        self.absolute_cptr_with_depth(cptr.bits(), 64)
    }
}

impl AbsoluteCPtr {
    fn invoke(&self, label: Label, mrs: &[u64], caps: &[CPtr]) -> Result<(), InvocationError> {
        invoke(self.root.cptr(), label, mrs, caps).map(|_| ())
    }

    /// Copies the cap at `src` here with rights masked by `rights`.
    ///
    /// # Errors
    /// seL4's CNode_Copy errors (`DeleteFirst`, `FailedLookup`, `IllegalOperation`, ...).
    pub fn copy(&self, src: &AbsoluteCPtr, rights: CapRights) -> Result<(), InvocationError> {
        let mrs = [self.index, self.depth, src.index, src.depth, rights.bits()];
        self.invoke(Label::CNodeCopy, &mrs, &[src.root.cptr()])
    }

    /// Copies the cap at `src` here with rights masked and a badge (endpoints,
    /// notifications) or guard (CNodes) set from `badge`.
    ///
    /// # Errors
    /// As for [`AbsoluteCPtr::copy`].
    pub fn mint(
        &self,
        src: &AbsoluteCPtr,
        rights: CapRights,
        badge: u64,
    ) -> Result<(), InvocationError> {
        let mrs = [
            self.index,
            self.depth,
            src.index,
            src.depth,
            rights.bits(),
            badge,
        ];
        self.invoke(Label::CNodeMint, &mrs, &[src.root.cptr()])
    }

    /// Moves the cap at `src` here.
    ///
    /// # Errors
    /// As for [`AbsoluteCPtr::copy`].
    pub fn move_(&self, src: &AbsoluteCPtr) -> Result<(), InvocationError> {
        let mrs = [self.index, self.depth, src.index, src.depth];
        self.invoke(Label::CNodeMove, &mrs, &[src.root.cptr()])
    }

    /// Moves the cap at `src` here, setting its badge or guard from `badge`.
    ///
    /// # Errors
    /// As for [`AbsoluteCPtr::copy`].
    pub fn mutate(&self, src: &AbsoluteCPtr, badge: u64) -> Result<(), InvocationError> {
        let mrs = [self.index, self.depth, src.index, src.depth, badge];
        self.invoke(Label::CNodeMutate, &mrs, &[src.root.cptr()])
    }

    /// Moves `pivot` here (with `dest_badge`) and `src` to `pivot` (with
    /// `pivot_badge`) in one step. `src` may equal `self` (a swap).
    ///
    /// # Errors
    /// As for [`AbsoluteCPtr::copy`]; `IllegalOperation` when `pivot` equals `src` or `self`.
    pub fn rotate(
        &self,
        dest_badge: u64,
        pivot: &AbsoluteCPtr,
        pivot_badge: u64,
        src: &AbsoluteCPtr,
    ) -> Result<(), InvocationError> {
        let mrs = [
            self.index,
            self.depth,
            dest_badge,
            pivot.index,
            pivot.depth,
            pivot_badge,
            src.index,
            src.depth,
        ];
        self.invoke(
            Label::CNodeRotate,
            &mrs,
            &[pivot.root.cptr(), src.root.cptr()],
        )
    }

    /// Deletes the cap in this slot.
    ///
    /// # Errors
    /// `FailedLookup` for a bad address.
    pub fn delete(&self) -> Result<(), InvocationError> {
        self.invoke(Label::CNodeDelete, &[self.index, self.depth], &[])
    }

    /// Deletes every cap derived from the one in this slot.
    ///
    /// # Errors
    /// `FailedLookup` for a bad address.
    pub fn revoke(&self) -> Result<(), InvocationError> {
        self.invoke(Label::CNodeRevoke, &[self.index, self.depth], &[])
    }

    /// Cancels queued sends carrying this endpoint cap's badge.
    ///
    /// # Errors
    /// `IllegalOperation` when the slot holds no endpoint cap with every right
    /// (read, write, grant and grant-reply, as seL4 asks).
    pub fn cancel_badged_sends(&self) -> Result<(), InvocationError> {
        self.invoke(
            Label::CNodeCancelBadgedSends,
            &[self.index, self.depth],
            &[],
        )
    }
}

impl Cap<Untyped> {
    /// Creates `num_objects` objects of type `ty` (with `size_bits` for Untyped,
    /// CNode and SchedContext) and puts caps to them in the CNode at `dst`,
    /// slots `dst_offset..dst_offset + num_objects`.
    ///
    /// # Errors
    /// seL4's Untyped_Retype errors (`NotEnoughMemory`, `DeleteFirst`,
    /// `RangeError`, `FailedLookup`, `InvalidArgument`, ...).
    pub fn untyped_retype(
        self,
        ty: ObjectType,
        size_bits: u64,
        dst: &AbsoluteCPtr,
        dst_offset: u64,
        num_objects: u64,
    ) -> Result<(), InvocationError> {
        let mrs = [
            ty as u64,
            size_bits,
            dst.index,
            dst.depth,
            dst_offset,
            num_objects,
        ];
        invoke(self.cptr(), Label::UntypedRetype, &mrs, &[dst.root.cptr()]).map(|_| ())
    }
}
