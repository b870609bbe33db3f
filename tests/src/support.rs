//! Test resources: slots from the root CNode's empty range and untyped
//! capabilities, handed out through [`crate::Env`] and given back after each
//! test (revoke every untyped used, delete every slot handed out), then checked.

use crate::{Env, TestResult};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};
use keel_abi::{BootInfo, CapType};
use keel_sys::cap::{init_thread, Reply, Untyped};
use keel_sys::{AbsoluteCPtr, CPtr, Cap};

/// The resources one test has taken.
pub struct Resources {
    boot_info: &'static BootInfo,
    next_slot: Cell<u64>,
    untypeds: RefCell<Vec<u64>>,
}

/// The root CNode slot `index`, addressed as syscalls address CPtrs.
pub fn slot(index: u64) -> AbsoluteCPtr {
    init_thread::CNODE.absolute_cptr(CPtr::from_bits(index))
}

/// The type of the cap in root CNode slot `index`.
pub fn identify(index: u64) -> Result<CapType, String> {
    init_thread::DEBUG
        .debug_cap_identify(CPtr::from_bits(index))
        .map_err(|e| format!("identify slot {index}: {e}"))
}

impl Resources {
    /// Nothing taken yet.
    pub fn new(boot_info: &'static BootInfo) -> Self {
        Resources {
            boot_info,
            next_slot: Cell::new(boot_info.empty.start),
            untypeds: RefCell::new(Vec::new()),
        }
    }

    /// Revokes every untyped the test used and deletes every slot it took,
    /// then checks the empty range is empty again.
    pub fn give_back(&self) -> TestResult {
        for &u in self.untypeds.borrow().iter() {
            slot(u)
                .revoke()
                .map_err(|e| format!("cleanup: revoking untyped slot {u}: {e}"))?;
        }
        for s in self.boot_info.empty.start..self.next_slot.get() {
            slot(s)
                .delete()
                .map_err(|e| format!("cleanup: deleting slot {s}: {e}"))?;
        }
        for s in self.boot_info.empty.start..self.boot_info.empty.end {
            if identify(s)? != CapType::Null {
                return Err(format!(
                    "slot {s} of the empty range still holds a cap after cleanup"
                ));
            }
        }
        Ok(())
    }
}

impl Env {
    /// Takes `n` consecutive empty slots of the root CNode; returns the first.
    ///
    /// # Errors
    /// When the empty range is used up.
    pub fn slots(&self, n: u64) -> Result<u64, String> {
        let r = &self.resources;
        let first = r.next_slot.get();
        let end = first
            .checked_add(n)
            .filter(|e| *e <= self.boot_info.empty.end);
        let end = end
            .ok_or_else(|| format!("only {} empty slots left", self.boot_info.empty.end - first))?;
        r.next_slot.set(end);
        Ok(first)
    }

    /// The smallest untyped of at least `2^min_bits` bytes that this test has
    /// not taken yet; the driver revokes it after the test.
    ///
    /// # Errors
    /// When no such untyped is left.
    pub fn untyped(&self, min_bits: u8) -> Result<(Cap<Untyped>, u8), String> {
        self.pick_untyped(min_bits, false)
    }

    /// As [`Env::untyped`], for device untyped.
    ///
    /// # Errors
    /// When no such untyped is left.
    pub fn device_untyped(&self, min_bits: u8) -> Result<(Cap<Untyped>, u8), String> {
        self.pick_untyped(min_bits, true)
    }

    /// The device untyped that covers physical address `paddr`; the driver
    /// revokes it after the test.
    ///
    /// # Errors
    /// When no device untyped covers it, or this test has taken it already.
    pub fn device_untyped_covering(&self, paddr: u64) -> Result<keel_init::DeviceUntyped, String> {
        let bi = self.boot_info;
        let found = keel_init::DeviceUntyped::all(bi)
            .into_iter()
            .find(|u| {
                paddr
                    .checked_sub(u.paddr)
                    .is_some_and(|o| o >> u.size_bits == 0)
            })
            .ok_or_else(|| format!("no device untyped covers {paddr:#x}"))?;
        let mut taken = self.resources.untypeds.borrow_mut();
        if taken.contains(&found.slot) {
            return Err(format!(
                "the device untyped over {paddr:#x} is taken already"
            ));
        }
        taken.push(found.slot);
        Ok(found)
    }

    fn pick_untyped(&self, min_bits: u8, device: bool) -> Result<(Cap<Untyped>, u8), String> {
        let bi = self.boot_info;
        let taken = self.resources.untypeds.borrow().clone();
        let best = bi
            .untypeds()
            .iter()
            .enumerate()
            .filter(|(_, u)| (u.is_device != 0) == device)
            .map(|(i, u)| (bi.untyped.start + i as u64, u.size_bits))
            .filter(|(s, bits)| *bits >= min_bits && !taken.contains(s))
            .min_by_key(|(_, bits)| *bits);
        let Some((s, bits)) = best else {
            return match device {
                false => self.carve(min_bits, &taken),
                true => Err(format!("no device untyped of 2^{min_bits} bytes left")),
            };
        };
        self.resources.untypeds.borrow_mut().push(s);
        Ok((Cap::from_cptr(CPtr::from_bits(s)), bits))
    }

    /// When every root untyped that fits is taken (how many the boot makes
    /// depends on where free memory starts, which moves as the boot archive
    /// grows): an untyped of exactly `2^min_bits` retyped from one this test
    /// took, the largest first, in a slot of its own; revoking the parent
    /// at the end takes it too.
    fn carve(&self, min_bits: u8, taken: &[u64]) -> Result<(Cap<Untyped>, u8), String> {
        let bi = self.boot_info;
        let mut parents: Vec<(u64, u8)> = bi
            .untypeds()
            .iter()
            .enumerate()
            .map(|(i, u)| (bi.untyped.start + i as u64, u))
            .filter(|(s, u)| u.is_device == 0 && u.size_bits > min_bits && taken.contains(s))
            .map(|(s, u)| (s, u.size_bits))
            .collect();
        parents.sort_by_key(|&(_, bits)| core::cmp::Reverse(bits));
        for (parent, _) in parents {
            let dest = self.slots(1)?;
            let made = Cap::<Untyped>::from_cptr(CPtr::from_bits(parent)).untyped_retype(
                keel_abi::ObjectType::Untyped,
                min_bits.into(),
                &init_thread::CNODE.absolute_cptr_with_depth(0, 0),
                dest,
                1,
            );
            if made.is_ok() {
                return Ok((Cap::from_cptr(CPtr::from_bits(dest)), min_bits));
            }
        }
        Err(format!("no untyped of 2^{min_bits} bytes left"))
    }
}

/// Fails unless `result` is the error `expected` (a plain `Error` or an
/// `InvocationError`, whose detail is not compared).
pub fn expect_error<T: core::fmt::Debug, E: core::fmt::Debug + PartialEq<keel_abi::Error>>(
    result: Result<T, E>,
    expected: keel_abi::Error,
    what: &str,
) -> TestResult {
    match result {
        Err(e) if e == expected => Ok(()),
        other => Err(format!("{what}: expected {expected:?}, got {other:?}")),
    }
}

/// Fails unless `result` is the invocation error `expected`; returns its
/// detail words.
pub fn expect_detail<T: core::fmt::Debug>(
    result: Result<T, keel_sys::InvocationError>,
    expected: keel_abi::Error,
    what: &str,
) -> Result<[u64; 2], String> {
    match result {
        Err(e) if e == expected => Ok(e.detail()),
        other => Err(format!("{what}: expected {expected:?}, got {other:?}")),
    }
}

/// Turns a kernel error (with its detail, for an invocation) into a test
/// failure naming the step.
pub fn step<T, E: core::fmt::Display>(result: Result<T, E>, what: &str) -> Result<T, String> {
    result.map_err(|e| format!("{what}: {e}"))
}

/// Fails unless root CNode slot `index` holds a cap of type `kind`.
pub fn expect_type(index: u64, kind: CapType) -> TestResult {
    let found = identify(index)?;
    if found == kind {
        Ok(())
    } else {
        Err(format!("slot {index} holds {found:?}, expected {kind:?}"))
    }
}

/// A Reply object in a fresh root slot, for receiving Calls (MCS).
///
/// # Errors
/// When no untyped or slot is left.
pub fn reply_object(env: &Env) -> Result<Cap<Reply>, String> {
    let s = crate::cases::retype::make(env, 12, keel_abi::ObjectType::Reply, 0, 1)?;
    Ok(Cap::from_cptr(CPtr::from_bits(s)))
}
