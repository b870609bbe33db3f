//! Building the root task: its address space (ELF segments, stack, IPC buffer,
//! BootInfo, the boot archive read-only), its CNode with the initial caps, the
//! Untyped caps for the rest of RAM, its TCB; then entering it.

use crate::arch::{AddressSpace, MapError, PageRights, Platform, UserRegisters, Machine, UserContext, VSpace, ARCH, ELF_MACHINE, HAS_ASID_CONTROL};
use crate::boot::BootParams;
use crate::object::cnode::{RootCNode, ROOT_CNODE_BITS};
use crate::object::tcb::Tcb;
use crate::object::{copy_to_phys, object_mut, zero_phys};
use keel_abi::archive::Archive;
use keel_abi::bootinfo::{self, BootInfo, MemRegion, SlotRegion, UntypedDesc, MAX_UNTYPED};
use keel_abi::{CapType, InitCap, PAGE_SIZE};
use keel_kernel_core::cap::Cap;
use keel_kernel_core::elf::Elf;
use keel_kernel_core::memory::{untyped_blocks, FreeMemory};
use zerocopy::FromZeros;

const PAGE: u64 = PAGE_SIZE as u64;
const READ_ONLY: PageRights = PageRights { write: false, execute: false };
const READ_WRITE: PageRights = PageRights { write: true, execute: false };

/// Builds the root task from the archive's root entry and enters it.
pub fn start(archive: &Archive<'_>, archive_phys: MemRegion, kernel: MemRegion, params: &BootParams, mut free: FreeMemory) -> ! {
    let root = archive.root();
    let elf = match Elf::parse(archive.data(root), ELF_MACHINE) {
        Ok(elf) => elf,
        Err(e) => panic!("root task '{}' is not a loadable {} ELF ({e:?})", root.name(), ARCH.name()),
    };
    let mut vspace = VSpace::new(&mut free).unwrap_or_else(|e| boot_failed("VSpace", e));
    load_segments(&elf, &mut vspace, &mut free);
    let stack_pages = bootinfo::ROOT_STACK_SIZE / PAGE;
    for i in 0..stack_pages {
        let vaddr = bootinfo::ROOT_STACK_TOP - (i + 1) * PAGE;
        map_new_frame(&mut vspace, vaddr, READ_WRITE, &mut free);
    }
    let bootinfo_frame = map_new_frame(&mut vspace, bootinfo::BOOTINFO_VADDR, READ_ONLY, &mut free);
    let ipc_frame = map_new_frame(&mut vspace, bootinfo::IPC_BUFFER_VADDR, READ_WRITE, &mut free);
    let archive_pages = (archive_phys.end - archive_phys.start).div_ceil(PAGE);
    for i in 0..archive_pages {
        let (vaddr, paddr) = (bootinfo::ARCHIVE_VADDR + i * PAGE, archive_phys.start + i * PAGE);
        vspace.map_page(vaddr, paddr, READ_ONLY, &mut free).unwrap_or_else(|e| boot_failed("archive mapping", e));
    }

    let cnode_bytes = core::mem::size_of::<RootCNode>();
    let cnode_paddr = alloc_zeroed(&mut free, cnode_bytes);
    let tcb_paddr = alloc_zeroed(&mut free, core::mem::size_of::<Tcb>());
    // SAFETY: both ranges were just taken from free RAM and zeroed; an all-zero
    // CNode is valid (every slot null) and no other reference to it exists.
    let cnode = unsafe { object_mut::<RootCNode>(cnode_paddr) };

    let mut bi = BootInfo::new_zeroed();
    bi.magic = bootinfo::BOOTINFO_MAGIC;
    bi.arch = ARCH as u32;
    bi.root_cnode_size_bits = u64::from(ROOT_CNODE_BITS);
    bi.ipc_buffer = bootinfo::IPC_BUFFER_VADDR;
    bi.archive_vaddr = bootinfo::ARCHIVE_VADDR;
    bi.archive_size = archive.total_size();
    bi.archive_phys = archive_phys;
    bi.kernel_phys = kernel;
    for (i, ram) in params.ram[..params.ram_count].iter().take(bi.ram.len()).enumerate() {
        bi.ram[i] = *ram;
        bi.ram_count = i as u64 + 1;
    }

    let initial = [
        (InitCap::InitThreadTcb, Cap::new(CapType::Tcb, tcb_paddr, 0)),
        (InitCap::InitThreadCNode, Cap::new(CapType::CNode, cnode_paddr, u64::from(ROOT_CNODE_BITS))),
        (InitCap::InitThreadVSpace, Cap::new(CapType::VSpace, vspace.root_paddr(), 0)),
        (InitCap::IrqControl, Cap::new(CapType::IrqControl, 0, 0)),
        (InitCap::AsidControl, HAS_ASID_CONTROL.then(|| Cap::new(CapType::AsidControl, 0, 0)).flatten()),
        (InitCap::BootInfoFrame, Cap::new(CapType::Frame, bootinfo_frame, 0)),
        (InitCap::InitThreadIpcBuffer, Cap::new(CapType::Frame, ipc_frame, 1)),
        (InitCap::SchedControl, Cap::new(CapType::SchedControl, 0, 0)),
    ];
    for (slot, cap) in initial {
        if let Some(cap) = cap {
            cnode.set(slot as u64, cap);
        }
    }
    let mut next = keel_abi::cap::FIRST_FREE_INIT_SLOT;
    let slots = 1u64 << ROOT_CNODE_BITS;
    bi.archive_frames.start = next;
    for i in 0..archive_pages {
        let cap = Cap::new(CapType::Frame, archive_phys.start + i * PAGE, 0).expect("invariant: page aligned");
        if !cnode.set(next, cap) {
            panic!("boot archive needs {archive_pages} frame caps; the root CNode has {slots} slots");
        }
        next += 1;
    }
    bi.archive_frames.end = next;
    bi.untyped.start = next;
    for region in free.regions() {
        for (paddr, bits) in untyped_blocks(*region) {
            let index = bi.untyped_count as usize;
            if index == MAX_UNTYPED || next == slots {
                crate::kprintln!("KEEL: BootInfo is full; {:#x} ({} bits) not given out", paddr, bits);
                continue;
            }
            bi.untyped_list[index] = UntypedDesc { paddr, size_bits: bits, ..Default::default() };
            cnode.set(next, Cap::untyped(paddr, bits, false).expect("invariant: untyped aligned"));
            bi.untyped_count += 1;
            next += 1;
        }
    }
    bi.untyped.end = next;
    bi.empty = SlotRegion { start: next, end: slots };
    // SAFETY: the BootInfo frame was just allocated from free RAM and holds nothing else.
    unsafe { copy_to_phys(bootinfo_frame, zerocopy::IntoBytes::as_bytes(&bi)) };

    let context = UserContext::new_thread(elf.entry(), bootinfo::ROOT_STACK_TOP, bootinfo::BOOTINFO_VADDR);
    // SAFETY: the TCB range was allocated and zeroed above and is referenced nowhere else.
    let tcb = unsafe { object_mut::<Tcb>(tcb_paddr) };
    *tcb = Tcb::new(context, vspace.root_paddr(), cnode_paddr, root.name());
    crate::sched::set_current(tcb_paddr);
    crate::kprintln!(
        "KEEL: root task '{}': {} untyped caps, slots {}..{} empty; entering user mode",
        root.name(),
        bi.untyped_count,
        bi.empty.start,
        bi.empty.end
    );
    Machine::enter_user(&mut tcb.context, &vspace)
}

/// Copies each PT_LOAD segment into fresh frames and maps them with the segment's rights.
fn load_segments(elf: &Elf<'_>, vspace: &mut VSpace, free: &mut FreeMemory) {
    for seg in elf.segments() {
        let data = elf.segment_data(&seg);
        let first = seg.vaddr / PAGE * PAGE;
        let end = (seg.vaddr + seg.mem_size).div_ceil(PAGE) * PAGE;
        let rights = PageRights { write: seg.write, execute: seg.execute };
        let mut page = first;
        while page < end {
            let frame = match vspace.translate(page) {
                // Two segments may share a page; the second reuses the first's frame.
                Some((paddr, _)) => paddr,
                None => map_new_frame(vspace, page, rights, free),
            };
            // Copy the part of the segment's file bytes that falls in this page.
            let lo = page.max(seg.vaddr);
            let hi = (page + PAGE).min(seg.vaddr + seg.file_size);
            if lo < hi {
                let src = &data[(lo - seg.vaddr) as usize..(hi - seg.vaddr) as usize];
                // SAFETY: `frame` is a frame this loader allocated for the root task.
                unsafe { copy_to_phys(frame + (lo - page), src) };
            }
            page += PAGE;
        }
    }
}

fn map_new_frame(vspace: &mut VSpace, vaddr: u64, rights: PageRights, free: &mut FreeMemory) -> u64 {
    let frame = alloc_zeroed(free, PAGE_SIZE);
    vspace.map_page(vaddr, frame, rights, free).unwrap_or_else(|e| boot_failed("root task mapping", e));
    frame
}

fn alloc_zeroed(free: &mut FreeMemory, bytes: usize) -> u64 {
    let paddr = free
        .alloc(bytes as u64, PAGE)
        .unwrap_or_else(|e| panic!("not enough RAM to build the root task ({e:?}); give QEMU more memory"));
    // SAFETY: the range was just taken from free RAM.
    unsafe { zero_phys(paddr, bytes) };
    paddr
}

fn boot_failed(what: &str, e: MapError) -> ! {
    panic!("building the root task's {what} failed: {e:?}")
}
