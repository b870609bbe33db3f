//! The steps of building a process: retype into the caller's scratch slots,
//! use, move into the child's CNode; map with missing paging structures
//! created on demand; copy segment bytes through the scratch mapping.

use crate::{slot, Context, ExtraPage, LoadError, Process, ProcessConfig, Resources};
use crate::{CALLER_SLOTS, IPC_BUFFER_VADDR, SCHED_CONTEXT_BITS, STACK_TOP};
use core::cell::Cell;
use keel_abi::bootinfo::HEAP_VADDR;
use keel_abi::elf::{Elf, Segment, EM_AARCH64, EM_X86_64};
use keel_abi::vspace::{VmAttributes, PD_SHIFT, PT_SHIFT, PUD_SHIFT};
use keel_abi::{Arch, CapRights, Error, LookupFailure, ObjectType};
use keel_sys::cap::{
    CNode, Frame, PageDirectory, PageTable, PageUpperDirectory, SchedContext, Tcb, VSpace,
};
use keel_sys::ipc_buffer::SELF_POINTER_OFFSET;
use keel_sys::sched::SchedContextFlags;
use keel_sys::tcb::UserContext;
use keel_sys::{AbsoluteCPtr, CPtr, Cap, InvocationError};

const PAGE: u64 = 4096;
const RW: CapRights = CapRights::READ.union(CapRights::WRITE);

/// Caller slot offsets within [`Resources::slots`].
const CNODE_SLOT: u64 = 0;
const TCB_SLOT: u64 = 1;
const VSPACE_SLOT: u64 = 2;
const SCHED_CONTEXT_SLOT: u64 = 3;
const FRAME_SLOT: u64 = 4;
const TABLE_SLOT: u64 = 5;

/// One process being built.
pub(crate) struct Builder<'a> {
    elf: Elf<'a>,
    res: &'a Resources,
    cfg: &'a ProcessConfig<'a>,
    next_child_slot: Cell<u64>,
    made: Cell<[u64; ObjectType::ALL.len()]>,
}

fn bad(step: &'static str) -> LoadError {
    LoadError {
        step,
        error: Error::InvalidArgument.into(),
    }
}

impl<'a> Builder<'a> {
    pub(crate) fn new(
        image: &'a [u8],
        res: &'a Resources,
        cfg: &'a ProcessConfig<'a>,
    ) -> Result<Self, LoadError> {
        let machine = match keel_sys::arch::ARCH {
            Arch::X86_64 => EM_X86_64,
            Arch::Aarch64 => EM_AARCH64,
        };
        let elf = Elf::parse(image, machine).map_err(|_| bad("parse the ELF image"))?;
        if res.slots.end.saturating_sub(res.slots.start) < CALLER_SLOTS {
            return Err(bad("check the caller's slots (too few)"));
        }
        let l = cfg.layout;
        if !(1..=20).contains(&l.cnode_radix)
            || l.first_given < slot::FIRST_GIVEN
            || l.first_loader < l.first_given
            || l.first_loader >= 1 << l.cnode_radix
        {
            return Err(bad("check the slot layout"));
        }
        if cfg.caps.len() as u64 > l.first_loader - l.first_given {
            return Err(bad("check the caps to give (too many)"));
        }
        if cfg
            .ipc_buffer_slot
            .is_some_and(|s| s < slot::FIRST_GIVEN || s >= l.first_given)
        {
            return Err(bad("check the IPC buffer slot"));
        }
        if cfg.sched_context_slot.is_some_and(|s| {
            s < slot::FIRST_GIVEN
                || s >= l.first_loader
                || (l.first_given..l.first_given + cfg.caps.len() as u64).contains(&s)
        }) || (cfg.sched_context_slot.is_some() && cfg.budget.is_none())
        {
            return Err(bad("check the scheduling context slot"));
        }
        if cfg
            .extra_pages
            .iter()
            .any(|p| p.vaddr % PAGE != 0 || p.bytes.len() as u64 > PAGE)
        {
            return Err(bad("check the extra pages"));
        }
        Ok(Builder {
            elf,
            res,
            cfg,
            next_child_slot: Cell::new(cfg.layout.first_loader),
            made: Cell::new([0; ObjectType::ALL.len()]),
        })
    }

    fn caller(&self, offset: u64) -> u64 {
        self.res.slots.start + offset
    }

    fn cap<T: keel_sys::cap::CapKind>(&self, offset: u64) -> Cap<T> {
        Cap::from_cptr(CPtr::from_bits(self.caller(offset)))
    }

    fn in_caller(&self, index: u64) -> AbsoluteCPtr {
        self.res.cnode.absolute_cptr(CPtr::from_bits(index))
    }

    fn in_child(&self, index: u64) -> AbsoluteCPtr {
        self.cap::<CNode>(CNODE_SLOT)
            .absolute_cptr_with_depth(index, self.cfg.layout.cnode_radix)
    }

    /// Retypes one object into caller slot `offset`.
    fn retype(&self, ty: ObjectType, size_bits: u64, offset: u64) -> Result<(), LoadError> {
        let dst = self.res.cnode.absolute_cptr_with_depth(0, 0);
        let step = match ty {
            ObjectType::SmallPage => "retype a frame",
            ObjectType::CNode => "retype the CNode",
            ObjectType::VSpace => "retype the VSpace",
            ObjectType::Tcb => "retype the TCB",
            ObjectType::SchedContext => "retype the scheduling context",
            _ => "retype a paging structure",
        };
        self.res
            .untyped
            .untyped_retype(ty, size_bits, &dst, self.caller(offset), 1)
            .context(step)?;
        let mut made = self.made.get();
        made[ty as usize] += 1;
        self.made.set(made);
        Ok(())
    }

    /// Moves the cap in caller slot `offset` to the next loader slot of the child.
    fn stash(&self, offset: u64) -> Result<(), LoadError> {
        let index = self.next_child_slot.get();
        if index >= 1 << self.cfg.layout.cnode_radix {
            return Err(LoadError {
                step: "move a cap into the child's CNode (it is full)",
                error: Error::RangeError.into(),
            });
        }
        self.in_child(index)
            .move_(&self.in_caller(self.caller(offset)))
            .context("move a cap into the child's CNode")?;
        self.next_child_slot.set(index + 1);
        Ok(())
    }

    /// Maps the frame in caller slot `FRAME_SLOT` at `vaddr` in `vspace`,
    /// creating (from the untyped) each paging structure a FailedLookup's
    /// detail names.
    fn map_frame(
        &self,
        vspace: Cap<VSpace>,
        vaddr: u64,
        rights: CapRights,
        attrs: VmAttributes,
    ) -> Result<(), LoadError> {
        let frame: Cap<Frame> = self.cap(FRAME_SLOT);
        // At most three levels can be missing; a fourth failure is real.
        for _ in 0..4 {
            match frame.frame_map(vspace, vaddr, rights, attrs) {
                Err(e) if e == Error::FailedLookup => self.add_table(vspace, vaddr, e)?,
                other => return other.context("map a frame"),
            }
        }
        Err(Error::FailedLookup).context("map a frame (tables keep missing)")
    }

    /// Creates and maps the paging structure whose absence `failed` (a
    /// mapping's FailedLookup) reports: the level is the number of address
    /// bits left unresolved, the shift of the table that is missing.
    fn add_table(
        &self,
        vspace: Cap<VSpace>,
        vaddr: u64,
        failed: InvocationError,
    ) -> Result<(), LoadError> {
        if failed.lookup_failure() != Some(LookupFailure::MissingCapability) {
            return Err(failed).context("map a frame (not a missing table)");
        }
        let ty = match failed.bits_left() {
            Some(PUD_SHIFT) => ObjectType::PageUpperDirectory,
            Some(PD_SHIFT) => ObjectType::PageDirectory,
            Some(PT_SHIFT) => ObjectType::PageTable,
            _ => return Err(failed).context("map a frame (unknown level)"),
        };
        self.retype(ty, 0, TABLE_SLOT)?;
        let attrs = VmAttributes::DEFAULT;
        let mapped = match ty {
            ObjectType::PageUpperDirectory => self
                .cap::<PageUpperDirectory>(TABLE_SLOT)
                .page_table_map(vspace, vaddr, attrs),
            ObjectType::PageDirectory => self
                .cap::<PageDirectory>(TABLE_SLOT)
                .page_table_map(vspace, vaddr, attrs),
            _ => self
                .cap::<PageTable>(TABLE_SLOT)
                .page_table_map(vspace, vaddr, attrs),
        };
        mapped.context("map a paging structure")?;
        self.stash(TABLE_SLOT)
    }

    /// The segments that cover any byte of the page at `page`.
    fn covering(&self, page: u64) -> impl Iterator<Item = Segment> + '_ {
        self.elf
            .segments()
            .filter(move |s| s.vaddr < page + PAGE && page < s.vaddr + s.mem_size)
    }

    /// Retypes the frame for the page at `page`, copies into it the file
    /// bytes of every segment covering it (through the scratch mapping in the
    /// caller's VSpace; frames come zeroed), and maps it into the child with
    /// the union of those segments' rights.
    fn load_page(&self, page: u64) -> Result<(), LoadError> {
        self.retype(ObjectType::SmallPage, 0, FRAME_SLOT)?;
        let (mut write, mut execute, mut mapped) = (false, false, false);
        for seg in self.covering(page) {
            write |= seg.write;
            execute |= seg.execute;
            let lo = seg.vaddr.max(page);
            let hi = (seg.vaddr + seg.file_size).min(page + PAGE);
            if lo >= hi {
                continue;
            }
            let scratch = self.res.scratch_vaddr;
            if !mapped {
                self.map_frame(self.res.vspace, scratch, RW, VmAttributes::DEFAULT)?;
                mapped = true;
            }
            let from = (lo - seg.vaddr) as usize;
            let bytes = &self.elf.segment_data(&seg)[from..from + (hi - lo) as usize];
            let at = (lo - page) as usize;
            // SAFETY: the frame is mapped writable at `scratch`, a page the
            // caller promised is otherwise unused; `at + bytes.len()` is at
            // most a page (lo and hi lie in this page); the mapping is
            // removed below and no reference outlives this block.
            unsafe {
                let dst =
                    core::slice::from_raw_parts_mut(scratch as usize as *mut u8, PAGE as usize);
                dst[at..at + bytes.len()].copy_from_slice(bytes);
            }
        }
        if mapped {
            self.cap::<Frame>(FRAME_SLOT)
                .frame_unmap()
                .context("unmap the scratch mapping")?;
        }
        let rights = if write { RW } else { CapRights::READ };
        let mut attrs = VmAttributes::DEFAULT;
        if !execute {
            attrs = attrs.union(VmAttributes::EXECUTE_NEVER);
        }
        self.map_frame(self.cap(VSPACE_SLOT), page, rights, attrs)?;
        self.stash(FRAME_SLOT)
    }

    /// Copies `bytes` to offset `at` of the frame in caller slot
    /// `FRAME_SLOT`, through the scratch mapping, which it removes again.
    fn fill(&self, at: usize, bytes: &[u8]) -> Result<(), LoadError> {
        if at + bytes.len() > PAGE as usize {
            return Err(bad("copy into a frame (past its end)"));
        }
        let scratch = self.res.scratch_vaddr;
        self.map_frame(self.res.vspace, scratch, RW, VmAttributes::DEFAULT)?;
        // SAFETY: the frame is mapped writable at `scratch`, a page the
        // caller promised is otherwise unused; `at + bytes.len()` is at most
        // a page (checked above); the mapping is removed below and no
        // reference outlives this block.
        unsafe {
            let dst = core::slice::from_raw_parts_mut(scratch as usize as *mut u8, PAGE as usize);
            dst[at..at + bytes.len()].copy_from_slice(bytes);
        }
        self.cap::<Frame>(FRAME_SLOT)
            .frame_unmap()
            .context("unmap the scratch mapping")
    }

    /// Maps an [`ExtraPage`] read-only into the child.
    fn extra_page(&self, page: &ExtraPage) -> Result<(), LoadError> {
        self.retype(ObjectType::SmallPage, 0, FRAME_SLOT)?;
        self.fill(0, page.bytes)?;
        let xn = VmAttributes::DEFAULT.union(VmAttributes::EXECUTE_NEVER);
        self.map_frame(self.cap(VSPACE_SLOT), page.vaddr, CapRights::READ, xn)?;
        self.stash(FRAME_SLOT)
    }

    /// Loads every page of every PT_LOAD segment once (segments may share a
    /// page, as `.data` and `.bss` do), but the fixed heap's when the
    /// program grows its heap through a memory manager. Segments come in
    /// address order.
    fn load_segments(&self) -> Result<(), LoadError> {
        let mut next = 0;
        for seg in self.elf.segments() {
            if !self.cfg.fixed_heap && seg.vaddr == HEAP_VADDR {
                continue;
            }
            let first = (seg.vaddr & !(PAGE - 1)).max(next);
            let end = (seg.vaddr + seg.mem_size).div_ceil(PAGE) * PAGE;
            for page in (first..end).step_by(PAGE as usize) {
                self.load_page(page)?;
            }
            next = next.max(end);
        }
        Ok(())
    }

    /// Retypes and maps a zeroed, writable, non-executable page at `vaddr`.
    fn zero_page(&self, vaddr: u64) -> Result<(), LoadError> {
        self.retype(ObjectType::SmallPage, 0, FRAME_SLOT)?;
        let xn = VmAttributes::DEFAULT.union(VmAttributes::EXECUTE_NEVER);
        self.map_frame(self.cap(VSPACE_SLOT), vaddr, RW, xn)?;
        Ok(())
    }

    /// Puts a copy (or badged mint) of the caller's `src` into child slot `index`.
    fn give(&self, index: u64, src: CPtr, rights: CapRights, badge: u64) -> Result<(), LoadError> {
        let (dst, src) = (self.in_child(index), self.in_caller(src.bits()));
        if badge == 0 {
            dst.copy(&src, rights).context("copy a cap into the child")
        } else {
            dst.mint(&src, rights, badge)
                .context("mint a cap into the child")
        }
    }

    /// Builds and starts the process.
    pub(crate) fn run(self) -> Result<Process, LoadError> {
        let (res, cfg) = (self.res, self.cfg);
        self.retype(ObjectType::CNode, cfg.layout.cnode_radix, CNODE_SLOT)?;
        self.retype(ObjectType::VSpace, 0, VSPACE_SLOT)?;
        self.retype(ObjectType::Tcb, 0, TCB_SLOT)?;
        if let Some(budget) = cfg.budget {
            self.retype(
                ObjectType::SchedContext,
                SCHED_CONTEXT_BITS,
                SCHED_CONTEXT_SLOT,
            )?;
            let sc: Cap<SchedContext> = self.cap(SCHED_CONTEXT_SLOT);
            res.sched_control
                .sched_control_configure_flags(
                    sc,
                    budget.budget_us,
                    budget.period_us,
                    0,
                    0,
                    SchedContextFlags::NONE,
                )
                .context("configure the scheduling context")?;
            sc.sched_context_bind(self.cap(TCB_SLOT))
                .context("bind the scheduling context")?;
            if let Some(s) = cfg.sched_context_slot {
                self.give(s, sc.cptr(), CapRights::ALL, 0)?;
            }
        }
        let vspace: Cap<VSpace> = self.cap(VSPACE_SLOT);
        res.asid_pool
            .asid_pool_assign(vspace)
            .context("assign an ASID")?;

        self.load_segments()?;
        for i in 0..cfg.stack_pages {
            self.zero_page(STACK_TOP - (i + 1) * PAGE)?;
            self.stash(FRAME_SLOT)?;
        }
        // The IPC buffer is set while its cap is still in the caller's slot
        // (the kernel keeps its own copy in the TCB). It holds its own
        // address and the thread pointer names it, as keel-sys expects.
        self.retype(ObjectType::SmallPage, 0, FRAME_SLOT)?;
        self.fill(SELF_POINTER_OFFSET, &IPC_BUFFER_VADDR.to_le_bytes())?;
        let xn = VmAttributes::DEFAULT.union(VmAttributes::EXECUTE_NEVER);
        self.map_frame(self.cap(VSPACE_SLOT), IPC_BUFFER_VADDR, RW, xn)?;
        let tcb: Cap<Tcb> = self.cap(TCB_SLOT);
        tcb.tcb_set_ipc_buffer(IPC_BUFFER_VADDR, self.cap(FRAME_SLOT))
            .context("set the IPC buffer")?;
        tcb.tcb_set_tls_base(IPC_BUFFER_VADDR)
            .context("point the thread pointer at the IPC buffer")?;
        if let Some(s) = cfg.ipc_buffer_slot {
            self.give(
                s,
                CPtr::from_bits(self.caller(FRAME_SLOT)),
                CapRights::ALL,
                0,
            )?;
        }
        self.stash(FRAME_SLOT)?;
        for page in cfg.extra_pages {
            self.extra_page(page)?;
        }
        for shared in cfg.shared_frames {
            self.in_caller(self.caller(FRAME_SLOT))
                .copy(&self.in_caller(shared.frame.cptr().bits()), CapRights::ALL)
                .context("copy a shared frame")?;
            let xn = VmAttributes::DEFAULT.union(VmAttributes::EXECUTE_NEVER);
            self.map_frame(vspace, shared.vaddr, shared.rights, xn)?;
            self.stash(FRAME_SLOT)?;
        }

        // The child's own caps and the ones it is given.
        let guard = 64 - cfg.layout.cnode_radix;
        let cnode = self.caller(CNODE_SLOT);
        self.give(
            slot::TCB,
            CPtr::from_bits(self.caller(TCB_SLOT)),
            CapRights::ALL,
            0,
        )?;
        self.give(slot::CNODE, CPtr::from_bits(cnode), CapRights::ALL, guard)?;
        self.give(
            slot::VSPACE,
            CPtr::from_bits(self.caller(VSPACE_SLOT)),
            CapRights::ALL,
            0,
        )?;
        for (i, c) in cfg.caps.iter().enumerate() {
            self.give(cfg.layout.first_given + i as u64, c.cptr, c.rights, c.badge)?;
        }

        let fault_ep = cfg.fault_ep.unwrap_or(CPtr::from_bits(0));
        tcb.tcb_set_space(fault_ep, self.cap(CNODE_SLOT), guard, vspace)
            .context("set the TCB's spaces and fault endpoint")?;
        if let Some(mcp) = cfg.mcp {
            tcb.tcb_set_mc_priority(res.authority, mcp)
                .context("set the maximum controlled priority")?;
        }
        tcb.tcb_set_priority(res.authority, cfg.priority)
            .context("set the priority")?;
        let mut ctx = UserContext::default();
        ctx.set_pc(self.elf.entry());
        ctx.set_sp(STACK_TOP);
        ctx.set_arg(0, cfg.arg);
        tcb.tcb_write_all_registers(false, &ctx)
            .context("write the registers")?;
        if cfg.start {
            tcb.tcb_resume().context("resume the thread")?;
        }
        Ok(Process {
            cnode: self.cap(CNODE_SLOT),
            tcb,
            vspace,
            sched_context: self.cap(SCHED_CONTEXT_SLOT),
            entry: self.elf.entry(),
            slots_used: self.next_child_slot.get(),
            made: self.made.get(),
        })
    }
}
