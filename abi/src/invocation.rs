//! Invocations: the label and argument layout of a `Call` on a kernel object's
//! capability, the message-info word, capability rights, lookup-failure details
//! and the IPC buffer.
//!
//! An invocation is `Call(cptr, info, mr0..mr3)`: the invoked cap's CPtr in
//! argument 0, a [`MessageInfo`] in argument 1, the first four message
//! registers in arguments 2..5 and the rest in the IPC buffer's `msg`; extra
//! caps are CPtrs in the IPC buffer's `caps_or_badges`. The kernel answers with
//! the usual three result words: the error code (0 for success) and two words
//! of detail (see [`ErrorDetail`]).

use crate::numbered::numbered_enum;

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Message registers passed in machine registers.
pub const MESSAGE_REGISTERS_IN_REGS: usize = 4;
/// Most message registers in one message.
pub const MAX_MESSAGE_LENGTH: usize = 120;
/// Most extra capabilities in one message.
pub const MAX_EXTRA_CAPS: usize = 3;

numbered_enum! {
    /// An invocation label: which operation on which object type.
    pub enum Label: u64 {
        /// Create objects from an Untyped.
        UntypedRetype = 1,
        /// Delete every capability derived from the one in a slot.
        CNodeRevoke = 2,
        /// Delete the capability in a slot.
        CNodeDelete = 3,
        /// Cancel queued sends with the badge of an endpoint cap that has
        /// every right.
        CNodeCancelBadgedSends = 4,
        /// Copy a capability, keeping or reducing rights.
        CNodeCopy = 5,
        /// Copy a capability with new rights and a badge or guard.
        CNodeMint = 6,
        /// Move a capability.
        CNodeMove = 7,
        /// Move a capability, setting a badge or guard.
        CNodeMutate = 8,
        /// Move two capabilities in one step (three slots), in seL4's word
        /// order: MR0-2 dest index, depth, badge; MR3-5 pivot index, depth,
        /// badge; MR6-7 src index, depth; extra caps 0 and 1 the pivot's and
        /// the source's root CNodes.
        CNodeRotate = 9,
        /// Read a thread's registers into the caller's IPC buffer.
        TcbReadRegisters = 20,
        /// Write a thread's registers from the message.
        TcbWriteRegisters = 21,
        /// Copy registers from another thread.
        TcbCopyRegisters = 22,
        /// Set fault endpoint, CSpace, VSpace and IPC buffer in one call.
        TcbConfigure = 23,
        /// Set the priority.
        TcbSetPriority = 24,
        /// Set the maximum controlled priority.
        TcbSetMCPriority = 25,
        /// Set both priorities.
        TcbSetSchedParams = 26,
        /// Set the IPC buffer.
        TcbSetIPCBuffer = 27,
        /// Set fault endpoint, CSpace and VSpace.
        TcbSetSpace = 28,
        /// Stop the thread.
        TcbSuspend = 29,
        /// Make the thread runnable.
        TcbResume = 30,
        /// Bind a notification to the thread.
        TcbBindNotification = 31,
        /// Unbind the thread's notification.
        TcbUnbindNotification = 32,
        /// Set the thread pointer (x86_64 FS base, aarch64 TPIDR_EL0).
        TcbSetTLSBase = 33,
        /// Set the timeout endpoint (MCS): extra cap 0, or none to clear it.
        TcbSetTimeoutEndpoint = 34,
        /// Map a frame: MR0 vaddr, MR1 rights, MR2 attributes; extra cap 0 the
        /// VSpace. Again on a mapped cap, at the same place: remap.
        FrameMap = 60,
        /// Unmap a frame (nothing to do when it is not mapped).
        FrameUnmap = 61,
        /// The frame's physical address, in result word 0.
        FrameGetAddress = 62,
        /// Map a level-3 table (x86_64 PT): MR0 vaddr, MR1 attributes; extra cap 0 the VSpace.
        PageTableMap = 63,
        /// Unmap a level-3 table (its cap must be the only one).
        PageTableUnmap = 64,
        /// Map a level-2 table (x86_64 PD), as `PageTableMap`.
        PageDirectoryMap = 65,
        /// Unmap a level-2 table.
        PageDirectoryUnmap = 66,
        /// Map a level-1 table (x86_64 PDPT), as `PageTableMap`.
        PageUpperDirectoryMap = 67,
        /// Unmap a level-1 table.
        PageUpperDirectoryUnmap = 68,
        /// Make an ASID pool from a 4 KiB untyped: MR0 index, MR1 depth;
        /// extra caps: 0 the untyped, 1 the destination's root CNode.
        AsidControlMakePool = 69,
        /// Give a VSpace an ASID from this pool: extra cap 0 the VSpace.
        AsidPoolAssign = 70,
        /// Configure a scheduling context (MCS): MR0 budget (µs), MR1 period
        /// (µs), MR2 extra refills, MR3 badge, MR4 flags
        /// (`crate::sched::SchedContextFlags`); extra cap 0 the SchedContext.
        SchedControlConfigureFlags = 80,
        /// Bind a scheduling context to the TCB or notification in extra cap 0.
        SchedContextBind = 81,
        /// Unbind whatever the scheduling context is bound to.
        SchedContextUnbind = 82,
        /// Unbind the TCB or notification in extra cap 0 from the scheduling context.
        SchedContextUnbindObject = 83,
        /// The time (µs) used on the scheduling context since the last read,
        /// in result word 0.
        SchedContextConsumed = 84,
        /// Run the scheduling context's thread now, ahead of its priority's
        /// queue; its consumed time (µs) in result word 0.
        SchedContextYieldTo = 85,
        /// Make an IRQHandler cap for one line: MR0 the IRQ, MR1 index and
        /// MR2 depth of the destination slot; extra cap 0 its root CNode.
        /// (x86_64 routes lines with `IrqControlGetIoApic` instead.)
        IrqControlGet = 90,
        /// aarch64: as `IrqControlGet`, setting the line's trigger: MR0 the
        /// IRQ, MR1 trigger (0 level, 1 edge), MR2 index, MR3 depth.
        IrqControlGetTrigger = 91,
        /// x86_64: route an I/O APIC pin to an IRQ and make its handler cap:
        /// MR0 index, MR1 depth, MR2 I/O APIC, MR3 pin, MR4 level (1) or edge
        /// (0), MR5 polarity low (1) or high (0), MR6 the IRQ (vector offset).
        IrqControlGetIoApic = 92,
        /// Unmask the line after an interrupt was handled.
        IrqHandlerAck = 93,
        /// Signal the notification in extra cap 0 (with its badge) on an interrupt.
        IrqHandlerSetNotification = 94,
        /// Stop signalling a notification.
        IrqHandlerClear = 95,
        /// x86_64: make an IOPort cap for ports MR0..=MR1 in the slot at MR2
        /// index, MR3 depth under extra cap 0.
        IoPortControlIssue = 96,
        /// x86_64: read a byte from port MR0 (result word 0).
        IoPortIn8 = 97,
        /// x86_64: read 16 bits from port MR0.
        IoPortIn16 = 98,
        /// x86_64: read 32 bits from port MR0.
        IoPortIn32 = 99,
        /// x86_64: write the byte MR1 to port MR0.
        IoPortOut8 = 100,
        /// x86_64: write 16 bits MR1 to port MR0.
        IoPortOut16 = 101,
        /// x86_64: write 32 bits MR1 to port MR0.
        IoPortOut32 = 102,
    }
}

/// The message-info word: `label:52 | caps_unwrapped:3 | extra_caps:2 | length:7`.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MessageInfo(u64);

impl MessageInfo {
    /// A message-info word. Each field is masked to its width: higher bits are
    /// dropped, not clamped.
    pub const fn new(label: u64, caps_unwrapped: u64, extra_caps: u64, length: u64) -> Self {
        MessageInfo(
            (label << 12)
                | ((caps_unwrapped & 0x7) << 9)
                | ((extra_caps & 0x3) << 7)
                | (length & 0x7f),
        )
    }

    /// From the raw word.
    pub const fn from_word(word: u64) -> Self {
        MessageInfo(word)
    }

    /// The raw word.
    pub const fn word(self) -> u64 {
        self.0
    }

    /// The label.
    pub const fn label(self) -> u64 {
        self.0 >> 12
    }

    /// Bit mask of extra caps that were unwrapped into badges.
    pub const fn caps_unwrapped(self) -> u64 {
        (self.0 >> 9) & 0x7
    }

    /// Number of extra caps.
    pub const fn extra_caps(self) -> usize {
        ((self.0 >> 7) & 0x3) as usize
    }

    /// The length field as written: up to 127 message registers. What a
    /// message carries is [`MessageInfo::bounded_length`].
    pub const fn length(self) -> usize {
        (self.0 & 0x7f) as usize
    }

    /// Number of message registers the message carries: the length field,
    /// bounded at [`MAX_MESSAGE_LENGTH`]. A longer claim is taken as the
    /// maximum, as seL4 takes it; the kernel reads every message (IPC and
    /// invocations alike) with this one bound.
    pub const fn bounded_length(self) -> usize {
        let field = self.length();
        if field > MAX_MESSAGE_LENGTH {
            MAX_MESSAGE_LENGTH
        } else {
            field
        }
    }

    /// The extra-caps and length fields read as one number (the caps field
    /// sits just above the length): for `n` below 128, it is at most `n`
    /// exactly when there are no extra caps and at most `n` words.
    pub const fn caps_and_length(self) -> u64 {
        self.0 & 0x1ff
    }
}

/// Capability rights (seL4's layout): write, read, grant, grant-reply.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CapRights(u64);

impl CapRights {
    /// May write (send, for endpoints).
    pub const WRITE: CapRights = CapRights(1 << 0);
    /// May read (receive, for endpoints).
    pub const READ: CapRights = CapRights(1 << 1);
    /// May grant capabilities.
    pub const GRANT: CapRights = CapRights(1 << 2);
    /// May grant a reply capability.
    pub const GRANT_REPLY: CapRights = CapRights(1 << 3);
    /// Every right.
    pub const ALL: CapRights = CapRights(0xf);
    /// No rights.
    pub const NONE: CapRights = CapRights(0);

    /// From the raw bits (bits above the four rights are ignored).
    pub const fn from_bits(bits: u64) -> Self {
        CapRights(bits & 0xf)
    }

    /// The raw bits.
    pub const fn bits(self) -> u64 {
        self.0
    }

    /// The rights both have.
    pub const fn intersect(self, other: CapRights) -> CapRights {
        CapRights(self.0 & other.0)
    }

    /// Union.
    pub const fn union(self, other: CapRights) -> CapRights {
        CapRights(self.0 | other.0)
    }

    /// True when every right in `other` is in `self`.
    pub const fn contains(self, other: CapRights) -> bool {
        self.0 & other.0 == other.0
    }
}

numbered_enum! {
    /// Why a capability lookup failed (the detail of `Error::FailedLookup`).
    pub enum LookupFailure: u64 {
        /// The root of the lookup is not a CNode.
        InvalidRoot = 1,
        /// A slot on the path is empty, or is not a CNode with bits left to resolve.
        MissingCapability = 2,
        /// The path resolved more or fewer bits than the depth asked for.
        DepthMismatch = 3,
        /// A CNode's guard did not match the address.
        GuardMismatch = 4,
    }
}

/// The two detail words that come with an error, by error:
///
/// | error               | word 0                                   | word 1              |
/// |---------------------|------------------------------------------|---------------------|
/// | `InvalidArgument`   | index of the bad argument                | 0                   |
/// | `InvalidCapability` | index of the bad cap (0: the invoked one) | 0                   |
/// | `RangeError`        | smallest allowed value                   | largest allowed     |
/// | `FailedLookup`      | [`LookupFailure`] \| source flag << 8     | bits left unresolved |
/// | `NotEnoughMemory`   | bytes still available                    | 0                   |
/// | others              | 0                                        | 0                   |
pub struct ErrorDetail;

impl ErrorDetail {
    /// Bit set in FailedLookup's word 0 when the failing lookup was a source slot.
    pub const LOOKUP_SOURCE: u64 = 1 << 8;
}

/// The IPC buffer: one per thread, in a frame the thread names with its TCB.
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct IpcBuffer {
    /// The message-info word of the last message.
    pub tag: u64,
    /// Message registers; the first four also travel in machine registers.
    pub msg: [u64; MAX_MESSAGE_LENGTH],
    /// Free for the runtime; keel-sys keeps the buffer's own address here,
    /// found through the thread pointer.
    pub user_data: u64,
    /// Extra caps to send (CPtrs), or badges received.
    pub caps_or_badges: [u64; MAX_EXTRA_CAPS],
    /// Where received caps go: the CNode...
    pub receive_cnode: u64,
    /// ...the index in it...
    pub receive_index: u64,
    /// ...and the depth of the index.
    pub receive_depth: u64,
}

const _: () = assert!(core::mem::size_of::<IpcBuffer>() == 1024);
const _: () = assert!(core::mem::size_of::<MessageInfo>() == 8);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_info_fields() {
        let m = MessageInfo::new(Label::CNodeMint as u64, 5, 2, 120);
        assert_eq!(m.label(), 6);
        assert_eq!(m.caps_unwrapped(), 5);
        assert_eq!(m.extra_caps(), 2);
        assert_eq!(m.length(), 120);
        assert_eq!(MessageInfo::from_word(m.word()), m);
        assert_eq!(MessageInfo::new(1, 0, 7, 200).extra_caps(), 3);
    }

    #[test]
    fn length_is_bounded_at_the_maximum() {
        for claimed in 0..128u64 {
            let m = MessageInfo::new(1, 0, 0, claimed);
            assert_eq!(m.length(), claimed as usize);
            assert_eq!(
                m.bounded_length(),
                (claimed as usize).min(MAX_MESSAGE_LENGTH)
            );
        }
        assert_eq!(
            MessageInfo::from_word(0x7f).bounded_length(),
            MAX_MESSAGE_LENGTH
        );
    }

    #[test]
    fn caps_and_length_bounds_both_fields() {
        for caps in 0..4 {
            for length in 0..128 {
                for n in [0, 4, 64, 127] {
                    let m = MessageInfo::new(0xfff, 7, caps, length);
                    let fits = caps == 0 && length <= n;
                    assert_eq!(
                        m.caps_and_length() <= n,
                        fits,
                        "{caps} caps, {length} words"
                    );
                }
            }
        }
    }

    #[test]
    fn labels_and_rights() {
        for &l in Label::ALL {
            assert_eq!(Label::try_from(l as u64), Ok(l));
        }
        assert!(Label::try_from(0).is_err());
        let rw = CapRights::READ.union(CapRights::WRITE);
        assert!(CapRights::ALL.contains(rw));
        assert!(!rw.contains(CapRights::GRANT));
        assert_eq!(rw.intersect(CapRights::WRITE), CapRights::WRITE);
        assert_eq!(CapRights::from_bits(0xff), CapRights::ALL);
    }
}
