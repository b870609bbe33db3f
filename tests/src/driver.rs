//! The driver's side of running a test in a process of its own (sel4test's
//! model): for each test it retypes a fresh `2^`[`TEST_BITS`] untyped from
//! one large RAM untyped, builds the test process from it with keel-loader
//! (the `test-runner` program from the boot archive, given a BootInfo page
//! of its own, untypeds, and the driver's endpoint as report and fault
//! endpoint), waits for the report or a fault, revokes the untyped, and
//! checks that the memory came back by retyping all of it into one untyped.
//!
//! A test process that faults is reported failed with the fault. A test
//! process that hangs without faulting blocks the driver: there is no timer
//! to bound the wait yet (it comes with the MCS issue). The build tool
//! catches the hang instead (the kernel going idle, or a minute with no
//! output), reports the test failed and boots the suite again after it.

use crate::protocol::*;
use crate::support::{identify, slot, step};
use crate::TestResult;
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use keel_abi::archive::Archive;
use keel_abi::bootinfo::{SlotRegion, UntypedDesc};
use keel_abi::bootinfo::{BOOTINFO_MAGIC, BOOTINFO_VADDR, IPC_BUFFER_VADDR};
use keel_abi::fault::FaultType;
use keel_abi::{BootInfo, CapRights, CapType, InitCap, ObjectType};
use keel_loader::{ExtraPage, GivenCap, ProcessConfig, Resources, SlotLayout, CALLER_SLOTS};
use keel_sys::cap::{init_thread, Endpoint, Untyped};
use keel_sys::{CPtr, Cap};
use zerocopy::{FromZeros, IntoBytes};

/// The boot-archive name of the program tests run in.
pub const RUNNER_PROGRAM: &str = "test-runner";
/// Slots the driver keeps at the end of the root CNode's empty range.
const DRIVER_SLOTS: u64 = 40;
/// Offsets in the driver's slots.
const TEST_UT: u64 = 0;
const PROCESS_UT: u64 = 1;
const ENDPOINT: u64 = 2;
const FAULT_EP: u64 = 3;
const CHECK: u64 = 4;
const LOADER: u64 = 5;
const UNTYPEDS: u64 = LOADER + CALLER_SLOTS;
const _: () = assert!(UNTYPEDS + UNTYPED_BITS.len() as u64 <= DRIVER_SLOTS);

/// What the driver keeps between tests.
pub struct Driver {
    boot_info: &'static BootInfo,
    image: &'static [u8],
    /// Root slot and physical address of the RAM untyped tests come from.
    source: (u64, u64),
    /// The driver's first slot.
    base: u64,
}

impl Driver {
    /// Finds the runner program and a RAM untyped of at least `2^TEST_BITS`.
    ///
    /// # Errors
    /// When either is missing or the empty range is too small.
    pub fn new(boot_info: &'static BootInfo) -> Result<Driver, String> {
        let archive = Archive::parse(keel_rt::boot_archive(boot_info))
            .map_err(|e| format!("the boot archive: {e:?}"))?;
        let entry = archive
            .find(RUNNER_PROGRAM)
            .ok_or("the boot archive has no `test-runner` program")?;
        let source = boot_info
            .untypeds()
            .iter()
            .enumerate()
            .filter(|(_, u)| u.is_device == 0 && u.size_bits >= TEST_BITS)
            .min_by_key(|(_, u)| u.size_bits)
            .map(|(i, u)| (boot_info.untyped.start + i as u64, u.paddr))
            .ok_or("no RAM untyped is large enough for a test process")?;
        if boot_info.empty.len() < 2 * DRIVER_SLOTS {
            return Err("the root CNode's empty range is too small".into());
        }
        Ok(Driver {
            boot_info,
            image: archive.data(entry),
            source,
            base: boot_info.empty.end - DRIVER_SLOTS,
        })
    }

    fn slot(&self, offset: u64) -> u64 {
        self.base + offset
    }

    fn cap<T: keel_sys::cap::CapKind>(&self, offset: u64) -> Cap<T> {
        Cap::from_cptr(CPtr::from_bits(self.slot(offset)))
    }

    /// Retypes one object from the test untyped into driver slot `offset`.
    fn retype(&self, ty: ObjectType, bits: u64, offset: u64) -> TestResult {
        let dst = init_thread::CNODE.absolute_cptr_with_depth(0, 0);
        let ut: Cap<Untyped> = self.cap(TEST_UT);
        step(
            ut.untyped_retype(ty, bits, &dst, self.slot(offset), 1),
            "driver: retype from the test untyped",
        )
    }

    /// Runs test `index` of [`crate::cases::TESTS`] in a process of its own,
    /// then tears the process down and checks its memory came back.
    pub fn run(&self, index: usize) -> TestResult {
        let result = self.setup(index).and_then(|()| self.wait());
        result.and(self.teardown())
    }

    /// Carves the test's memory, builds the process and starts it.
    fn setup(&self, index: usize) -> TestResult {
        let root = init_thread::CNODE.absolute_cptr_with_depth(0, 0);
        let source: Cap<Untyped> = Cap::from_cptr(CPtr::from_bits(self.source.0));
        step(
            slot(self.source.0).revoke(),
            "driver: reset the source untyped",
        )?;
        step(
            source.untyped_retype(
                ObjectType::Untyped,
                TEST_BITS.into(),
                &root,
                self.slot(TEST_UT),
                1,
            ),
            "driver: retype the test untyped",
        )?;
        // Largest first, so nothing is padded and the addresses follow.
        let mut list = vec![UntypedDesc::default(); UNTYPED_BITS.len()];
        let mut offset = 0u64;
        for (i, &bits) in UNTYPED_BITS.iter().enumerate() {
            if i == 1 {
                self.retype(ObjectType::Untyped, PROCESS_BITS.into(), PROCESS_UT)?;
                offset += 1 << PROCESS_BITS;
            }
            offset = offset.next_multiple_of(1 << bits);
            self.retype(ObjectType::Untyped, bits.into(), UNTYPEDS + i as u64)?;
            list[i] = UntypedDesc {
                paddr: self.source.1 + offset,
                size_bits: bits,
                ..Default::default()
            };
            offset += 1 << bits;
        }
        self.retype(ObjectType::Endpoint, 0, ENDPOINT)?;
        step(
            slot(self.slot(FAULT_EP)).mint(&slot(self.slot(ENDPOINT)), CapRights::ALL, FAULT_BADGE),
            "driver: mint the fault endpoint",
        )?;
        let page = self.boot_info_page(index, &list);
        let pages = [ExtraPage {
            vaddr: BOOTINFO_VADDR,
            bytes: &page,
        }];
        let caps = [
            GivenCap {
                cptr: init_thread::SCHED_CONTROL.cptr(),
                rights: CapRights::ALL,
                badge: 0,
            },
            GivenCap {
                cptr: init_thread::ASID_POOL.cptr(),
                rights: CapRights::ALL,
                badge: 0,
            },
        ];
        let cfg = ProcessConfig {
            priority: 255,
            mcp: Some(255),
            fault_ep: Some(CPtr::from_bits(self.slot(FAULT_EP))),
            arg: BOOTINFO_VADDR,
            caps: &caps,
            stack_pages: 16,
            layout: SlotLayout {
                cnode_radix: CNODE_RADIX,
                first_given: FIRST_GIVEN,
                first_loader: FIRST_LOADER,
            },
            ipc_buffer_slot: Some(InitCap::InitThreadIpcBuffer as u64),
            extra_pages: &pages,
            sched_context_slot: Some(SLOT_SCHED_CONTEXT),
            start: false,
            ..ProcessConfig::default()
        };
        let res = Resources {
            untyped: self.cap(PROCESS_UT),
            cnode: init_thread::CNODE,
            slots: self.slot(LOADER)..self.slot(LOADER + CALLER_SLOTS),
            vspace: init_thread::VSPACE,
            scratch_vaddr: crate::process::SCRATCH_VADDR,
            asid_pool: init_thread::ASID_POOL,
            authority: init_thread::TCB,
            sched_control: init_thread::SCHED_CONTROL,
        };
        let p = keel_loader::spawn(self.image, &res, &cfg)
            .map_err(|e| format!("driver: building the test process: {e}"))?;
        if p.slots_used > EMPTY_START {
            return Err(format!(
                "driver: the loader used slots up to {}, past the empty range's start {EMPTY_START}",
                p.slots_used
            ));
        }
        step(
            p.cnode
                .absolute_cptr_with_depth(SLOT_REPORT, CNODE_RADIX)
                .mint(&slot(self.slot(ENDPOINT)), CapRights::WRITE, REPORT_BADGE),
            "driver: give the test process its report endpoint",
        )?;
        for i in 0..UNTYPED_BITS.len() as u64 {
            let dst = p
                .cnode
                .absolute_cptr_with_depth(FIRST_UNTYPED + i, CNODE_RADIX);
            step(
                dst.move_(&slot(self.slot(UNTYPEDS + i))),
                "driver: move an untyped to the test process",
            )?;
        }
        step(p.tcb.tcb_resume(), "driver: start the test process")
    }

    /// The test process's BootInfo page, with the test index in its last word.
    fn boot_info_page(&self, index: usize, untypeds: &[UntypedDesc]) -> Vec<u8> {
        let root = self.boot_info;
        let mut bi = BootInfo::new_zeroed();
        bi.magic = BOOTINFO_MAGIC;
        bi.arch = root.arch;
        bi.untyped_count = untypeds.len() as u32;
        bi.root_cnode_size_bits = CNODE_RADIX;
        bi.empty = SlotRegion {
            start: EMPTY_START,
            end: 1 << CNODE_RADIX,
        };
        bi.untyped = SlotRegion {
            start: FIRST_UNTYPED,
            end: FIRST_UNTYPED + untypeds.len() as u64,
        };
        bi.archive_phys = root.archive_phys;
        bi.kernel_phys = root.kernel_phys;
        bi.ipc_buffer = IPC_BUFFER_VADDR;
        bi.ram_count = root.ram_count;
        bi.ram = root.ram;
        bi.untyped_list[..untypeds.len()].copy_from_slice(untypeds);
        let mut page = vec![0u8; keel_abi::PAGE_SIZE];
        page[..core::mem::size_of::<BootInfo>()].copy_from_slice(bi.as_bytes());
        page[TEST_INDEX_OFFSET..].copy_from_slice(&(index as u64).to_le_bytes());
        page
    }

    /// Waits for the test process's report or fault.
    fn wait(&self) -> TestResult {
        let ep: Cap<Endpoint> = self.cap(ENDPOINT);
        // Reports are Sends; a fault's Call is never answered (the
        // process is torn down), so no Reply object.
        let r = ep.recv(None);
        let n = r.info.length().min(MAX_WORDS);
        let words: Vec<u64> = (0..n)
            .map(|i| match r.mrs.get(i) {
                Some(&w) => w,
                None => keel_sys::ipc::mr(i).unwrap_or(0),
            })
            .collect();
        match (r.badge, r.info.label()) {
            (REPORT_BADGE, LABEL_PASS) => Ok(()),
            (REPORT_BADGE, LABEL_FAIL) => Err(unpack_reason(&words).replace('\n', " ")),
            (FAULT_BADGE, label) => Err(format!(
                "the test process faulted: {:?} (label {label}), message {words:x?}",
                FaultType::try_from(label).ok()
            )),
            (badge, label) => Err(format!(
                "driver: an unexpected message (badge {badge}, label {label})"
            )),
        }
    }

    /// Destroys the test process and checks every byte came back.
    fn teardown(&self) -> TestResult {
        let ut = slot(self.slot(TEST_UT));
        step(ut.revoke(), "driver: revoke the test untyped")?;
        let root = init_thread::CNODE.absolute_cptr_with_depth(0, 0);
        let whole = self.cap::<Untyped>(TEST_UT).untyped_retype(
            ObjectType::Untyped,
            TEST_BITS.into(),
            &root,
            self.slot(CHECK),
            1,
        );
        let back = whole.map_err(|e| {
            format!("driver: the test's memory did not come back: retyping all of it: {e}")
        });
        step(ut.revoke(), "driver: revoke the check untyped")?;
        step(ut.delete(), "driver: delete the test untyped")?;
        step(
            slot(self.source.0).revoke(),
            "driver: reset the source untyped",
        )?;
        back?;
        for offset in 0..DRIVER_SLOTS {
            if identify(self.slot(offset))? != CapType::Null {
                return Err(format!(
                    "driver: slot {} not empty after teardown",
                    self.slot(offset)
                ));
            }
        }
        Ok(())
    }
}
