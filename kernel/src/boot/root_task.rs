//! Building the root task: its address space (ELF segments, stack, IPC buffer,
//! BootInfo, the boot archive read-only) with ASID 1 from the first ASID pool,
//! its CNode with the initial caps, the Untyped caps for the rest of RAM, its
//! TCB; then entering it.

use crate::arch::{
    AddressSpace, MapError, PageRights, UserContext, UserRegisters, VSpace, ARCH, ELF_MACHINE,
};
use crate::boot::BootParams;
use crate::object::cnode::ROOT_CNODE_BITS;
use crate::object::handle::{SchedContextRef, Thread};
use crate::object::memory::KernelMemory;
use crate::object::tcb::{tcb_slot, CSPACE_ROOT_SLOT, IPC_BUFFER_SLOT, VSPACE_ROOT_SLOT};
use crate::object::{copy_to_phys, zero_phys};
use keel_abi::archive::Archive;
use keel_abi::bootinfo::{self, BootInfo, MemRegion, SlotRegion, UntypedDesc, MAX_UNTYPED};
use keel_abi::elf::Elf;
use keel_abi::{CapRights, CapType, InitCap, PAGE_SIZE};
use keel_kernel_core::cap::Cap;
use keel_kernel_core::cspace::{insert_derived, write_slot, MdbNode, Slot, SLOT_SIZE};
use keel_kernel_core::memory::{untyped_blocks, FreeMemory};
use keel_kernel_core::object_memory::ObjectMemory;
use zerocopy::FromZeros;

const PAGE: u64 = PAGE_SIZE as u64;
const READ_ONLY: PageRights = PageRights {
    write: false,
    execute: false,
};
const READ_WRITE: PageRights = PageRights {
    write: true,
    execute: false,
};

/// Builds the root task from the archive's root entry and enters it.
pub fn start(
    archive: &Archive<'_>,
    archive_phys: MemRegion,
    kernel: MemRegion,
    params: &BootParams,
    mut free: FreeMemory,
) -> ! {
    let root = archive.root();
    let elf = match Elf::parse(archive.data(root), ELF_MACHINE) {
        Ok(elf) => elf,
        Err(e) => panic!(
            "root task '{}' is not a loadable {} ELF ({e:?})",
            root.name(),
            ARCH.name()
        ),
    };
    let mut vspace = VSpace::new(&mut free).unwrap_or_else(|e| boot_failed("VSpace", e));
    load_segments(&elf, &mut vspace, &mut free);
    let stack_pages = bootinfo::ROOT_STACK_SIZE / PAGE;
    for i in 0..stack_pages {
        let vaddr = bootinfo::ROOT_STACK_TOP - (i + 1) * PAGE;
        map_new_frame(&mut vspace, vaddr, READ_WRITE, &mut free);
    }
    let bootinfo_frame = map_new_frame(&mut vspace, bootinfo::BOOTINFO_VADDR, READ_ONLY, &mut free);
    let ipc_frame = map_new_frame(
        &mut vspace,
        bootinfo::IPC_BUFFER_VADDR,
        READ_WRITE,
        &mut free,
    );
    let archive_pages = (archive_phys.end - archive_phys.start).div_ceil(PAGE);
    for i in 0..archive_pages {
        let (vaddr, paddr) = (
            bootinfo::ARCHIVE_VADDR + i * PAGE,
            archive_phys.start + i * PAGE,
        );
        vspace
            .map_page(vaddr, paddr, READ_ONLY, &mut free)
            .unwrap_or_else(|e| boot_failed("archive mapping", e));
    }

    let cnode_paddr = alloc_zeroed(&mut free, (1usize << ROOT_CNODE_BITS) * SLOT_SIZE as usize);
    let tcb_object = alloc_zeroed(&mut free, 1 << keel_abi::object::TCB_BITS);
    let pool = alloc_zeroed(&mut free, 1 << keel_abi::vspace::ASID_POOL_BITS);
    let sc_bits = keel_abi::object::MIN_SCHED_CONTEXT_BITS;
    let sc_object = alloc_zeroed(&mut free, 1 << sc_bits);
    let (pool_cap, asid) = crate::object::vspace::asid::boot_pool(pool, vspace.root_paddr());
    let mut mem = KernelMemory;
    let cnode_slot = |index: u64| cnode_paddr + index * SLOT_SIZE;
    // Every CPtr resolves in this one level: the guard takes the bits above the radix.
    let root_cnode = Cap::cnode(cnode_paddr, ROOT_CNODE_BITS, 64 - ROOT_CNODE_BITS, 0);

    let mut bi = BootInfo::new_zeroed();
    bi.magic = bootinfo::BOOTINFO_MAGIC;
    bi.arch = ARCH as u32;
    bi.root_cnode_size_bits = u64::from(ROOT_CNODE_BITS);
    bi.ipc_buffer = bootinfo::IPC_BUFFER_VADDR;
    bi.archive_vaddr = bootinfo::ARCHIVE_VADDR;
    bi.archive_size = archive.total_size();
    bi.archive_phys = archive_phys;
    bi.kernel_phys = kernel;
    for (i, ram) in params.ram[..params.ram_count]
        .iter()
        .take(bi.ram.len())
        .enumerate()
    {
        bi.ram[i] = *ram;
        bi.ram_count = i as u64 + 1;
    }

    let root_vspace = Cap::paging(CapType::VSpace, vspace.root_paddr()).with_mapping_in(asid, 0);
    let initial = [
        (InitCap::InitThreadTcb, Cap::tcb(tcb_object)),
        (InitCap::InitThreadCNode, root_cnode),
        (InitCap::InitThreadVSpace, root_vspace),
        (InitCap::IrqControl, Cap::irq_control()),
        (InitCap::AsidControl, Cap::asid_control()),
        (InitCap::InitThreadAsidPool, pool_cap),
        (
            InitCap::BootInfoFrame,
            Cap::frame(bootinfo_frame, false, CapRights::ALL, false),
        ),
        (
            InitCap::InitThreadIpcBuffer,
            Cap::frame(ipc_frame, false, CapRights::ALL, false),
        ),
        (InitCap::SchedControl, Cap::sched_control(0)),
        (
            InitCap::InitThreadSchedContext,
            Cap::sched_context(sc_object, sc_bits),
        ),
        (InitCap::Debug, Cap::debug(CapRights::ALL)),
    ];
    for (slot, cap) in initial.into_iter().chain(crate::arch::initial_arch_caps()) {
        provide(&mut mem, cnode_slot(slot as u64), cap);
    }
    let mut next = keel_abi::cap::FIRST_FREE_INIT_SLOT;
    let slots = 1u64 << ROOT_CNODE_BITS;
    bi.archive_frames.start = next;
    for i in 0..archive_pages {
        if next == slots {
            panic!(
                "boot archive needs {archive_pages} frame caps; the root CNode has {slots} slots"
            );
        }
        provide(
            &mut mem,
            cnode_slot(next),
            Cap::frame(archive_phys.start + i * PAGE, false, CapRights::READ, false),
        );
        next += 1;
    }
    bi.archive_frames.end = next;
    bi.untyped.start = next;
    let ram = free.regions().iter().map(|r| (*r, false));
    let devices = params.devices[..params.device_count]
        .iter()
        .map(|r| (*r, true));
    for (region, is_device) in ram.chain(devices) {
        for (paddr, bits) in untyped_blocks(region) {
            let index = bi.untyped_count as usize;
            if index == MAX_UNTYPED || next == slots {
                crate::kprintln!(
                    "KEEL: BootInfo is full; {:#x} ({} bits) not given out",
                    paddr,
                    bits
                );
                continue;
            }
            bi.untyped_list[index] = UntypedDesc {
                paddr,
                size_bits: bits,
                is_device: u8::from(is_device),
                ..Default::default()
            };
            // RAM is handed out used up to the end, as seL4 does: the first retype
            // resets (zeroes) it, so memory above a watermark is always zero.
            // Device memory is never zeroed.
            let watermark = if is_device { 0 } else { 1 << bits };
            provide(
                &mut mem,
                cnode_slot(next),
                Cap::untyped(paddr, bits, is_device, watermark),
            );
            bi.untyped_count += 1;
            next += 1;
        }
    }
    bi.untyped.end = next;
    bi.empty = SlotRegion {
        start: next,
        end: slots,
    };
    // SAFETY: the BootInfo frame was just allocated from free RAM and holds nothing else.
    unsafe { copy_to_phys(bootinfo_frame, zerocopy::IntoBytes::as_bytes(&bi)) };

    insert_derived(
        &mut mem,
        cnode_slot(InitCap::InitThreadCNode as u64),
        tcb_slot(tcb_object, CSPACE_ROOT_SLOT),
        root_cnode,
    );
    let context = UserContext::new_thread(
        elf.entry(),
        bootinfo::ROOT_STACK_TOP,
        bootinfo::BOOTINFO_VADDR,
    );
    let tcb = Thread::from_cap(&Cap::tcb(tcb_object)).expect("invariant: a TCB cap");
    tcb.init_root(context, bootinfo::IPC_BUFFER_VADDR, root.name());
    for (from, to) in [
        (InitCap::InitThreadVSpace, VSPACE_ROOT_SLOT),
        (InitCap::InitThreadIpcBuffer, IPC_BUFFER_SLOT),
    ] {
        let cap = keel_kernel_core::cspace::read_cap(&mem, cnode_slot(from as u64));
        insert_derived(
            &mut mem,
            cnode_slot(from as u64),
            tcb_slot(tcb_object, to),
            cap,
        );
    }
    let context = SchedContextRef::from_cap(&Cap::sched_context(sc_object, sc_bits))
        .expect("invariant: a SchedContext cap");
    crate::object::sched_control::configure_root(context);
    crate::object::sched_context::bind(context, tcb);
    crate::sched::make_runnable(tcb);
    crate::kprintln!(
        "KEEL: root task '{}': {} untyped caps, slots {}..{} empty; entering user mode",
        root.name(),
        bi.untyped_count,
        bi.empty.start,
        bi.empty.end
    );
    crate::sched::schedule()
}

/// Copies each PT_LOAD segment into fresh frames and maps them with the segment's rights.
fn load_segments(elf: &Elf<'_>, vspace: &mut VSpace, free: &mut FreeMemory) {
    for seg in elf.segments() {
        let data = elf.segment_data(&seg);
        let first = seg.vaddr / PAGE * PAGE;
        let end = (seg.vaddr + seg.mem_size).div_ceil(PAGE) * PAGE;
        let rights = PageRights {
            write: seg.write,
            execute: seg.execute,
        };
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

/// Puts an original cap (revocable, first with its badge, as seL4's boot does) in a slot.
fn provide(mem: &mut impl ObjectMemory, slot: u64, cap: Cap) {
    let mdb = MdbNode {
        revocable: true,
        first_badged: true,
        ..MdbNode::default()
    };
    write_slot(mem, slot, &Slot { cap, mdb });
}

fn map_new_frame(
    vspace: &mut VSpace,
    vaddr: u64,
    rights: PageRights,
    free: &mut FreeMemory,
) -> u64 {
    let frame = alloc_zeroed(free, PAGE_SIZE);
    vspace
        .map_page(vaddr, frame, rights, free)
        .unwrap_or_else(|e| boot_failed("root task mapping", e));
    frame
}

fn alloc_zeroed(free: &mut FreeMemory, bytes: usize) -> u64 {
    let paddr = free.alloc(bytes as u64, PAGE).unwrap_or_else(|e| {
        panic!("not enough RAM to build the root task ({e:?}); give QEMU more memory")
    });
    // SAFETY: the range was just taken from free RAM.
    unsafe { zero_phys(paddr, bytes) };
    paddr
}

fn boot_failed(what: &str, e: MapError) -> ! {
    panic!("building the root task's {what} failed: {e:?}")
}
