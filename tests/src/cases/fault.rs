//! FAULT: user faults are reported by the kernel, which stops the faulting
//! thread and stays up. Each of these ends its boot, so each runs in its own.

use crate::{Env, TestResult};
use alloc::format;
use alloc::string::String;
use keel_abi::bootinfo::BOOTINFO_VADDR;

/// An address no Keel root task maps.
const UNMAPPED: u64 = 0x0000_4000_0000_0000;

pub fn write_read_only(env: &Env) -> TestResult {
    env.expect_kernel_report(&format!("vm-fault (write) addr={BOOTINFO_VADDR:#x}"));
    // SAFETY: the BootInfo page is mapped read-only, so this store faults and
    // the kernel stops this thread before any memory changes. That is the test.
    unsafe { core::ptr::write_volatile(BOOTINFO_VADDR as usize as *mut u64, 0) };
    Err(String::from(
        "a store to the read-only BootInfo page did not fault",
    ))
}

pub fn read_unmapped(env: &Env) -> TestResult {
    env.expect_kernel_report(&format!("vm-fault (read) addr={UNMAPPED:#x}"));
    // SAFETY: nothing is mapped at UNMAPPED, so this load faults and the kernel
    // stops this thread; no value is ever produced.
    let value = unsafe { core::ptr::read_volatile(UNMAPPED as usize as *const u64) };
    Err(format!(
        "a load from an unmapped address returned {value:#x}"
    ))
}

pub fn execute_no_exec(env: &Env) -> TestResult {
    env.expect_kernel_report(&format!("vm-fault (execute) addr={BOOTINFO_VADDR:#x}"));
    // SAFETY: the BootInfo page is mapped without execute rights, so the first
    // instruction fetch there faults and the kernel stops this thread.
    let jump: extern "C" fn() = unsafe { core::mem::transmute(BOOTINFO_VADDR as usize) };
    jump();
    Err(String::from("a jump into a non-executable page returned"))
}

pub fn undefined_instruction(env: &Env) -> TestResult {
    env.expect_kernel_report("undefined-instruction");
    keel_sys::arch::undefined_instruction()
}
