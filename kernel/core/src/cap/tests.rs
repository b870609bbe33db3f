//! Unit tests of the capability format: every type's fields round-trip
//! through the two words.

use super::*;

#[test]
fn untyped_and_cnode_fields() {
    let u = Cap::untyped(0x4000_0000, 20, true, 0x3000);
    assert_eq!(
        (u.kind(), u.paddr(), u.untyped_size_bits(), u.is_device()),
        (CapType::Untyped, 0x4000_0000, 20, true)
    );
    assert_eq!(u.free_index(), 0x3000);
    assert_eq!(u.with_free_index(0).free_index(), 0);
    assert!(!Cap::untyped(0x1000, 47, false, 0).is_device());
    let c = Cap::cnode(0xffff_ffff_ffe0, 28, 36, 0xabc);
    assert_eq!(
        (
            c.paddr(),
            c.cnode_radix(),
            c.cnode_guard_size(),
            c.cnode_guard()
        ),
        (0xffff_ffff_ffe0, 28, 36, 0xabc)
    );
    let g = c.with_guard(64, u64::MAX);
    assert_eq!(
        (g.cnode_radix(), g.cnode_guard_size(), g.cnode_guard()),
        (28, 64, u64::MAX)
    );
}

#[test]
fn badged_and_frames() {
    let e = Cap::endpoint(0x2000, 7, CapRights::READ);
    assert_eq!(
        (e.kind(), e.badge(), e.rights()),
        (CapType::Endpoint, 7, CapRights::READ)
    );
    assert_eq!(e.with_rights(CapRights::ALL).rights(), CapRights::ALL);
    assert_eq!(e.with_badge(9).badge(), 9);
    let n = Cap::notification(0x2040, u64::MAX, CapRights::ALL);
    assert_eq!((n.kind(), n.badge()), (CapType::Notification, u64::MAX));
    let f = Cap::frame(0x20_0000, true, CapRights::WRITE, true);
    assert!(f.frame_is_large() && f.is_device() && !f.is_mapped());
    let m = f.with_mapping(Some(0x4000_0000));
    assert!(m.is_mapped() && m.mapped_vaddr() == 0x4000_0000 && m.rights() == CapRights::WRITE);
    assert_eq!(m.with_mapping(None), f);
    let pt = Cap::paging(CapType::PageTable, 0x5000).with_mapping(Some(0x20_0000));
    assert!(pt.is_mapped());
    let fm = f.with_mapping_in(0xffff, 0x7fff_ffff_f000);
    assert_eq!(
        (fm.is_mapped(), fm.mapped_asid(), fm.mapped_vaddr()),
        (true, 0xffff, 0x7fff_ffff_f000)
    );
    assert_eq!(fm.with_mapping(None), f);
    let vs = Cap::paging(CapType::VSpace, 0x6000).with_mapping_in(7, 0);
    assert!(vs.is_mapped() && vs.mapped_asid() == 7 && vs.paddr() == 0x6000);
    assert_eq!(Cap::tcb(0x800).rights(), CapRights::ALL);
    assert_eq!(Cap::tcb(0x800).with_mapping(Some(1)), Cap::tcb(0x800));
}

#[test]
fn other_types() {
    assert_eq!(Cap::irq_handler(33).word1(), 33);
    assert_eq!(Cap::sched_control(3).kind(), CapType::SchedControl);
    assert_eq!(Cap::asid_pool(0x1000, 512).word1(), 512);
    assert_eq!(Cap::sched_context(0x1000, 9).untyped_size_bits(), 9);
    assert_eq!(Cap::reply(0x20).kind(), CapType::Reply);
    assert!(Cap::null().is_null() && Cap::default().is_null());
    assert!(Cap::from_words([31, 5]).is_null());
    assert_eq!(
        Cap::from_words(Cap::asid_control().words()),
        Cap::asid_control()
    );
    assert_eq!(Cap::irq_control().kind(), CapType::IrqControl);
    let ports = Cap::io_port(0x40, 0xffff);
    assert_eq!(
        (ports.kind(), ports.io_port_range()),
        (CapType::IoPort, (0x40, 0xffff))
    );
    assert_eq!(Cap::io_port_control().kind(), CapType::IoPortControl);
}

#[test]
fn debug_caps_keep_their_rights() {
    let d = Cap::debug(CapRights::ALL);
    assert_eq!(
        (d.kind(), d.rights(), d.paddr()),
        (CapType::Debug, CapRights::ALL, 0)
    );
    let output = d.with_rights(CapRights::WRITE);
    assert_eq!(
        (output.kind(), output.rights()),
        (CapType::Debug, CapRights::WRITE)
    );
    assert_eq!(Cap::from_words(output.words()), output);
}

#[test]
fn zombie_fields() {
    let z = Cap::zombie(0x7fff_ffff_f000, 28, 1 << 28);
    assert_eq!(
        (
            z.cnode_radix(),
            z.zombie_count(),
            z.zombie_is_top(),
            z.zombie_link()
        ),
        (28, 1 << 28, true, 0)
    );
    let link = 0xffff_ffff_ffe0;
    let n = z.with_zombie_link(false, link);
    assert_eq!(
        (
            n.zombie_link(),
            n.zombie_is_top(),
            n.zombie_count(),
            n.paddr()
        ),
        (link, false, 1 << 28, z.paddr())
    );
    let d = n.with_zombie_count(3);
    assert_eq!(
        (d.zombie_link(), d.zombie_count(), d.cnode_radix()),
        (link, 3, 28)
    );
    assert_eq!(d.with_zombie_link(true, 0x40).zombie_link(), 0x40);
    assert!(!d.zombie_is_tcb() && !Cap::tcb(0x800).zombie_is_tcb());
}

#[test]
fn tcb_zombie_fields() {
    let z = Cap::tcb_zombie(0xffff_ffff_f800);
    assert_eq!(
        (z.kind(), z.paddr(), z.cnode_radix(), z.zombie_count()),
        (CapType::Zombie, 0xffff_ffff_f800, TCB_SLOT_RADIX, TCB_SLOTS)
    );
    assert!(z.zombie_is_tcb() && z.zombie_is_top() && z.zombie_link() == 0);
    let link = 0xffff_ffff_ffe0;
    let n = z.with_zombie_link(false, link).with_zombie_count(2);
    assert_eq!(
        (n.zombie_link(), n.zombie_is_top(), n.zombie_count()),
        (link, false, 2)
    );
    assert!(n.zombie_is_tcb() && n.cnode_radix() == TCB_SLOT_RADIX);
    let t = n.with_zombie_link(true, 0x20);
    assert!(t.zombie_is_tcb() && t.zombie_link() == 0x20 && t.paddr() == z.paddr());
}
