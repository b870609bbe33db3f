//! PSCI, used to power the machine off when semihosting is unavailable. The
//! conduit (`hvc` or `smc`) comes from the device tree; a call through a
//! conduit that is not there traps as undefined and the vector steps over it.

use crate::kernel_cell::KernelCell;

/// PSCI `SYSTEM_OFF` (SMC32 fast call).
const SYSTEM_OFF: u64 = 0x8400_0008;

/// How PSCI calls reach the firmware or hypervisor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conduit {
    /// `hvc #0`.
    Hvc,
    /// `smc #0`.
    Smc,
}

/// The conduit the device tree named (`None`: unknown).
static CONDUIT: KernelCell<Option<Conduit>> = KernelCell::new(None);

core::arch::global_asm!(
    r#"
    .section .text
    .balign 4
    .global keel_psci_hvc_call
keel_psci_hvc_call:
    .global keel_psci_hvc
keel_psci_hvc:
    hvc #0
    ret
    .global keel_psci_smc_call
keel_psci_smc_call:
    .global keel_psci_smc
keel_psci_smc:
    smc #0
    ret
"#
);

extern "C" {
    /// Makes PSCI call `function` through `hvc` (arguments `x0`.., result `x0`).
    fn keel_psci_hvc_call(function: u64) -> u64;
    /// Makes PSCI call `function` through `smc`.
    fn keel_psci_smc_call(function: u64) -> u64;
}

/// Records the conduit the device tree names.
pub fn set_conduit(conduit: Option<Conduit>) {
    CONDUIT.write(conduit);
}

/// Powers the machine off. Returns only if PSCI is absent or refuses.
pub fn system_off() {
    match CONDUIT.read() {
        // SAFETY: SYSTEM_OFF takes no arguments and does not return on success;
        // a missing conduit traps and is skipped by the vector.
        Some(Conduit::Hvc) => unsafe {
            keel_psci_hvc_call(SYSTEM_OFF);
        },
        // SAFETY: as above, through the secure monitor.
        Some(Conduit::Smc) => unsafe {
            keel_psci_smc_call(SYSTEM_OFF);
        },
        None => {}
    }
}
