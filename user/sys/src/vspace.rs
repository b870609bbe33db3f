//! Address spaces: mapping frames and paging structures into a VSpace, and
//! ASIDs, with rust-sel4's method names (`frame_map`, `page_table_map`,
//! `asid_pool_assign`, ...). The attribute word and the levels are described
//! in `keel_abi::vspace`.
//!
//! ```text
//! AsidControl --make_pool(4 KiB untyped)--> AsidPool --assign--> VSpace (has an ASID)
//! PageUpperDirectory/PageDirectory/PageTable --page_table_map(vspace, vaddr)--> VSpace
//! Frame --frame_map(vspace, vaddr, rights, attrs)--> VSpace
//! ```

use crate::cap::{
    AsidControl, AsidPool, CapKind, Frame, LargePage, PageDirectory, PageTable, PageUpperDirectory,
    SmallPage, Untyped, VSpace,
};
use crate::invocation::{invoke, AbsoluteCPtr};
use crate::{Cap, InvocationError};
use keel_abi::vspace::VmAttributes;
use keel_abi::{CapRights, Label};

/// Kinds of frame caps: [`Frame`] (either size), [`SmallPage`], [`LargePage`].
pub trait FrameKind: CapKind {}
impl FrameKind for Frame {}
impl FrameKind for SmallPage {}
impl FrameKind for LargePage {}

/// Paging structures below the root, with their invocation labels.
pub trait PageTableKind: CapKind {
    /// The Map label.
    const MAP: Label;
    /// The Unmap label.
    const UNMAP: Label;
}

impl PageTableKind for PageUpperDirectory {
    const MAP: Label = Label::PageUpperDirectoryMap;
    const UNMAP: Label = Label::PageUpperDirectoryUnmap;
}

impl PageTableKind for PageDirectory {
    const MAP: Label = Label::PageDirectoryMap;
    const UNMAP: Label = Label::PageDirectoryUnmap;
}

impl PageTableKind for PageTable {
    const MAP: Label = Label::PageTableMap;
    const UNMAP: Label = Label::PageTableUnmap;
}

impl<T: FrameKind> Cap<T> {
    /// Maps the frame at `vaddr` in `vspace` with `rights` (masked by the
    /// cap's) and `attrs`. On a cap already mapped there, changes the rights
    /// and attributes (remap).
    ///
    /// # Errors
    /// seL4's: `AlignmentError`, `DeleteFirst` (something is mapped there),
    /// `FailedLookup` (a paging structure is missing; the detail's bits left
    /// say which), `InvalidArgument` (outside the user half, or the cap is
    /// mapped at another address of this VSpace), `InvalidCapability` (a
    /// VSpace without an ASID, or the cap is mapped in another VSpace).
    pub fn frame_map(
        self,
        vspace: Cap<VSpace>,
        vaddr: u64,
        rights: CapRights,
        attrs: VmAttributes,
    ) -> Result<(), InvocationError> {
        let mrs = [vaddr, rights.bits(), attrs.bits()];
        invoke(self.cptr(), Label::FrameMap, &mrs, &[vspace.cptr()]).map(|_| ())
    }

    /// Removes the frame's mapping, if it has one.
    ///
    /// # Errors
    /// `InvalidCapability` when the cap is not a frame.
    pub fn frame_unmap(self) -> Result<(), InvocationError> {
        invoke(self.cptr(), Label::FrameUnmap, &[], &[]).map(|_| ())
    }

    /// The frame's physical address.
    ///
    /// # Errors
    /// `IllegalOperation` when the cap is not a frame.
    pub fn frame_get_address(self) -> Result<u64, InvocationError> {
        invoke(self.cptr(), Label::FrameGetAddress, &[], &[]).map(|[paddr, _]| paddr)
    }
}

impl<T: PageTableKind> Cap<T> {
    /// Maps the structure into `vspace` where it covers `vaddr` (rounded down).
    ///
    /// # Errors
    /// seL4's: `DeleteFirst` (a structure is mapped there), `FailedLookup`
    /// (the level above is missing), `InvalidArgument` (outside the user
    /// half), `InvalidCapability` (this cap is mapped, or a VSpace without an
    /// ASID).
    pub fn page_table_map(
        self,
        vspace: Cap<VSpace>,
        vaddr: u64,
        attrs: VmAttributes,
    ) -> Result<(), InvocationError> {
        invoke(
            self.cptr(),
            T::MAP,
            &[vaddr, attrs.bits()],
            &[vspace.cptr()],
        )
        .map(|_| ())
    }

    /// Unmaps the structure and clears it.
    ///
    /// # Errors
    /// `RevokeFirst` while other caps to it exist.
    pub fn page_table_unmap(self) -> Result<(), InvocationError> {
        invoke(self.cptr(), T::UNMAP, &[], &[]).map(|_| ())
    }
}

impl Cap<AsidControl> {
    /// Turns `untyped` (exactly 4 KiB of RAM, no children) into an ASID pool
    /// whose cap goes to `dst`.
    ///
    /// # Errors
    /// seL4's: `DeleteFirst` (all pools exist, or `dst` is full),
    /// `InvalidCapability` (a wrong untyped), `RevokeFirst`, `FailedLookup`.
    pub fn asid_control_make_pool(
        self,
        untyped: Cap<Untyped>,
        dst: &AbsoluteCPtr,
    ) -> Result<(), InvocationError> {
        let caps = [untyped.cptr(), dst.root.cptr()];
        invoke(
            self.cptr(),
            Label::AsidControlMakePool,
            &[dst.index, dst.depth],
            &caps,
        )
        .map(|_| ())
    }
}

impl Cap<AsidPool> {
    /// Gives `vspace` an ASID from this pool.
    ///
    /// # Errors
    /// seL4's: `InvalidCapability` (not a VSpace, or it has an ASID),
    /// `DeleteFirst` (the pool is full), `FailedLookup` (the pool is gone).
    pub fn asid_pool_assign(self, vspace: Cap<VSpace>) -> Result<(), InvocationError> {
        invoke(self.cptr(), Label::AsidPoolAssign, &[], &[vspace.cptr()]).map(|_| ())
    }
}
