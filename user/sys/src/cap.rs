//! Capability pointers and phantom-typed capabilities, as in rust-sel4:
//! `Cap<Tcb>`, `Cap<Untyped>`, ... with explicit casts between them.

use core::marker::PhantomData;
use keel_abi::InitCap;

/// An address in the caller's CSpace.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CPtr(u64);

impl CPtr {
    /// A CPtr from its bits.
    pub const fn from_bits(bits: u64) -> CPtr {
        CPtr(bits)
    }

    /// The CPtr's bits.
    pub const fn bits(self) -> u64 {
        self.0
    }
}

/// The kind of object a typed capability refers to.
pub trait CapKind {
    /// The kernel's name for the type.
    const TYPE: keel_abi::CapType;
}

macro_rules! cap_kinds {
    ($($(#[$doc:meta])* $name:ident => $ty:ident;)*) => {
        $(
            $(#[$doc])*
            #[derive(Clone, Copy, Debug, PartialEq, Eq)]
            pub enum $name {}
            impl CapKind for $name {
                const TYPE: keel_abi::CapType = keel_abi::CapType::$ty;
            }
        )*
    };
}

cap_kinds! {
    /// Untyped memory.
    Untyped => Untyped;
    /// A CNode.
    CNode => CNode;
    /// A thread control block.
    Tcb => Tcb;
    /// An address-space root.
    VSpace => VSpace;
    /// A page frame of either size.
    Frame => Frame;
    /// A 4 KiB frame.
    SmallPage => Frame;
    /// A 2 MiB frame.
    LargePage => Frame;
    /// A level-1 paging structure (x86_64 PDPT).
    PageUpperDirectory => PageUpperDirectory;
    /// A level-2 paging structure (x86_64 PD).
    PageDirectory => PageDirectory;
    /// A level-3 paging structure (x86_64 PT).
    PageTable => PageTable;
    /// An ASID pool.
    AsidPool => AsidPool;
    /// IRQ control.
    IrqControl => IrqControl;
    /// Authority over one IRQ line.
    IrqHandler => IrqHandler;
    /// I/O port control (x86_64).
    IoPortControl => IoPortControl;
    /// A range of I/O ports (x86_64).
    IoPort => IoPort;
    /// SchedControl for one core.
    SchedControl => SchedControl;
    /// ASID control.
    AsidControl => AsidControl;
    /// A synchronous IPC endpoint.
    Endpoint => Endpoint;
    /// A notification.
    Notification => Notification;
    /// An MCS scheduling context.
    SchedContext => SchedContext;
    /// An MCS reply object.
    Reply => Reply;
    /// Authority to make the debug system calls (see [`crate::debug`]).
    Debug => Debug;
}

/// A capability to an object of kind `T`.
#[derive(Debug, PartialEq, Eq)]
pub struct Cap<T: CapKind> {
    cptr: CPtr,
    kind: PhantomData<T>,
}

impl<T: CapKind> Clone for Cap<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: CapKind> Copy for Cap<T> {}

impl<T: CapKind> Cap<T> {
    /// Names the capability at `cptr` as a `T`. The kernel checks the type on use.
    pub const fn from_cptr(cptr: CPtr) -> Self {
        Cap {
            cptr,
            kind: PhantomData,
        }
    }

    /// The capability's address.
    pub const fn cptr(self) -> CPtr {
        self.cptr
    }

    /// The same capability, named as another kind.
    pub const fn cast<U: CapKind>(self) -> Cap<U> {
        Cap::from_cptr(self.cptr)
    }
}

/// The root task's initial capabilities (seL4's `init_thread::slot`).
pub mod init_thread {
    use super::*;

    const fn slot<T: CapKind>(s: InitCap) -> Cap<T> {
        Cap::from_cptr(CPtr::from_bits(s as u64))
    }

    /// The root task's TCB.
    pub const TCB: Cap<Tcb> = slot(InitCap::InitThreadTcb);
    /// The root task's CNode.
    pub const CNODE: Cap<CNode> = slot(InitCap::InitThreadCNode);
    /// The root task's VSpace.
    pub const VSPACE: Cap<VSpace> = slot(InitCap::InitThreadVSpace);
    /// IRQ control.
    pub const IRQ_CONTROL: Cap<IrqControl> = slot(InitCap::IrqControl);
    /// ASID control.
    pub const ASID_CONTROL: Cap<AsidControl> = slot(InitCap::AsidControl);
    /// The ASID pool the root task's VSpace has its ASID from.
    pub const ASID_POOL: Cap<AsidPool> = slot(InitCap::InitThreadAsidPool);
    /// The BootInfo frame.
    pub const BOOT_INFO_FRAME: Cap<Frame> = slot(InitCap::BootInfoFrame);
    /// The IPC buffer frame.
    pub const IPC_BUFFER: Cap<Frame> = slot(InitCap::InitThreadIpcBuffer);
    /// SchedControl for core 0.
    pub const SCHED_CONTROL: Cap<SchedControl> = slot(InitCap::SchedControl);
    /// The root task's scheduling context.
    pub const SCHED_CONTEXT: Cap<SchedContext> = slot(InitCap::InitThreadSchedContext);
    /// Debug authority, with every right.
    pub const DEBUG: Cap<Debug> = slot(InitCap::Debug);
    /// I/O port control (x86_64; the slot is empty on aarch64).
    pub const IO_PORT_CONTROL: Cap<IoPortControl> = slot(InitCap::IoPortControl);
    /// The UART the kernel prints to, lent to user level: an IOPort cap
    /// over COM1 on x86_64, the PL011's device frame on aarch64.
    pub const SERIAL_DEVICE: CPtr = CPtr::from_bits(InitCap::SerialDevice as u64);
}
