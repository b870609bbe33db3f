//! The architecture facade: picks `x86_64` or `aarch64` and re-exports one
//! identical set of names. The set is written down as the traits below; each
//! architecture implements them on the same type names:
//!
//! - `UserContext: UserRegisters` — a user thread's saved registers.
//! - `VSpace: AddressSpace` — a user address space's page tables.
//! - `VSpace: PagingFormat` — entry formats and TLB maintenance, for the
//!   address-space objects.
//! - `Serial: Console` — the kernel console.
//! - `Machine: Platform` — entering user mode, halting, idling, the kernel
//!   window and the kernel image's physical placement.
//! - `LocalTimer: Timer` — the clock the scheduler keeps time in and the
//!   one-shot timer interrupt (there is no periodic tick).
//! - `InterruptController: Interrupts` — the lines user-level drivers get
//!   through IRQHandler caps (`crate::object::irq`).
//!
//! Each architecture also answers invocations of its own cap types
//! (`invoke_arch_cap`, `finalise_arch_cap`: x86_64's I/O ports) and names the
//! root task's initial caps of those types (`initial_arch_caps`).
//! Each architecture also exports `ARCH: keel_abi::Arch` and `ELF_MACHINE: u16`.
//! Its boot code sets up the CPU, console, traps, timer and kernel window, finds
//! RAM and then calls [`crate::boot::kernel_main`]. Its trap entry saves the user
//! registers into the current `UserContext`. A system call goes first to the IPC
//! fast path, `keel_fastpath`, which returns the `UserContext` to return to user
//! mode with (the entry restores it) or null; then to
//! [`crate::syscall::handle_syscall`]. Other traps go to
//! [`crate::fault::handle_user_fault`], [`crate::sched::timer_interrupt`] (once the
//! timer interrupt is acknowledged), [`crate::object::irq::interrupt`] (a
//! driver's line, then the scheduler) or
//! [`crate::fault::handle_unexpected_interrupt`]; `Platform::idle` hands
//! interrupts to the same.

use keel_abi::bootinfo::MemRegion;
use keel_kernel_core::memory::{FreeMemory, MemoryError};

#[cfg(target_arch = "aarch64")]
mod aarch64;
#[cfg(target_arch = "aarch64")]
pub use self::aarch64::*;

#[cfg(target_arch = "x86_64")]
mod x86_64;
#[cfg(target_arch = "x86_64")]
pub use self::x86_64::*;

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
compile_error!("keel-kernel supports only x86_64 and aarch64");

mod page_table;
mod paging;

pub use page_table::index as table_index;
pub use paging::{read_entry, write_entry, LeafAttrs, PagingFormat};

/// Access rights of a user mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageRights {
    /// User may write.
    pub write: bool,
    /// User may execute.
    pub execute: bool,
}

/// Why a mapping could not be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapError {
    /// Out of boot memory for page tables.
    OutOfMemory(MemoryError),
    /// Something is already mapped at that address.
    AlreadyMapped,
    /// The address is not a page-aligned user address.
    BadAddress,
}

/// A user thread's register file, saved on every kernel entry from user mode.
pub trait UserRegisters {
    /// Registers for a new thread starting at `entry` with stack `stack_top`
    /// and `arg0` in the first argument register.
    fn new_thread(entry: u64, stack_top: u64, arg0: u64) -> Self;
    /// The system-call number of the trapping `syscall`/`svc`.
    fn syscall_number(&self) -> u64;
    /// System-call argument `n` (0..8): the seventh (x86_64 r12 / aarch64
    /// x6) names the receive cap of NBSendRecv and NBSendWait, or the Reply
    /// object of Recv, NBRecv and ReplyRecv; the eighth (x86_64 r13 /
    /// aarch64 x7) the Reply object of NBSendRecv.
    fn syscall_arg(&self, n: usize) -> u64;
    /// Writes the six result words where user space reads them: x86_64 rax,
    /// rdi, rsi, rdx, r10, r8; aarch64 x0-x5. Invocations answer with the error
    /// code and two detail words; receives with the message info, the badge and
    /// message registers 0-3.
    fn set_syscall_result(&mut self, words: [u64; 6]);
    /// The user program counter.
    fn ip(&self) -> u64;
    /// Makes the thread execute the system call it just made again when it
    /// next runs: how a preempted long operation is continued.
    fn restart_syscall(&mut self);
    /// Number of registers in the `TcbReadRegisters` list (`keel_abi::registers`).
    const REGISTER_COUNT: usize;
    /// Sets the thread pointer (x86_64 FS base, aarch64 TPIDR_EL0).
    fn set_tls_base(&mut self, base: u64);
    /// Register `index` of that list, if it exists.
    fn register(&self, index: usize) -> Option<u64>;
    /// Sets register `index` of that list; false if it does not exist. The
    /// flags word keeps only what user mode may set, and the register file
    /// stays valid to return to user mode with (a TCB's starts so, from
    /// [`UserRegisters::new_thread`], and only the trap path and this write it).
    fn set_register(&mut self, index: usize, value: u64) -> bool;
}

/// The page tables of one user address space. The kernel half is shared.
/// Building and walking them is written once here over the architecture's
/// [`PagingFormat`].
pub trait AddressSpace: PagingFormat + Sized {
    /// Physical address of the root table.
    fn root_paddr(&self) -> u64;
    /// The address space whose root table is at `root_paddr`, to build or
    /// walk.
    fn from_root(root_paddr: u64) -> Self;
    /// The address space a thread runs in: the root table at `root_paddr`,
    /// which holds `asid` (given out below [`PagingFormat::hardware_asids`];
    /// aarch64 tags its translations with it).
    fn for_thread(root_paddr: u64, asid: u16) -> Self;

    /// A fresh address space with the kernel mapped and no user mappings.
    ///
    /// # Errors
    /// [`MapError::OutOfMemory`] when no frame is left for the root table.
    fn new(frames: &mut FreeMemory) -> Result<Self, MapError> {
        let root = fresh_table(frames)?;
        Self::init_root(root);
        Ok(Self::from_root(root))
    }

    /// Maps one 4 KiB user page (normal cacheable memory), taking page tables
    /// from `frames` as needed.
    ///
    /// # Errors
    /// [`MapError`] naming the problem.
    fn map_page(
        &mut self,
        vaddr: u64,
        paddr: u64,
        rights: PageRights,
        frames: &mut FreeMemory,
    ) -> Result<(), MapError> {
        if !vaddr.is_multiple_of(4096)
            || vaddr >= Self::USER_TOP
            || Self::entry_paddr(paddr) != paddr
        {
            return Err(MapError::BadAddress);
        }
        let mut table = self.root_paddr();
        for level in [3, 2, 1] {
            let at = page_table::index(vaddr, level);
            let e = read_entry(table, at);
            if !Self::is_valid(e) {
                let next = fresh_table(frames)?;
                write_entry(table, at, Self::table_entry(next));
                table = next;
            } else if Self::is_table(e) {
                table = Self::entry_paddr(e);
            } else {
                return Err(MapError::AlreadyMapped);
            }
        }
        let at = page_table::index(vaddr, 0);
        if Self::is_valid(read_entry(table, at)) {
            return Err(MapError::AlreadyMapped);
        }
        let attrs = LeafAttrs {
            user: true,
            write: rights.write,
            execute: rights.execute,
            cacheable: true,
            device: false,
        };
        write_entry(table, at, Self::leaf_entry(paddr, 0, attrs));
        Self::tables_written();
        Ok(())
    }

    /// The physical address and rights of the user page holding `vaddr`, if it
    /// is mapped as normal cacheable memory (the kernel reads nothing else).
    fn translate(&self, vaddr: u64) -> Option<(u64, PageRights)> {
        if vaddr >= Self::USER_TOP {
            return None;
        }
        let mut table = self.root_paddr();
        for level in [3, 2, 1] {
            let e = read_entry(table, page_table::index(vaddr, level));
            if !Self::is_table(e) {
                return None;
            }
            table = Self::entry_paddr(e);
        }
        let leaf = read_entry(table, page_table::index(vaddr, 0));
        let rights = Self::user_page_rights(leaf)?;
        Some((Self::entry_paddr(leaf) | (vaddr & 0xfff), rights))
    }
}

/// A zeroed page-table frame from free RAM.
fn fresh_table(frames: &mut FreeMemory) -> Result<u64, MapError> {
    let table = frames.alloc(4096, 4096).map_err(MapError::OutOfMemory)?;
    // SAFETY: the frame was just taken from free RAM; nothing else refers to it.
    unsafe { crate::object::zero_phys(table, 4096) };
    Ok(table)
}

/// The kernel console.
pub trait Console {
    /// Writes one byte, waiting for the device if needed.
    fn put_byte(byte: u8);
}

/// Machine-wide operations.
pub trait Platform {
    /// Switches to `vspace` and returns to user mode with `ctx`'s registers.
    /// Later kernel entries save into `ctx`.
    fn enter_user(ctx: &mut UserContext, vspace: &VSpace) -> !;
    /// All of [`Platform::enter_user`] but the return itself, which the
    /// system-call entry makes with `ctx` when the IPC fast path (which
    /// calls this) gives it back. (On x86_64 that return also sets the
    /// entry stack and FS base from `ctx`, so this is the address-space
    /// switch alone there.)
    fn prepare_user_entry(ctx: &mut UserContext, vspace: &VSpace);
    /// The register file `ctx` (of a TCB being destroyed) is going away: the
    /// machine may hold no state of it after this (aarch64: lazily switched
    /// FP/SIMD registers; x86_64 saves the FPU on every entry, so none).
    fn forget_user_state(ctx: &UserContext);
    /// Stops the machine; under QEMU, exits QEMU with `status`.
    fn halt(status: u32) -> !;
    /// Waits, with no current thread, for the timer interrupt (or another):
    /// acknowledges it and calls [`crate::sched::timer_interrupt`] (or
    /// [`crate::fault::handle_unexpected_interrupt`]).
    fn idle() -> !;
    /// True when an interrupt is waiting to be taken: long kernel operations
    /// ask this at their preemption points.
    fn interrupt_pending() -> bool;
    /// The CPU's cycle counter (x86_64 TSC, aarch64 PMCCNTR), for measuring
    /// kernel work; under QEMU `-icount shift=0` it counts guest instructions.
    fn cycles() -> u64;
    /// Kernel-window virtual address of a physical address.
    fn phys_to_virt(paddr: u64) -> usize;
    /// Physical address of a kernel-image virtual address.
    fn kernel_virt_to_phys(vaddr: usize) -> u64;
    /// The physical range of the loaded kernel image (boot archive included).
    fn kernel_image_phys() -> MemRegion;
    /// Fills `len` bytes at kernel address `start` with zero, as fast as the
    /// architecture allows (retype clears every object's memory this way).
    ///
    /// # Safety
    /// The range must be writable kernel memory that nothing else references.
    unsafe fn zero(start: usize, len: usize);
}

/// Zeroes the ends `start..low` and `high..end` of a range whose middle an
/// architecture's [`Platform::zero`] clears its own way; an empty end
/// costs no call.
///
/// # Safety
/// Both ends must be writable kernel memory that nothing else references.
unsafe fn zero_ends(start: usize, low: usize, high: usize, end: usize) {
    if low > start {
        // SAFETY: the caller's guarantee for `start..low`.
        unsafe { core::ptr::write_bytes(start as *mut u8, 0, low - start) };
    }
    if end > high {
        // SAFETY: the caller's guarantee for `high..end`.
        unsafe { core::ptr::write_bytes(high as *mut u8, 0, end - high) };
    }
}

/// The interrupt controller, for the lines user-level drivers handle. An
/// interrupt on such a line goes to [`crate::object::irq::interrupt`], which
/// masks it; the architecture acknowledges and ends it at the controller.
pub trait Interrupts {
    /// The routing an IRQControl request asks for (x86_64: an I/O APIC pin;
    /// aarch64: a trigger, or the line's own).
    type Route;
    /// The most IRQ numbers a machine of the architecture has.
    const MAX_LINES: usize;
    /// This machine's IRQ numbers are `0..lines()` (at most `MAX_LINES`).
    fn lines() -> u64;
    /// True for a line the kernel keeps for itself (its timer).
    fn reserved(irq: u64) -> bool;
    /// Decodes an IRQControl invocation (`IrqControlGet` or the
    /// architecture's forms) without changing anything.
    ///
    /// # Errors
    /// `IllegalOperation` for a form the architecture does not have;
    /// `TruncatedMessage`; `RangeError` or `DeleteFirst` for routing
    /// arguments outside what the controller has or already uses.
    fn decode_get(
        label: keel_abi::Label,
        msg: &crate::syscall::invocation::Message,
    ) -> Result<crate::object::irq::IrqRequest<Self::Route>, keel_kernel_core::error::SyscallError>;
    /// Routes `irq` as decoded, leaving it masked.
    fn route(irq: u64, route: Self::Route);
    /// Masks `irq`: it raises no interrupt.
    fn mask(irq: u64);
    /// Unmasks `irq`.
    fn unmask(irq: u64);
    /// `irq`'s handler is gone: masks it and undoes its routing.
    fn release(irq: u64);
}

/// The core's one-shot timer and the clock the scheduler keeps time in
/// (ticks; x86_64 the TSC, aarch64 the generic timer's virtual counter).
pub trait Timer {
    /// Measures the clock and timer frequencies and prepares the timer (masked,
    /// nothing armed). Called once at boot, before the first thread runs.
    /// Prints one console line with what it measured.
    fn init();
    /// Ticks per second of `now()`, as measured/read at `init`.
    fn ticks_per_second() -> u64;
    /// The current time in ticks (monotonic).
    fn now() -> u64;
    /// Arms the one-shot timer to interrupt once `now()` reaches `deadline`; a
    /// deadline already past interrupts at once. Replaces any earlier deadline.
    fn set_deadline(deadline: u64);
}
