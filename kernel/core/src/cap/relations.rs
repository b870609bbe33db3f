//! How caps relate, following seL4: which memory a cap covers, whether two caps
//! name the same region or object, which derived caps are revocable, and what
//! Copy, Mint and Mutate turn a cap into (`deriveCap`, `updateCapData`,
//! `maskCapRights`). Pure functions of cap values; the derivation tree that uses
//! them is in `cspace::mdb`.

use super::Cap;
use keel_abi::object::{
    ENDPOINT_BITS, LARGE_PAGE_BITS, NOTIFICATION_BITS, PAGE_TABLE_BITS, REPLY_BITS, SLOT_BITS,
    SMALL_PAGE_BITS, TCB_BITS,
};
use keel_abi::{CapRights, CapType, Error, ObjectType};

/// log2 size of an ASID pool object.
pub use keel_abi::vspace::ASID_POOL_BITS;

impl Cap {
    /// log2 of the size of the memory region the cap covers; 0 for caps that
    /// cover no memory (null, IRQ and control caps).
    pub fn object_size_bits(&self) -> u8 {
        match self.kind() {
            CapType::Untyped | CapType::SchedContext => self.untyped_size_bits(),
            CapType::Zombie if self.zombie_is_tcb() => TCB_BITS,
            CapType::CNode | CapType::Zombie => self.cnode_radix().saturating_add(SLOT_BITS),
            CapType::Tcb => TCB_BITS,
            CapType::Endpoint => ENDPOINT_BITS,
            CapType::Notification => NOTIFICATION_BITS,
            CapType::Reply => REPLY_BITS,
            CapType::Frame if self.frame_is_large() => LARGE_PAGE_BITS,
            CapType::Frame => SMALL_PAGE_BITS,
            CapType::VSpace
            | CapType::PageUpperDirectory
            | CapType::PageDirectory
            | CapType::PageTable => PAGE_TABLE_BITS,
            CapType::AsidPool => ASID_POOL_BITS,
            CapType::Null
            | CapType::IrqControl
            | CapType::IrqHandler
            | CapType::IoPortControl
            | CapType::IoPort
            | CapType::SchedControl
            | CapType::AsidControl
            | CapType::Debug => 0,
        }
    }

    /// True when the cap covers object memory.
    pub fn has_memory(&self) -> bool {
        self.object_size_bits() != 0
    }

    /// The covered region as `(first byte, last byte)`; `None` without memory.
    fn region(&self) -> Option<(u64, u64)> {
        if !self.has_memory() {
            return None;
        }
        let size = 1u64.checked_shl(u32::from(self.object_size_bits()))?;
        Some((self.paddr(), self.paddr().checked_add(size - 1)?))
    }

    /// seL4 `sameRegionAs`: `b` is covered by `self`'s authority. An Untyped
    /// covers every cap whose memory lies inside it; IrqControl covers every IRQ
    /// cap and IoPortControl every I/O port cap; otherwise both name the same
    /// object of the same type and size (an IoPort: the same port range).
    pub fn same_region_as(&self, b: &Cap) -> bool {
        let a = self;
        match a.kind() {
            CapType::Untyped => match (a.region(), b.region()) {
                (Some((a0, a1)), Some((b0, b1))) => a0 <= b0 && b1 <= a1,
                _ => false,
            },
            CapType::IrqControl => matches!(b.kind(), CapType::IrqControl | CapType::IrqHandler),
            CapType::IoPortControl => {
                matches!(b.kind(), CapType::IoPortControl | CapType::IoPort)
            }
            CapType::IrqHandler | CapType::IoPort | CapType::SchedControl => {
                b.kind() == a.kind() && b.word1() == a.word1()
            }
            CapType::AsidControl | CapType::Debug => b.kind() == a.kind(),
            CapType::CNode => {
                b.kind() == CapType::CNode
                    && b.paddr() == a.paddr()
                    && b.cnode_radix() == a.cnode_radix()
            }
            CapType::Frame => {
                b.kind() == CapType::Frame
                    && b.paddr() == a.paddr()
                    && b.frame_is_large() == a.frame_is_large()
            }
            CapType::Null | CapType::Zombie => false,
            _ => b.kind() == a.kind() && b.paddr() == a.paddr(),
        }
    }

    /// seL4 `sameObjectAs`: deleting one of two such caps leaves the object alive.
    /// Untyped caps are the same object only with the same base and size; an
    /// IrqControl is not the same object as an IrqHandler; frames also compare
    /// the device flag; a Zombie is the same object as any cap with memory at its
    /// address, so that a cap to a CNode or TCB being destroyed is never final.
    pub fn same_object_as(&self, b: &Cap) -> bool {
        let a = self;
        let zombie_match = |z: &Cap, o: &Cap| {
            o.kind() != CapType::Untyped && o.has_memory() && o.paddr() == z.paddr()
        };
        match (a.kind(), b.kind()) {
            (CapType::Zombie, _) => zombie_match(a, b),
            (_, CapType::Zombie) => zombie_match(b, a),
            (CapType::Untyped, CapType::Untyped) => {
                a.paddr() == b.paddr()
                    && a.untyped_size_bits() == b.untyped_size_bits()
                    && a.is_device() == b.is_device()
            }
            (CapType::Untyped, _) => false,
            (CapType::IrqControl, CapType::IrqHandler)
            | (CapType::IoPortControl, CapType::IoPort) => false,
            (CapType::Frame, CapType::Frame) => {
                a.same_region_as(b) && a.is_device() == b.is_device()
            }
            _ => a.same_region_as(b),
        }
    }

    /// seL4 `isCapRevocable`: whether `derived`, made from `src`, may have
    /// children of its own in the derivation tree.
    pub fn is_revocable(derived: &Cap, src: &Cap) -> bool {
        match derived.kind() {
            CapType::Endpoint | CapType::Notification => derived.badge() != src.badge(),
            CapType::IrqHandler => src.kind() == CapType::IrqControl,
            CapType::IoPort => src.kind() == CapType::IoPortControl,
            CapType::Untyped => true,
            _ => false,
        }
    }

    /// seL4 `deriveCap` (without the untyped "no children" check, which needs the
    /// slot and is done by the CNode operations): the cap Copy and Mint insert.
    /// Zombie, IrqControl and IoPortControl caps derive to a null cap, which the CNode
    /// operations reject with `IllegalOperation`; frames lose their mapping.
    /// Reply caps copy (as in seL4's MCS kernel), so a server can be given one.
    ///
    /// # Errors
    /// `IllegalOperation` for an unmapped PageUpperDirectory, PageDirectory or
    /// PageTable, and for a VSpace without an ASID (seL4 lets only mapped
    /// paging structures and assigned roots be copied).
    pub fn derive(&self) -> Result<Cap, Error> {
        match self.kind() {
            CapType::Zombie | CapType::IrqControl | CapType::IoPortControl => Ok(Cap::NULL),
            CapType::Frame => Ok(self.with_mapping(None)),
            // An unmapped paging structure, or a VSpace without an ASID, has no
            // copies (seL4 `Arch_deriveCap`): a root gets at most one ASID.
            CapType::VSpace
            | CapType::PageUpperDirectory
            | CapType::PageDirectory
            | CapType::PageTable => {
                if self.is_mapped() {
                    Ok(*self)
                } else {
                    Err(Error::IllegalOperation)
                }
            }
            _ => Ok(*self),
        }
    }

    /// seL4 `updateCapData`: the cap Mint (`preserve` false) or Mutate and Rotate
    /// (`preserve` true) make with `data`. Endpoint and Notification take `data`
    /// as badge only when minting an unbadged cap (otherwise null); a CNode takes
    /// guard size `data & 0x3f` and guard `data >> 6` (null when guard and radix
    /// exceed 64 bits). Other types are unchanged.
    pub fn update_data(&self, preserve: bool, data: u64) -> Cap {
        match self.kind() {
            CapType::Endpoint | CapType::Notification => {
                if !preserve && self.badge() == 0 {
                    self.with_badge(data)
                } else {
                    Cap::NULL
                }
            }
            CapType::CNode => {
                let guard_size = (data & 0x3f) as u8;
                let guard = (data >> 6) & mask(guard_size);
                if u32::from(guard_size) + u32::from(self.cnode_radix()) > 64 {
                    Cap::NULL
                } else {
                    self.with_guard(guard_size, guard)
                }
            }
            _ => *self,
        }
    }

    /// seL4 `maskCapRights`: endpoints, notifications and frames keep only the
    /// rights also in `rights`; other caps are unchanged.
    pub fn mask_rights(&self, rights: CapRights) -> Cap {
        self.with_rights(self.rights().intersect(rights))
    }

    /// The cap `Untyped_Retype` puts in a slot for a new object of `ty` at
    /// `paddr`: all rights, badge 0, guard 0, untyped watermark 0. `size_bits`
    /// is the retype argument (untyped and sched-context size, CNode radix);
    /// `is_device` comes from the parent untyped.
    pub fn for_new_object(ty: ObjectType, paddr: u64, size_bits: u8, is_device: bool) -> Cap {
        match ty {
            ObjectType::Untyped => Cap::untyped(paddr, size_bits, is_device, 0),
            ObjectType::Tcb => Cap::tcb(paddr),
            ObjectType::Endpoint => Cap::endpoint(paddr, 0, CapRights::ALL),
            ObjectType::Notification => Cap::notification(paddr, 0, CapRights::ALL),
            ObjectType::CNode => Cap::cnode(paddr, size_bits, 0, 0),
            ObjectType::SchedContext => Cap::sched_context(paddr, size_bits),
            ObjectType::Reply => Cap::reply(paddr),
            ObjectType::VSpace => Cap::paging(CapType::VSpace, paddr),
            ObjectType::PageUpperDirectory => Cap::paging(CapType::PageUpperDirectory, paddr),
            ObjectType::PageDirectory => Cap::paging(CapType::PageDirectory, paddr),
            ObjectType::PageTable => Cap::paging(CapType::PageTable, paddr),
            ObjectType::SmallPage => Cap::frame(paddr, false, CapRights::ALL, is_device),
            ObjectType::LargePage => Cap::frame(paddr, true, CapRights::ALL, is_device),
        }
    }
}

/// The low `bits` bits set (all 64 for `bits >= 64`).
pub(crate) const fn mask(bits: u8) -> u64 {
    if bits >= 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions() {
        let u = Cap::untyped(0x10000, 16, false, 0);
        let ep = Cap::endpoint(0x1ffe0, 0, CapRights::ALL);
        assert!(u.same_region_as(&ep));
        assert!(!u.same_region_as(&Cap::endpoint(0x20000, 0, CapRights::ALL)));
        assert!(u.same_region_as(&Cap::untyped(0x18000, 15, false, 0)));
        assert!(!u.same_region_as(&Cap::irq_handler(3)));
        assert!(!u.same_object_as(&ep));
        assert!(u.same_object_as(&Cap::untyped(0x10000, 16, false, 5)));
        assert!(!u.same_object_as(&Cap::untyped(0x10000, 15, false, 0)));
        assert!(Cap::irq_control().same_region_as(&Cap::irq_handler(1)));
        assert!(!Cap::irq_control().same_object_as(&Cap::irq_handler(1)));
        assert!(Cap::irq_handler(1).same_object_as(&Cap::irq_handler(1)));
        assert!(!Cap::irq_handler(1).same_object_as(&Cap::irq_handler(2)));
        let ports = Cap::io_port(0x40, 0x43);
        assert!(Cap::io_port_control().same_region_as(&ports));
        assert!(!Cap::io_port_control().same_object_as(&ports));
        assert!(ports.same_object_as(&Cap::io_port(0x40, 0x43)));
        assert!(!ports.same_object_as(&Cap::io_port(0x40, 0x42)));
        let top = Cap::untyped(0xffff_ffff_0000, 47, false, 0);
        assert!(!top.same_region_as(&ep), "region end overflow is no match");
        assert!(ep.same_object_as(&Cap::endpoint(0x1ffe0, 5, CapRights::READ)));
        assert!(!ep.same_object_as(&Cap::notification(0x1ffe0, 0, CapRights::ALL)));
        let f = Cap::frame(0x1000, false, CapRights::ALL, false);
        assert!(f.same_region_as(&Cap::frame(0x1000, false, CapRights::ALL, true)));
        assert!(!f.same_object_as(&Cap::frame(0x1000, false, CapRights::ALL, true)));
        assert!(!Cap::cnode(0x1000, 2, 0, 0).same_object_as(&Cap::cnode(0x1000, 3, 0, 0)));
    }

    #[test]
    fn zombies_match_their_object() {
        let z = Cap::zombie(0x1000, 4, 16);
        assert!(z.same_object_as(&Cap::cnode(0x1000, 4, 0, 0)));
        assert!(Cap::cnode(0x1000, 4, 3, 1).same_object_as(&z));
        assert!(!z.same_object_as(&Cap::untyped(0x1000, 12, false, 0)));
        assert!(!z.same_object_as(&Cap::irq_control()));
        assert!(
            Cap::untyped(0x0, 20, false, 0).same_region_as(&z),
            "a zombie still holds its memory"
        );
        assert_eq!(z.object_size_bits(), 9);
    }

    #[test]
    fn tcb_zombies_match_their_tcb() {
        let z = Cap::tcb_zombie(0x1800);
        assert!(z.same_object_as(&Cap::tcb(0x1800)) && Cap::tcb(0x1800).same_object_as(&z));
        assert!(!z.same_object_as(&Cap::tcb(0x2000)));
        assert!(z.same_object_as(&z.with_zombie_count(3)));
        assert!(!z.same_object_as(&Cap::untyped(0x1800, 11, false, 0)));
        assert_eq!(z.object_size_bits(), TCB_BITS);
        assert!(Cap::untyped(0x1000, 12, false, 0).same_region_as(&z));
        assert!(
            !Cap::untyped(0x1000, 11, false, 0).same_region_as(&z),
            "the zombie covers the whole TCB, not just its slots"
        );
        assert!(!z.same_region_as(&Cap::tcb(0x1800)));
        assert_eq!(z.derive(), Ok(Cap::NULL));
    }

    #[test]
    fn revocable() {
        let ep = Cap::endpoint(0x40, 0, CapRights::ALL);
        assert!(Cap::is_revocable(&ep.with_badge(3), &ep));
        assert!(!Cap::is_revocable(&ep, &ep));
        assert!(Cap::is_revocable(&Cap::irq_handler(3), &Cap::irq_control()));
        assert!(!Cap::is_revocable(
            &Cap::irq_handler(3),
            &Cap::irq_handler(3)
        ));
        let ports = Cap::io_port(0x40, 0x43);
        assert!(Cap::is_revocable(&ports, &Cap::io_port_control()));
        assert!(!Cap::is_revocable(&ports, &ports));
        let u = Cap::untyped(0, 12, false, 0);
        assert!(Cap::is_revocable(&u, &u));
        assert!(!Cap::is_revocable(&Cap::tcb(0x800), &Cap::tcb(0x800)));
    }

    #[test]
    fn derive_and_update() {
        assert_eq!(Cap::zombie(0x40, 1, 2).derive(), Ok(Cap::NULL));
        assert_eq!(Cap::irq_control().derive(), Ok(Cap::NULL));
        assert_eq!(Cap::io_port_control().derive(), Ok(Cap::NULL));
        assert_eq!(Cap::reply(0x40).derive(), Ok(Cap::reply(0x40)));
        let f = Cap::frame(0x1000, false, CapRights::ALL, false);
        assert_eq!(f.with_mapping(Some(0x8000)).derive(), Ok(f));
        let pt = Cap::paging(CapType::PageTable, 0x1000);
        assert_eq!(pt.derive(), Err(Error::IllegalOperation));
        assert!(pt.with_mapping(Some(0)).derive().is_ok());
        let vs = Cap::paging(CapType::VSpace, 0x1000);
        assert_eq!(vs.derive(), Err(Error::IllegalOperation));
        assert_eq!(
            vs.with_mapping_in(3, 0).derive().map(|c| c.kind()),
            Ok(CapType::VSpace)
        );

        let ep = Cap::endpoint(0x40, 0, CapRights::ALL);
        assert_eq!(ep.update_data(false, 9).badge(), 9);
        assert!(ep.update_data(true, 9).is_null());
        assert!(ep.with_badge(1).update_data(false, 9).is_null());
        let cn = Cap::cnode(0x1000, 8, 0, 0);
        let g = cn.update_data(true, (0xabc << 6) | 12);
        assert_eq!((g.cnode_guard_size(), g.cnode_guard()), (12, 0xabc));
        assert_eq!(cn.update_data(false, (0xfff << 6) | 4).cnode_guard(), 0xf);
        assert!(cn.update_data(false, 57).is_null());
        assert_eq!(cn.update_data(false, 56).cnode_guard_size(), 56);
        assert_eq!(Cap::tcb(0x800).update_data(false, 5), Cap::tcb(0x800));

        assert_eq!(ep.mask_rights(CapRights::READ).rights(), CapRights::READ);
        assert_eq!(
            Cap::tcb(0x800).mask_rights(CapRights::NONE),
            Cap::tcb(0x800)
        );
        // A Debug cap copies, and Mint narrows it to an output cap.
        let debug = Cap::debug(CapRights::ALL);
        assert_eq!(debug.derive(), Ok(debug));
        let output = debug.mask_rights(CapRights::WRITE);
        assert_eq!(output.rights(), CapRights::WRITE);
        assert!(debug.same_object_as(&output) && !debug.has_memory());
        assert!(!Cap::is_revocable(&output, &debug));
    }

    #[test]
    fn new_objects() {
        let c = Cap::for_new_object(ObjectType::CNode, 0x1000, 4, false);
        assert_eq!(
            (c.kind(), c.cnode_radix(), c.object_size_bits()),
            (CapType::CNode, 4, 9)
        );
        let u = Cap::for_new_object(ObjectType::Untyped, 0x1000, 12, true);
        assert!(u.is_device() && u.free_index() == 0);
        let f = Cap::for_new_object(ObjectType::LargePage, 0x20_0000, 0, true);
        assert!(f.is_device() && f.object_size_bits() == 21 && f.rights() == CapRights::ALL);
        for &ty in ObjectType::ALL {
            let bits = ty.size_bits(12).unwrap_or(0);
            let cap = Cap::for_new_object(ty, 0x10_0000, 12, false);
            if ty != ObjectType::CNode {
                assert_eq!(cap.object_size_bits(), bits, "{ty:?}");
            }
        }
    }
}
