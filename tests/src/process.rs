//! Child processes for tests: the `child` program from the boot archive,
//! started by keel-loader from an untyped the test takes through [`Env`]
//! (so the driver's revoke tears the process down).

use crate::Env;
use alloc::format;
use alloc::string::String;
use keel_abi::archive::Archive;
use keel_abi::CapRights;
use keel_loader::{Process, ProcessConfig, Resources, CALLER_SLOTS};
use keel_sys::cap::{init_thread, Untyped};
use keel_sys::{CPtr, Cap};

/// Where the loader maps frames in the root task while it fills them (a
/// 512 GiB region no other test uses).
pub const SCRATCH_VADDR: u64 = 0x0000_6000_0000_0000;
/// log2 of the untyped a child is built from.
pub const CHILD_UNTYPED_BITS: u8 = 18;

/// The child program's ELF image from the boot archive.
pub fn child_image(env: &Env) -> Result<&'static [u8], String> {
    let archive = Archive::parse(keel_rt::boot_archive(env.boot_info))
        .map_err(|e| format!("the boot archive: {e:?}"))?;
    let entry = archive
        .find("child")
        .ok_or("the boot archive has no `child` program")?;
    Ok(archive.data(entry))
}

/// The loader's resources over `untyped`, with fresh root slots.
pub fn resources(env: &Env, untyped: Cap<Untyped>) -> Result<Resources, String> {
    let first = env.slots(CALLER_SLOTS)?;
    Ok(Resources {
        untyped,
        cnode: init_thread::CNODE,
        slots: first..first + CALLER_SLOTS,
        vspace: init_thread::VSPACE,
        scratch_vaddr: SCRATCH_VADDR,
        asid_pool: init_thread::ASID_POOL,
        authority: init_thread::TCB,
        sched_control: init_thread::SCHED_CONTROL,
    })
}

/// Starts the child from a fresh untyped of [`CHILD_UNTYPED_BITS`], with an
/// output-only copy of the Debug cap at `keel_child::DEBUG_SLOT` for its
/// failure messages; returns the process and the untyped (with its size)
/// that holds it.
pub fn spawn_child(env: &Env, cfg: &ProcessConfig) -> Result<(Process, Cap<Untyped>, u8), String> {
    let (ut, bits) = env.untyped(CHILD_UNTYPED_BITS)?;
    let res = resources(env, ut)?;
    let p = keel_loader::spawn(child_image(env)?, &res, cfg)
        .map_err(|e| format!("spawning the child: {e}"))?;
    p.cnode
        .absolute_cptr_with_depth(keel_child::DEBUG_SLOT, cfg.layout.cnode_radix)
        .mint(
            &crate::support::slot(init_thread::DEBUG.cptr().bits()),
            CapRights::WRITE,
            0,
        )
        .map_err(|e| format!("giving the child an output-only Debug cap: {e}"))?;
    Ok((p, ut, bits))
}

/// Root CNode slot `s` as a `Cap<T>`.
pub fn cap<T: keel_sys::cap::CapKind>(s: u64) -> Cap<T> {
    Cap::from_cptr(CPtr::from_bits(s))
}
