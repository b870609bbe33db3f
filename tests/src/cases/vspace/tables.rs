//! VSPACE tests of paging structures and ASIDs: map and unmap errors,
//! deleting tables, ASID pools, VSpaces without (or with dead) ASIDs.

use super::*;

pub fn page_table_errors(env: &Env) -> TestResult {
    let v = region(6);
    let first = tables(env, v, 0)?;
    let (pud, pd, pt) = (
        cap::<PageUpperDirectory>(first),
        cap::<PageDirectory>(first + 1),
        cap::<PageTable>(first + 2),
    );
    expect_missing(pd.page_table_map(ROOT, v, ATTRS), 39, "PD without PUD")?;
    expect_missing(pt.page_table_map(ROOT, v, ATTRS), 39, "PT without PUD")?;
    let bad = Error::InvalidArgument;
    expect_error(
        pud.page_table_map(ROOT, 1 << 48, ATTRS),
        bad,
        "past the user half",
    )?;
    let kernel = 0xffff_ff80_0000_0000;
    expect_error(pud.page_table_map(ROOT, kernel, ATTRS), bad, "kernel half")?;
    step(
        pud.page_table_map(ROOT, v + 0x1234, ATTRS),
        "map the PUD (rounded down)",
    )?;
    let again = pud.page_table_map(ROOT, region(7), ATTRS);
    let detail = expect_detail(again, Error::InvalidCapability, "mapping a mapped PUD")?;
    ensure!(detail[0] == 0, "the error names cap {detail:?}");
    expect_missing(pt.page_table_map(ROOT, v, ATTRS), 30, "PT without PD")?;
    step(pd.page_table_map(ROOT, v, ATTRS), "map the PD")?;
    let more = tables(env, v, 0)?;
    let second_pd = cap::<PageDirectory>(more + 1).page_table_map(ROOT, v + PAGE, ATTRS);
    expect_error(
        second_pd,
        Error::DeleteFirst,
        "a second PD in the same place",
    )?;
    step(pt.page_table_map(ROOT, v, ATTRS), "map the PT")?;
    let second_pt = cap::<PageTable>(more + 2).page_table_map(ROOT, v + 0x1000, ATTRS);
    expect_error(
        second_pt,
        Error::DeleteFirst,
        "a second PT in the same place",
    )?;
    let copy = copy_of(env, first + 2)?;
    let unmap = pt.page_table_unmap();
    expect_error(unmap, Error::RevokeFirst, "unmapping a PT with a copy")?;
    step(slot(copy).delete(), "delete the copy")?;
    step(pt.page_table_unmap(), "unmap the PT")?;
    step(
        cap::<PageTable>(more + 2).page_table_map(ROOT, v, ATTRS),
        "map the other PT",
    )?;
    Ok(())
}

pub fn delete_page_table(env: &Env) -> TestResult {
    let v = region(11);
    let t = tables(env, v, 3)?;
    let f = cap::<Frame>(frames(env, 1)?);
    step(f.frame_map(ROOT, v, RW, ATTRS), "map")?;
    write(v, 3);
    step(slot(t + 2).delete(), "delete the PT")?;
    expect_fault(env, READ, v, "read after deleting the PT")?;
    expect_missing(f.frame_map(ROOT, v, RW, ATTRS), 21, "remap without the PT")?;
    let more = tables(env, v, 0)?;
    step(
        cap::<PageTable>(more + 2).page_table_map(ROOT, v, ATTRS),
        "a new PT",
    )?;
    step(
        f.frame_map(ROOT, v, RW, ATTRS),
        "map again through the stale cap",
    )?;
    ensure!(read(v) == 3, "the frame lost its contents");
    step(slot(t).delete(), "delete the PUD")?;
    expect_fault(env, READ, v, "read after deleting the PUD")?;
    step(f.frame_unmap(), "unmap under a deleted PUD")
}

/// A 4 KiB untyped (a child of a fresh untyped) in a new slot.
fn small_untyped(env: &Env) -> Result<Cap<Untyped>, String> {
    Ok(cap(make(env, 12, ObjectType::Untyped, 12, 1)?))
}

pub fn asid_pools(env: &Env) -> TestResult {
    let ctl = init_thread::ASID_CONTROL;
    let dst = env.slots(2)?;
    let root = init_thread::CNODE;
    let at = |s: u64| root.absolute_cptr(CPtr::from_bits(s));
    let big = make(env, 13, ObjectType::Untyped, 13, 1)?;
    let bad = ctl.asid_control_make_pool(cap(big), &at(dst));
    expect_error(bad, Error::InvalidCapability, "an 8 KiB untyped")?;
    let parent = small_untyped(env)?;
    let child = env.slots(1)?;
    let d = root.absolute_cptr_with_depth(0, 0);
    step(
        parent.untyped_retype(ObjectType::Endpoint, 0, &d, child, 1),
        "retype",
    )?;
    let busy = ctl.asid_control_make_pool(parent, &at(dst));
    expect_error(busy, Error::RevokeFirst, "an untyped with children")?;
    let ut = small_untyped(env)?;
    let full = ctl.asid_control_make_pool(ut, &at(child));
    expect_error(full, Error::DeleteFirst, "an occupied destination")?;
    step(ctl.asid_control_make_pool(ut, &at(dst)), "make a pool")?;
    expect_type(dst, CapType::AsidPool)?;
    let again = ctl.asid_control_make_pool(ut, &at(dst + 1));
    expect_error(again, Error::RevokeFirst, "the same untyped twice")?;
    let pool = cap::<AsidPool>(dst);
    let vs = cap::<VSpace>(make(env, 12, ObjectType::VSpace, 0, 1)?);
    step(pool.asid_pool_assign(vs), "assign")?;
    let twice = pool.asid_pool_assign(vs);
    expect_error(twice, Error::InvalidCapability, "a VSpace with an ASID")?;
    let not_vs = pool.asid_pool_assign(cap(child));
    expect_error(not_vs, Error::InvalidCapability, "an endpoint")?;
    let root_vs = init_thread::ASID_POOL.asid_pool_assign(ROOT);
    expect_error(root_vs, Error::InvalidCapability, "the root VSpace")?;
    // Through the new VSpace's ASID: map a PUD, then delete the pool.
    let t = tables(env, 0, 0)?;
    let pud = cap::<PageUpperDirectory>(t);
    step(
        pud.page_table_map(vs, region(12), ATTRS),
        "map into the new VSpace",
    )?;
    step(slot(dst).delete(), "delete the pool")?;
    let stale = cap::<PageDirectory>(t + 1).page_table_map(vs, region(12), ATTRS);
    expect_error(stale, Error::FailedLookup, "a VSpace whose pool is gone")?;
    step(slot(t).delete(), "delete the PUD mapped in a dead ASID")?;
    step(
        ctl.asid_control_make_pool(small_untyped(env)?, &at(dst + 1)),
        "a new pool",
    )
}

pub fn vspace_without_asid(env: &Env) -> TestResult {
    let vs_slot = make(env, 12, ObjectType::VSpace, 0, 1)?;
    let vs = cap::<VSpace>(vs_slot);
    let t = tables(env, 0, 0)?;
    let f = cap::<Frame>(frames(env, 1)?);
    let pud = cap::<PageUpperDirectory>(t);
    let err = Error::InvalidCapability;
    expect_error(pud.page_table_map(vs, region(13), ATTRS), err, "PUD map")?;
    expect_error(f.frame_map(vs, region(13), RW, ATTRS), err, "frame map")?;
    step(init_thread::ASID_POOL.asid_pool_assign(vs), "assign")?;
    step(
        pud.page_table_map(vs, region(13), ATTRS),
        "map after assign",
    )?;
    // Deleting the VSpace ends its ASID: the PUD's mapping is dead, and its
    // unmap and delete are clean.
    step(slot(vs_slot).delete(), "delete the VSpace")?;
    step(pud.page_table_unmap(), "unmap from a deleted VSpace")?;
    step(
        pud.page_table_map(ROOT, region(13), ATTRS),
        "map it in the root VSpace",
    )?;
    Ok(())
}

/// A new VSpace with an ASID from `pool`, with a PageUpperDirectory,
/// PageDirectory and PageTable mapped in it where they cover `vaddr`.
fn vspace_with_tables(env: &Env, pool: Cap<AsidPool>, vaddr: u64) -> Result<Cap<VSpace>, String> {
    let vs = cap::<VSpace>(make(env, 12, ObjectType::VSpace, 0, 1)?);
    step(pool.asid_pool_assign(vs), "assign")?;
    let t = tables(env, 0, 0)?;
    step(
        cap::<PageUpperDirectory>(t).page_table_map(vs, vaddr, ATTRS),
        "map a PUD",
    )?;
    step(
        cap::<PageDirectory>(t + 1).page_table_map(vs, vaddr, ATTRS),
        "map a PD",
    )?;
    step(
        cap::<PageTable>(t + 2).page_table_map(vs, vaddr, ATTRS),
        "map a PT",
    )?;
    Ok(vs)
}

pub fn frame_mapped_under_another_asid(env: &Env) -> TestResult {
    let v = region(15);
    tables(env, v, 3)?;
    let vs = vspace_with_tables(env, init_thread::ASID_POOL, v)?;
    let f = cap::<Frame>(frames(env, 1)?);
    step(f.frame_map(ROOT, v, RW, ATTRS), "map in the root VSpace")?;
    for (at, what) in [(v, "the same address"), (v + PAGE, "another address")] {
        let detail = expect_detail(
            f.frame_map(vs, at, RW, ATTRS),
            Error::InvalidCapability,
            what,
        )?;
        ensure!(detail[0] == 1, "{what}: the error names cap {detail:?}");
    }
    step(f.frame_map(ROOT, v, RW, ATTRS), "remap where it is mapped")?;
    Ok(())
}

pub fn frame_mapped_at_another_address(env: &Env) -> TestResult {
    let v = region(16);
    let pool = env.slots(1)?;
    let at = init_thread::CNODE.absolute_cptr(CPtr::from_bits(pool));
    step(
        init_thread::ASID_CONTROL.asid_control_make_pool(small_untyped(env)?, &at),
        "make a pool",
    )?;
    let vs = vspace_with_tables(env, cap(pool), v)?;
    let f = cap::<Frame>(frames(env, 1)?);
    step(f.frame_map(vs, v, RW, ATTRS), "map")?;
    let detail = expect_detail(
        f.frame_map(vs, v + PAGE, RW, ATTRS),
        Error::InvalidArgument,
        "another address",
    )?;
    ensure!(detail[0] == 0, "the error names argument {detail:?}");
    // With the VSpace's pool gone, x86_64 still checks the frame's placement
    // first, as seL4 does there; aarch64 looks the ASID up first.
    step(slot(pool).delete(), "delete the pool")?;
    let stale = f.frame_map(vs, v + PAGE, RW, ATTRS);
    match env.boot_info.arch() {
        Some(Arch::X86_64) => {
            expect_error(stale, Error::InvalidArgument, "another address, no pool")
        }
        _ => expect_error(stale, Error::FailedLookup, "another address, no pool"),
    }?;
    let same = f.frame_map(vs, v, RW, ATTRS);
    expect_error(same, Error::FailedLookup, "the same address, no pool")
}
