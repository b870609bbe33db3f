//! Arm semihosting, used only to stop QEMU with an exit status (`SYS_EXIT`).
//! When QEMU runs without `-semihosting-config enable=on`, the `hlt` traps as
//! an undefined instruction; the kernel's vector steps over it (see `trap`) and
//! the call simply returns.

/// Semihosting operation `SYS_EXIT`.
const SYS_EXIT: u64 = 0x18;
/// `ADP_Stopped_ApplicationExit`: the program finished, with a status.
const ADP_STOPPED_APPLICATION_EXIT: u64 = 0x2_0026;

core::arch::global_asm!(
    r#"
    .section .text
    .balign 4
    .global keel_semihosting_call
keel_semihosting_call:
    .global keel_semihosting_hlt
keel_semihosting_hlt:
    hlt #0xf000
    ret
"#
);

extern "C" {
    /// Makes semihosting call `op` with parameter `param` (`w0`, `x1`).
    fn keel_semihosting_call(op: u64, param: *const u64) -> u64;
}

/// Asks the host to exit with `status`. Returns only if semihosting is off.
pub fn exit(status: u32) {
    let block = [ADP_STOPPED_APPLICATION_EXIT, u64::from(status)];
    // SAFETY: `block` is a valid two-word parameter block in kernel memory the
    // host reads through the current translation; without semihosting the
    // trapping `hlt` is skipped by the vector and nothing else happens.
    unsafe { keel_semihosting_call(SYS_EXIT, block.as_ptr()) };
}
