//! The driver's side of running a test in a process of its own (sel4test's
//! model): for each test it retypes a fresh `2^`[`TEST_BITS`] untyped from
//! one large RAM untyped, builds the test process from it with keel-loader
//! (the `test-runner` program from the boot archive, given a BootInfo page
//! of its own, untypeds, and the driver's endpoint as report and fault
//! endpoint), waits for the report or a fault, revokes the untyped, and
//! checks that the memory came back by retyping all of it into one untyped.
//!
//! A test process that faults is reported failed with the fault. One that
//! hangs is caught by a watchdog: a thread of the driver's on a scheduling
//! context of [`WATCHDOG_BUDGET_US`] every [`WATCHDOG_PERIOD_US`], which
//! sleeps by yielding (each Yield waits for its next refill) and after
//! [`WATCHDOG_PERIODS`] periods sends the driver a timeout, so the driver
//! reports the test failed and goes on. Time is virtual under `-icount`:
//! a test blocked for good times out at once in real time. The build tool
//! still catches what the watchdog cannot (the kernel itself stuck).

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
use keel_sys::cap::{init_thread, Endpoint, SchedContext, Tcb, Untyped};
use keel_sys::sched::SchedContextFlags;
use keel_sys::tcb::UserContext;
use keel_sys::{CPtr, Cap};
use zerocopy::{FromZeros, IntoBytes};

/// The boot-archive name of the program tests run in.
pub const RUNNER_PROGRAM: &str = "test-runner";
/// Slots the driver keeps at the end of the root CNode's empty range.
const DRIVER_SLOTS: u64 = 43;
/// Offsets in the driver's slots.
const TEST_UT: u64 = 0;
const PROCESS_UT: u64 = 1;
const ENDPOINT: u64 = 2;
const FAULT_EP: u64 = 3;
const CHECK: u64 = 4;
const LOADER: u64 = 5;
const WATCHDOG_TCB: u64 = LOADER + CALLER_SLOTS;
const WATCHDOG_SC: u64 = WATCHDOG_TCB + 1;
const WATCHDOG_EP: u64 = WATCHDOG_TCB + 2;
const UNTYPEDS: u64 = WATCHDOG_TCB + 3;
const _: () = assert!(UNTYPEDS + UNTYPED_BITS.len() as u64 <= DRIVER_SLOTS);

/// The watchdog's period and budget, µs, and how many periods a test gets.
const WATCHDOG_PERIOD_US: u64 = 250_000;
const WATCHDOG_BUDGET_US: u64 = 100;
const WATCHDOG_PERIODS: u64 = 12;
/// The badge of the watchdog's cap to the driver's endpoint.
const WATCHDOG_BADGE: u64 = 3;

const WATCHDOG_STACK_SIZE: usize = 4096;

#[repr(C, align(16))]
struct WatchdogStack(core::cell::UnsafeCell<[u8; WATCHDOG_STACK_SIZE]>);
// SAFETY: one watchdog runs at a time (each test's is destroyed with the
// test's memory before the next starts); the driver only takes the address.
unsafe impl Sync for WatchdogStack {}
static WATCHDOG_STACK: WatchdogStack =
    WatchdogStack(core::cell::UnsafeCell::new([0; WATCHDOG_STACK_SIZE]));

/// Sleeps [`WATCHDOG_PERIODS`] periods, then tells the driver the test
/// timed out (through the endpoint cap `ep`), once a period, until the
/// driver destroys it.
extern "C" fn watchdog(ep: u64) -> ! {
    for _ in 0..WATCHDOG_PERIODS {
        let _ = keel_sys::r#yield();
    }
    let ep: Cap<Endpoint> = Cap::from_cptr(CPtr::from_bits(ep));
    loop {
        ep.nb_send(keel_abi::MessageInfo::new(0, 0, 0, 0), [0; 4]);
        let _ = keel_sys::r#yield();
    }
}

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

    /// Runs test `index` of [`crate::cases::TESTS`] in a process of its own
    /// (holding a copy of the Debug cap when `debug`), then tears the
    /// process down and checks its memory came back.
    pub fn run(&self, index: usize, debug: bool) -> TestResult {
        let result = self.setup(index, debug).and_then(|()| self.wait());
        result.and(self.teardown())
    }

    /// Carves the test's memory, builds the process and starts it.
    fn setup(&self, index: usize, debug: bool) -> TestResult {
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
        if debug {
            step(
                p.cnode
                    .absolute_cptr_with_depth(SLOT_DEBUG, CNODE_RADIX)
                    .copy(&slot(init_thread::DEBUG.cptr().bits()), CapRights::ALL),
                "driver: give the test process the Debug cap",
            )?;
        }
        for i in 0..UNTYPED_BITS.len() as u64 {
            let dst = p
                .cnode
                .absolute_cptr_with_depth(FIRST_UNTYPED + i, CNODE_RADIX);
            step(
                dst.move_(&slot(self.slot(UNTYPEDS + i))),
                "driver: move an untyped to the test process",
            )?;
        }
        self.start_watchdog()?;
        step(p.tcb.tcb_resume(), "driver: start the test process")
    }

    /// Starts this test's watchdog (made from the test's memory, so the
    /// teardown destroys it).
    fn start_watchdog(&self) -> TestResult {
        self.retype(ObjectType::Tcb, 0, WATCHDOG_TCB)?;
        self.retype(
            ObjectType::SchedContext,
            keel_abi::object::MIN_SCHED_CONTEXT_BITS.into(),
            WATCHDOG_SC,
        )?;
        step(
            slot(self.slot(WATCHDOG_EP)).mint(
                &slot(self.slot(ENDPOINT)),
                CapRights::WRITE,
                WATCHDOG_BADGE,
            ),
            "driver: mint the watchdog's endpoint cap",
        )?;
        let t: Cap<Tcb> = self.cap(WATCHDOG_TCB);
        let sc: Cap<SchedContext> = self.cap(WATCHDOG_SC);
        step(
            init_thread::SCHED_CONTROL.sched_control_configure_flags(
                sc,
                WATCHDOG_BUDGET_US,
                WATCHDOG_PERIOD_US,
                0,
                0,
                SchedContextFlags::NONE,
            ),
            "driver: configure the watchdog's context",
        )?;
        step(
            sc.sched_context_bind(t),
            "driver: bind the watchdog's context",
        )?;
        step(
            t.tcb_set_space(
                CPtr::from_bits(0),
                init_thread::CNODE,
                0,
                init_thread::VSPACE,
            ),
            "driver: the watchdog's spaces",
        )?;
        step(
            t.tcb_set_priority(init_thread::TCB, keel_abi::object::MAX_PRIORITY),
            "driver: the watchdog's priority",
        )?;
        let top = WATCHDOG_STACK.0.get() as u64 + WATCHDOG_STACK_SIZE as u64;
        let ctx = UserContext::new_thread(watchdog, top, self.slot(WATCHDOG_EP));
        step(
            t.tcb_write_all_registers(true, &ctx),
            "driver: start the watchdog",
        )
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
            (WATCHDOG_BADGE, _) => Err(format!(
                "timed out: no result after {} s of virtual time",
                WATCHDOG_PERIODS * WATCHDOG_PERIOD_US / 1_000_000
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
