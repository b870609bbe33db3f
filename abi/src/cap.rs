//! Capability types as user space sees them, and the root task's initial slots.

use crate::numbered::numbered_enum;

numbered_enum! {
    /// The type of object a capability refers to, as reported by `DebugCapIdentify`.
    pub enum CapType: u64 {
        /// An empty slot.
        Null = 0,
        /// Untyped memory.
        Untyped = 1,
        /// A CNode.
        CNode = 2,
        /// A thread control block.
        Tcb = 3,
        /// The root of an address space (x86_64 PML4, aarch64 level-0 table).
        VSpace = 4,
        /// A page frame.
        Frame = 5,
        /// Authority to create IRQ handlers.
        IrqControl = 6,
        /// Authority to configure scheduling contexts on one core.
        SchedControl = 7,
        /// Authority to create ASID pools.
        AsidControl = 8,
        /// A synchronous IPC endpoint.
        Endpoint = 9,
        /// A notification.
        Notification = 10,
        /// An MCS reply object.
        Reply = 11,
        /// An MCS scheduling context.
        SchedContext = 12,
        /// A level-1 paging structure (x86_64 PDPT).
        PageUpperDirectory = 13,
        /// A level-2 paging structure (x86_64 PD).
        PageDirectory = 14,
        /// A level-3 paging structure (x86_64 PT).
        PageTable = 15,
        /// Authority over one IRQ line.
        IrqHandler = 16,
        /// An ASID pool: 512 ASIDs to give to VSpaces.
        AsidPool = 17,
        /// An object being destroyed, one step at a time (seL4's Zombie).
        Zombie = 18,
        /// Authority to make the debug system calls (no object). Its rights
        /// say which: see [`crate::Syscall::debug_rights`].
        Debug = 19,
        /// Authority to issue I/O port caps (x86_64 only).
        IoPortControl = 20,
        /// Authority over a range of I/O ports (x86_64 only).
        IoPort = 21,
    }
}

/// Fixed slots of the root task's CNode, as in seL4's `seL4_RootCNodeCapSlots`.
/// Slots after these are described by [`crate::BootInfo`] regions.
#[repr(u64)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InitCap {
    /// Always empty.
    Null = 0,
    /// The root task's own TCB.
    InitThreadTcb = 1,
    /// The root task's CNode (a cap to itself).
    InitThreadCNode = 2,
    /// The root task's VSpace.
    InitThreadVSpace = 3,
    /// IRQ control.
    IrqControl = 4,
    /// ASID control.
    AsidControl = 5,
    /// The frame holding the BootInfo page.
    BootInfoFrame = 6,
    /// The frame holding the root task's IPC buffer.
    InitThreadIpcBuffer = 7,
    /// SchedControl for core 0.
    SchedControl = 8,
    /// The ASID pool that gave the root task's VSpace its ASID (ASIDs 0..512).
    InitThreadAsidPool = 9,
    /// The root task's scheduling context.
    InitThreadSchedContext = 10,
    /// Debug authority, with every right: the debug system calls name it.
    Debug = 11,
    /// I/O port control (x86_64; empty on aarch64, which has no I/O ports).
    IoPortControl = 12,
    /// The UART the kernel prints its own messages to, lent to the program
    /// the system description names (`serial_device`): on x86_64 an IOPort
    /// cap over [`SERIAL_PORTS`] (COM1, which `IOPortControl_Issue` keeps
    /// refusing), on aarch64 a device frame cap over the PL011's page.
    SerialDevice = 13,
}

/// The x86_64 I/O ports the kernel keeps, `(first, last)`: the 8259 PICs it
/// keeps masked, QEMU's exit port it halts through and its COM1 console.
/// `IOPortControl_Issue` refuses them, and the build tool a description
/// that gives them to a program.
pub const KERNEL_IO_PORTS: [(u16, u16); 4] =
    [(0x20, 0x21), (0xa0, 0xa1), (0xf4, 0xf4), SERIAL_PORTS];

/// The x86_64 kernel console's ports, `(first, last)`: COM1's 16550. The
/// kernel keeps them and lends them only through [`InitCap::SerialDevice`].
pub const SERIAL_PORTS: (u16, u16) = (0x3f8, 0x3ff);

/// First slot after the fixed initial caps.
pub const FIRST_FREE_INIT_SLOT: u64 = InitCap::SerialDevice as u64 + 1;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_types_round_trip() {
        for &t in CapType::ALL {
            assert_eq!(CapType::try_from(t as u64), Ok(t));
        }
        assert_eq!(CapType::try_from(CapType::ALL.len() as u64), Err(22));
        assert_eq!(CapType::try_from(19), Ok(CapType::Debug));
    }

    #[test]
    fn initial_slots_are_distinct_and_end_before_the_free_ones() {
        let all = [
            InitCap::Null,
            InitCap::InitThreadTcb,
            InitCap::InitThreadCNode,
            InitCap::InitThreadVSpace,
            InitCap::IrqControl,
            InitCap::AsidControl,
            InitCap::BootInfoFrame,
            InitCap::InitThreadIpcBuffer,
            InitCap::SchedControl,
            InitCap::InitThreadAsidPool,
            InitCap::InitThreadSchedContext,
            InitCap::Debug,
            InitCap::IoPortControl,
            InitCap::SerialDevice,
        ];
        for (i, &slot) in all.iter().enumerate() {
            assert_eq!(slot as u64, i as u64, "{slot:?}");
        }
        assert_eq!(FIRST_FREE_INIT_SLOT, all.len() as u64);
        assert_eq!(InitCap::IoPortControl as u64, 12);
        assert_eq!(InitCap::SerialDevice as u64, 13);
    }
}
