//! The test process's side: [`run_child`] runs the one test its BootInfo
//! page names, with the resources that page describes, and reports to the
//! driver (see [`crate::protocol`]). It trusts the driver, which built it.

use crate::protocol::{pack_reason, LABEL_FAIL, LABEL_PASS, SLOT_REPORT, TEST_INDEX_OFFSET};
use crate::{cases, TestResult};
use alloc::format;
use keel_abi::{BootInfo, MessageInfo};
use keel_sys::cap::{init_thread, Endpoint};
use keel_sys::{CPtr, Cap};

/// Runs the test the BootInfo page names, reports, and stops this thread.
pub fn run_child(boot_info: &'static BootInfo) -> ! {
    keel_rt::set_panic_handler(|info| report(Err(format!("panic: {info}"))));
    let base = core::ptr::from_ref(boot_info).cast::<u8>();
    // SAFETY: `boot_info` is the start of the page the driver maps read-only
    // at BOOTINFO_VADDR for this process's lifetime; TEST_INDEX_OFFSET + 8
    // is within that page and 8-aligned, and any bytes are a valid u64.
    let index = unsafe { core::ptr::read_volatile(base.add(TEST_INDEX_OFFSET).cast::<u64>()) };
    let result = match cases::TESTS.get(index as usize) {
        Some(test) => crate::run_here(boot_info, test),
        None => Err(format!(
            "the driver named test index {index}, which does not exist"
        )),
    };
    report(result)
}

/// Sends the result to the driver and stops this thread for good.
fn report(result: TestResult) -> ! {
    let ep: Cap<Endpoint> = Cap::from_cptr(CPtr::from_bits(SLOT_REPORT));
    match result {
        Ok(()) => ep.send(MessageInfo::new(LABEL_PASS, 0, 0, 0), [0; 4]),
        Err(reason) => {
            let words = pack_reason(&reason);
            let mut regs = [0; 4];
            for (i, &w) in words.iter().enumerate() {
                match regs.get_mut(i) {
                    Some(r) => *r = w,
                    None => {
                        let _ = keel_sys::ipc::set_mr(i, w);
                    }
                }
            }
            ep.send(MessageInfo::new(LABEL_FAIL, 0, 0, words.len() as u64), regs);
        }
    }
    loop {
        let _ = init_thread::TCB.tcb_suspend();
    }
}
