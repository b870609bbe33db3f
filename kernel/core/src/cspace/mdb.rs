//! The capability derivation tree, kept as seL4 keeps it: a doubly linked list
//! of slots in derivation order, where the descendants of a slot are the
//! maximal run right after it for which [`is_parent_of`] holds. Each operation
//! touches a constant number of slots. Checking that a destination is empty or
//! that a cap may be derived is the caller's job (`ops`, `untyped`).

use super::slot::{read_mdb, read_slot, set_next, set_prev, write_mdb, write_slot, MdbNode, Slot};
use crate::cap::Cap;
use crate::object_memory::ObjectMemory;
use keel_abi::CapType;

/// Puts `cap`, a new object made from the untyped in `parent`, into the empty
/// slot `dest` right after `parent` (seL4 `insertNewCap`): revocable and first
/// badged.
pub fn insert_new(mem: &mut impl ObjectMemory, parent: u64, dest: u64, cap: Cap) {
    let next = read_mdb(mem, parent).next;
    let mdb = MdbNode {
        prev: parent,
        next,
        revocable: true,
        first_badged: true,
    };
    write_slot(mem, dest, &Slot { cap, mdb });
    set_prev(mem, next, dest);
    set_next(mem, parent, dest);
}

/// Puts `cap`, derived from the cap in `src`, into the empty slot `dest` right
/// after `src` (seL4 `cteInsert`). It is revocable (and first badged) when
/// `Cap::is_revocable(cap, src cap)`. Deriving an untyped from an untyped uses
/// up the parent's free memory, so the two can never allocate the same bytes.
pub fn insert_derived(mem: &mut impl ObjectMemory, src: u64, dest: u64, cap: Cap) {
    let s = read_slot(mem, src);
    let revocable = Cap::is_revocable(&cap, &s.cap);
    let mdb = MdbNode {
        prev: src,
        next: s.mdb.next,
        revocable,
        first_badged: revocable,
    };
    write_slot(mem, dest, &Slot { cap, mdb });
    set_prev(mem, s.mdb.next, dest);
    let mut src_slot = s;
    src_slot.mdb.next = dest;
    if s.cap.kind() == CapType::Untyped && cap.kind() == CapType::Untyped {
        let full = 1u64
            .checked_shl(u32::from(s.cap.untyped_size_bits()))
            .unwrap_or(u64::MAX);
        src_slot.cap = s.cap.with_free_index(full);
    }
    write_slot(mem, src, &src_slot);
}

/// Moves the node of `src` to the empty slot `dest`, holding `cap` (seL4
/// `cteMove`); `src` is left empty.
pub fn move_slot(mem: &mut impl ObjectMemory, src: u64, dest: u64, cap: Cap) {
    let mdb = read_mdb(mem, src);
    write_slot(mem, src, &Slot::default());
    write_slot(mem, dest, &Slot { cap, mdb });
    set_next(mem, mdb.prev, dest);
    set_prev(mem, mdb.next, dest);
}

/// Exchanges two slots (seL4 `cteSwap`): `cap_a`, the cap from `a`, goes to `b`
/// with `a`'s tree node, and `cap_b` to `a` with `b`'s node. Works for
/// neighbouring slots too; `a == b` just rewrites the cap.
pub fn swap(mem: &mut impl ObjectMemory, a: u64, cap_a: Cap, b: u64, cap_b: Cap) {
    if a == b {
        super::slot::write_cap(mem, a, cap_a);
        return;
    }
    let na = read_mdb(mem, a);
    let nb = read_mdb(mem, b);
    let t = |x: u64| {
        if x == a {
            b
        } else if x == b {
            a
        } else {
            x
        }
    };
    write_slot(
        mem,
        b,
        &Slot {
            cap: cap_a,
            mdb: MdbNode {
                prev: t(na.prev),
                next: t(na.next),
                ..na
            },
        },
    );
    write_slot(
        mem,
        a,
        &Slot {
            cap: cap_b,
            mdb: MdbNode {
                prev: t(nb.prev),
                next: t(nb.next),
                ..nb
            },
        },
    );
    let neighbours = [na.prev, na.next, nb.prev, nb.next];
    for (i, &x) in neighbours.iter().enumerate() {
        if x == 0 || x == a || x == b || neighbours[..i].contains(&x) {
            continue;
        }
        let n = read_mdb(mem, x);
        write_mdb(
            mem,
            x,
            &MdbNode {
                prev: t(n.prev),
                next: t(n.next),
                ..n
            },
        );
    }
}

/// Unlinks `slot` and clears it (seL4 `emptySlot`); the next slot inherits its
/// `first_badged` flag. An empty slot is left as it is.
pub fn empty_slot(mem: &mut impl ObjectMemory, slot: u64) {
    let s = read_slot(mem, slot);
    if s.cap.is_null() {
        return;
    }
    set_next(mem, s.mdb.prev, s.mdb.next);
    if s.mdb.next != 0 {
        let mut n = read_mdb(mem, s.mdb.next);
        n.prev = s.mdb.prev;
        n.first_badged |= s.mdb.first_badged;
        write_mdb(mem, s.mdb.next, &n);
    }
    write_slot(mem, slot, &Slot::default());
}

/// seL4 `isMDBParentOf`: whether `b` (the slot after `a` or later in its run)
/// is a child of `a`.
pub fn is_parent_of(mem: &impl ObjectMemory, a: u64, b: u64) -> bool {
    let sa = read_slot(mem, a);
    let sb = read_slot(mem, b);
    if !sa.mdb.revocable || !sa.cap.same_region_as(&sb.cap) {
        return false;
    }
    match sa.cap.kind() {
        CapType::Endpoint | CapType::Notification => {
            let badge = sa.cap.badge();
            badge == 0 || (badge == sb.cap.badge() && !sb.mdb.first_badged)
        }
        _ => true,
    }
}

/// True when the cap in `slot` has descendants.
pub fn has_children(mem: &impl ObjectMemory, slot: u64) -> bool {
    let next = read_mdb(mem, slot).next;
    next != 0 && is_parent_of(mem, slot, next)
}

/// seL4 `isFinalCapability`: no neighbour in the list names the same object,
/// so deleting this cap destroys the object.
pub fn is_final(mem: &impl ObjectMemory, slot: u64) -> bool {
    let s = read_slot(mem, slot);
    let prev_same =
        s.mdb.prev != 0 && super::slot::read_cap(mem, s.mdb.prev).same_object_as(&s.cap);
    let next_same = s.mdb.next != 0
        && s.cap
            .same_object_as(&super::slot::read_cap(mem, s.mdb.next));
    !prev_same && !next_same
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object_memory::TestMemory;
    use keel_abi::CapRights;

    const B: u64 = 0x1000;
    fn s(i: u64) -> u64 {
        B + i * 32
    }

    /// Slots in list order, following `next` from `head`, checked against `prev`.
    fn list(m: &TestMemory, head: u64) -> std::vec::Vec<u64> {
        let mut out = std::vec::Vec::new();
        let mut prev = 0;
        let mut cur = head;
        while cur != 0 {
            assert_eq!(read_mdb(m, cur).prev, prev, "prev of {cur:#x}");
            out.push(cur);
            prev = cur;
            cur = read_mdb(m, cur).next;
        }
        out
    }

    extern crate std;

    fn setup() -> TestMemory {
        let mut m = TestMemory::new(B, 0x400);
        write_slot(
            &mut m,
            s(0),
            &Slot {
                cap: Cap::untyped(0x10_0000, 16, false, 0),
                mdb: MdbNode {
                    revocable: true,
                    ..MdbNode::default()
                },
            },
        );
        m
    }

    #[test]
    fn insert_and_parenthood() {
        let mut m = setup();
        let ep = Cap::endpoint(0x10_0000, 0, CapRights::ALL);
        insert_new(&mut m, s(0), s(1), ep);
        insert_derived(&mut m, s(1), s(2), ep);
        insert_derived(&mut m, s(1), s(3), ep.with_badge(5));
        insert_derived(&mut m, s(3), s(4), ep.with_badge(5));
        assert_eq!(list(&m, s(0)), [s(0), s(1), s(3), s(4), s(2)]);
        assert!(has_children(&m, s(0)) && has_children(&m, s(1)) && has_children(&m, s(3)));
        assert!(!read_slot(&m, s(2)).mdb.revocable && !has_children(&m, s(4)));
        assert!(is_parent_of(&m, s(3), s(4)) && is_parent_of(&m, s(1), s(2)));
        assert!(!is_final(&m, s(1)) && !is_final(&m, s(2)));
        insert_derived(&mut m, s(1), s(5), ep.with_badge(5));
        assert!(
            !is_parent_of(&m, s(5), s(3)),
            "another first-badged cap is not a child"
        );
        empty_slot(&mut m, s(5));
        assert!(read_slot(&m, s(3)).mdb.first_badged);
        empty_slot(&mut m, s(3));
        assert!(
            read_slot(&m, s(4)).mdb.first_badged,
            "first_badged passes to the next slot"
        );
        assert_eq!(list(&m, s(0)), [s(0), s(1), s(4), s(2)]);
        empty_slot(&mut m, s(6));
        empty_slot(&mut m, s(1));
        empty_slot(&mut m, s(4));
        assert!(is_final(&m, s(2)));
    }

    #[test]
    fn untyped_copy_uses_up_parent() {
        let mut m = setup();
        let u = read_slot(&m, s(0)).cap;
        insert_derived(&mut m, s(0), s(1), u);
        assert_eq!(read_slot(&m, s(0)).cap.free_index(), 1 << 16);
        assert!(has_children(&m, s(0)) && read_slot(&m, s(1)).mdb.revocable);
    }

    #[test]
    fn move_and_swap() {
        let mut m = setup();
        for i in 1..=4 {
            insert_new(&mut m, s(0), s(i), Cap::tcb(0x10_0000 + i * 0x800));
        }
        assert_eq!(list(&m, s(0)), [s(0), s(4), s(3), s(2), s(1)]);
        move_slot(&mut m, s(3), s(7), Cap::tcb(0x10_1800));
        assert!(read_slot(&m, s(3)).cap.is_null());
        assert_eq!(list(&m, s(0)), [s(0), s(4), s(7), s(2), s(1)]);
        let (c4, c7) = (read_slot(&m, s(4)).cap, read_slot(&m, s(7)).cap);
        swap(&mut m, s(4), c4, s(7), c7);
        assert_eq!(list(&m, s(0)), [s(0), s(7), s(4), s(2), s(1)]);
        assert_eq!((read_slot(&m, s(7)).cap, read_slot(&m, s(4)).cap), (c4, c7));
        let (c0, c1) = (read_slot(&m, s(0)).cap, read_slot(&m, s(1)).cap);
        swap(&mut m, s(0), c0, s(1), c1);
        assert_eq!(list(&m, s(1)), [s(1), s(7), s(4), s(2), s(0)]);
        let c2 = read_slot(&m, s(2)).cap;
        swap(&mut m, s(2), c2, s(2), c2);
        assert_eq!(list(&m, s(1)), [s(1), s(7), s(4), s(2), s(0)]);
        let (c1, c0) = (read_slot(&m, s(1)).cap, read_slot(&m, s(0)).cap);
        swap(&mut m, s(0), c0, s(1), c1);
        let (c7, c2) = (read_slot(&m, s(7)).cap, read_slot(&m, s(2)).cap);
        swap(&mut m, s(7), c7, s(2), c2);
        assert_eq!(list(&m, s(0)), [s(0), s(2), s(4), s(7), s(1)]);
    }
}
