//! Reading user memory. A user pointer is a claim until every page it touches
//! has been translated through the caller's VSpace.

use crate::arch::{AddressSpace, VSpace};
use crate::object::copy_from_phys;
use keel_abi::{Error, PAGE_SIZE};

/// Copies `out.len()` bytes from user address `vaddr` in `vspace`.
///
/// # Errors
/// `InvalidArgument` if any byte is not mapped or the range wraps.
pub fn copy_from_user(vspace: &VSpace, vaddr: u64, out: &mut [u8]) -> Result<(), Error> {
    let mut done = 0usize;
    while done < out.len() {
        let at = vaddr
            .checked_add(done as u64)
            .ok_or(Error::InvalidArgument)?;
        let (paddr, _) = vspace.translate(at).ok_or(Error::InvalidArgument)?;
        let in_page = PAGE_SIZE - (at as usize % PAGE_SIZE);
        let n = in_page.min(out.len() - done);
        // SAFETY: `paddr..paddr+n` lies in one user page that the VSpace maps,
        // which is RAM the kernel window covers.
        unsafe { copy_from_phys(paddr, &mut out[done..done + n]) };
        done += n;
    }
    Ok(())
}
