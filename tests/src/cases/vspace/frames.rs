//! VSPACE tests of frames: mapping and access, sharing, unmap, rights and
//! remap, 2 MiB frames, GetAddress, attributes, deletion, and frame errors.

use super::*;

pub fn map_and_access(env: &Env) -> TestResult {
    let v = region(0);
    tables(env, v, 3)?;
    let f = frames(env, 1)?;
    step(cap::<Frame>(f).frame_map(ROOT, v, RW, ATTRS), "map")?;
    for i in 0..(PAGE / 8) {
        write(v + 8 * i, i ^ 0xfeed_0000);
    }
    for i in 0..(PAGE / 8) {
        ensure!(
            read(v + 8 * i) == i ^ 0xfeed_0000,
            "word {i} reads back wrong"
        );
    }
    ensure!(
        thread_access(env, READ, v + 8)?,
        "the thread could not read"
    );
    let seen = shared(0).value.load(Ordering::SeqCst);
    ensure!(seen == 1 ^ 0xfeed_0000, "the thread read {seen:#x}");
    Ok(())
}

pub fn shared_frame(env: &Env) -> TestResult {
    let v = region(1);
    tables(env, v, 3)?;
    let f = frames(env, 1)?;
    let g = copy_of(env, f)?;
    step(cap::<Frame>(f).frame_map(ROOT, v, RW, ATTRS), "map")?;
    let second = cap::<Frame>(g).frame_map(ROOT, v + 5 * PAGE, RW, ATTRS);
    step(second, "map the copy")?;
    write(v + 16, 0x1234_5678);
    ensure!(read(v + 5 * PAGE + 16) == 0x1234_5678, "write not seen");
    write(v + 5 * PAGE + 24, 77);
    ensure!(read(v + 24) == 77, "write through the copy not seen");
    Ok(())
}

pub fn unmap_faults(env: &Env) -> TestResult {
    let v = region(2);
    tables(env, v, 3)?;
    let f = cap::<Frame>(frames(env, 1)?);
    step(f.frame_map(ROOT, v, RW, ATTRS), "map")?;
    write(v, 1);
    ensure!(read(v) == 1, "no access before unmapping");
    step(f.frame_unmap(), "unmap")?;
    expect_fault(env, READ, v, "read after unmap")?;
    step(f.frame_unmap(), "unmap an unmapped frame")?;
    step(f.frame_map(ROOT, v, RW, ATTRS), "map again")?;
    ensure!(read(v) == 1, "the frame lost its contents");
    Ok(())
}

pub fn read_only(env: &Env) -> TestResult {
    let v = region(3);
    tables(env, v, 3)?;
    let f = frames(env, 1)?;
    let ro = env.slots(1)?;
    step(slot(ro).copy(&slot(f), CapRights::READ), "copy read-only")?;
    step(cap::<Frame>(f).frame_map(ROOT, v, RW, ATTRS), "map")?;
    write(v, 42);
    // A read-only cap masks the rights asked for.
    let w = v + PAGE;
    step(
        cap::<Frame>(ro).frame_map(ROOT, w, RW, ATTRS),
        "map the copy",
    )?;
    ensure!(read(w) == 42, "the read-only mapping reads {}", read(w));
    expect_fault(env, WRITE, w, "write to a read-only cap's mapping")?;
    ensure!(read(v) == 42, "the write went through");
    ensure!(
        thread_access(env, WRITE, v)?,
        "write through the writable mapping faulted"
    );
    Ok(())
}

pub fn frame_errors(env: &Env) -> TestResult {
    let v = region(4);
    let t = tables(env, v, 3)?;
    let f = frames(env, 2)?;
    let (a, b) = (cap::<Frame>(f), cap::<Frame>(f + 1));
    let err = Error::AlignmentError;
    expect_error(a.frame_map(ROOT, v + 0x800, RW, ATTRS), err, "misaligned")?;
    step(a.frame_map(ROOT, v, RW, ATTRS), "map")?;
    expect_error(
        b.frame_map(ROOT, v, RW, ATTRS),
        Error::DeleteFirst,
        "occupied",
    )?;
    let moved = a.frame_map(ROOT, v + PAGE, RW, ATTRS);
    let detail = expect_detail(moved, Error::InvalidArgument, "a mapped cap elsewhere")?;
    ensure!(detail[0] == 0, "the error names argument {detail:?}");
    expect_missing(b.frame_map(ROOT, v + LARGE, RW, ATTRS), 21, "no PageTable")?;
    expect_missing(
        b.frame_map(ROOT, v + (1 << 30), RW, ATTRS),
        30,
        "no PageDirectory",
    )?;
    expect_missing(
        b.frame_map(ROOT, region(5), RW, ATTRS),
        39,
        "no PageUpperDirectory",
    )?;
    let bad = Error::InvalidArgument;
    expect_error(
        b.frame_map(ROOT, 1 << 48, RW, ATTRS),
        bad,
        "past the user half",
    )?;
    let kernel = 0xffff_8000_0000_0000;
    expect_error(b.frame_map(ROOT, kernel, RW, ATTRS), bad, "kernel address")?;
    let not_vspace = cap::<VSpace>(t);
    let wrong = b.frame_map(not_vspace, v + PAGE, RW, ATTRS);
    expect_error(
        wrong,
        Error::InvalidCapability,
        "a PageUpperDirectory as VSpace",
    )?;
    step(
        b.frame_map(ROOT, v + PAGE, RW, ATTRS),
        "map the second frame",
    )?;
    Ok(())
}

pub fn large_frames(env: &Env) -> TestResult {
    let v = region(8);
    let first = tables(env, v, 2)?;
    let l = make(env, 21, ObjectType::LargePage, 0, 1)?;
    let large = cap::<Frame>(l);
    let err = Error::AlignmentError;
    expect_error(
        large.frame_map(ROOT, v + PAGE, RW, ATTRS),
        err,
        "4 KiB aligned",
    )?;
    step(
        cap::<PageTable>(first + 2).page_table_map(ROOT, v, ATTRS),
        "map a PT",
    )?;
    expect_error(
        large.frame_map(ROOT, v, RW, ATTRS),
        Error::DeleteFirst,
        "over a PT",
    )?;
    step(large.frame_map(ROOT, v + LARGE, RW, ATTRS), "map at 2 MiB")?;
    let (lo, hi) = (v + LARGE, v + 2 * LARGE - 8);
    write(lo, 11);
    write(hi, 22);
    ensure!(
        read(lo) == 11 && read(hi) == 22,
        "the large page reads back wrong"
    );
    let small = cap::<Frame>(frames(env, 1)?);
    let inside = small.frame_map(ROOT, v + LARGE + PAGE, RW, ATTRS);
    expect_missing(inside, 21, "a small page inside a large one")?;
    let addr = step(large.frame_get_address(), "get address")?;
    ensure!(addr % LARGE == 0, "large frame at {addr:#x}");
    step(large.frame_unmap(), "unmap")?;
    expect_fault(env, READ, hi, "read after unmapping the large page")
}

pub fn remap_fewer_rights(env: &Env) -> TestResult {
    let v = region(9);
    tables(env, v, 3)?;
    let f = cap::<Frame>(frames(env, 1)?);
    step(f.frame_map(ROOT, v, RW, ATTRS), "map")?;
    write(v, 5);
    step(
        f.frame_map(ROOT, v, CapRights::READ, ATTRS),
        "remap read-only",
    )?;
    ensure!(read(v) == 5, "lost the contents");
    expect_fault(env, WRITE, v, "write after remapping read-only")?;
    ensure!(read(v) == 5, "the write went through");
    step(f.frame_map(ROOT, v, RW, ATTRS), "remap read-write")?;
    ensure!(
        thread_access(env, WRITE, v)?,
        "write after remapping read-write"
    );
    ensure!(read(v) == 0x5a5a, "the thread's write is not seen");
    Ok(())
}

pub fn get_address(env: &Env) -> TestResult {
    let (ut, bits) = env.untyped(12)?;
    let index = ut.cptr().bits() - env.boot_info.untyped.start;
    let desc = env.boot_info.untypeds()[index as usize];
    let s = env.slots(2)?;
    let dst = init_thread::CNODE.absolute_cptr_with_depth(0, 0);
    step(
        ut.untyped_retype(ObjectType::SmallPage, 0, &dst, s, 1),
        "retype",
    )?;
    let paddr = step(cap::<Frame>(s).frame_get_address(), "get address")?;
    let end = desc.paddr + (1u64 << bits);
    ensure!(
        paddr == desc.paddr,
        "frame at {paddr:#x}, untyped at {:#x}",
        desc.paddr
    );
    if bits >= 13 {
        step(
            ut.untyped_retype(ObjectType::SmallPage, 0, &dst, s + 1, 1),
            "retype",
        )?;
        let next = step(cap::<Frame>(s + 1).frame_get_address(), "get address")?;
        ensure!(
            next == paddr + PAGE && next < end,
            "second frame at {next:#x}"
        );
    }
    Ok(())
}

pub fn delete_mapped_frame(env: &Env) -> TestResult {
    let v = region(10);
    tables(env, v, 3)?;
    let f = frames(env, 1)?;
    let g = copy_of(env, f)?;
    step(cap::<Frame>(f).frame_map(ROOT, v, RW, ATTRS), "map")?;
    step(
        cap::<Frame>(g).frame_map(ROOT, v + PAGE, RW, ATTRS),
        "map the copy",
    )?;
    write(v + PAGE, 9);
    step(slot(g).delete(), "delete the copy's cap")?;
    ensure!(read(v) == 9, "the original mapping went too");
    expect_fault(env, READ, v + PAGE, "read after deleting a (non-final) cap")?;
    step(slot(f).delete(), "delete the last cap")?;
    expect_fault(env, READ, v, "read after deleting the final cap")
}

/// Writes a return instruction at `at`, in a frame the test has just
/// mapped writable there and that nothing else uses.
fn write_return(env: &Env, at: u64) {
    let ret: &[u8] = match env.boot_info.arch() {
        Some(Arch::Aarch64) => &[0xc0, 0x03, 0x5f, 0xd6],
        _ => &[0xc3],
    };
    for (i, b) in ret.iter().enumerate() {
        // SAFETY: the frame is mapped writable at `at` and used by nothing else.
        unsafe { core::ptr::write_volatile((at + i as u64) as *mut u8, *b) };
    }
}

pub fn attributes(env: &Env) -> TestResult {
    let v = region(14);
    tables(env, v, 3)?;
    let f = cap::<Frame>(frames(env, 1)?);
    step(f.frame_map(ROOT, v, RW, VmAttributes::NONE), "map uncached")?;
    write(v + 8, 0xabc);
    ensure!(read(v + 8) == 0xabc, "uncached memory reads back wrong");
    write_return(env, v);
    step(f.frame_map(ROOT, v, RW, ATTRS), "remap executable")?;
    ensure!(
        thread_access(env, EXECUTE, v)?,
        "executing the frame faulted"
    );
    let xn = ATTRS.union(VmAttributes::EXECUTE_NEVER);
    step(f.frame_map(ROOT, v, RW, xn), "remap execute-never")?;
    expect_fault(env, EXECUTE, v, "executing an execute-never frame")?;
    let none = CapRights::WRITE;
    step(f.frame_map(ROOT, v, none, ATTRS), "remap without read")?;
    expect_fault(env, READ, v, "reading a mapping without the read right")
}

/// As [`attributes`]' executable and execute-never mappings, for a 2 MiB
/// frame: code at its first byte and at the start of its last 4 KiB runs;
/// remapped execute-never, executing either faults; remapped executable,
/// the last page runs again, and unmapped, it faults.
pub fn large_frame_execute_never(env: &Env) -> TestResult {
    let v = region(17);
    tables(env, v, 2)?;
    let large = cap::<Frame>(make(env, 21, ObjectType::LargePage, 0, 1)?);
    step(large.frame_map(ROOT, v, RW, ATTRS), "map the 2 MiB frame")?;
    let ends = [v, v + LARGE - PAGE];
    for at in ends {
        write_return(env, at);
    }
    for at in ends {
        ensure!(
            thread_access(env, EXECUTE, at)?,
            "executing the 2 MiB frame at {at:#x} faulted"
        );
    }
    let xn = ATTRS.union(VmAttributes::EXECUTE_NEVER);
    step(large.frame_map(ROOT, v, RW, xn), "remap execute-never")?;
    for at in ends {
        expect_fault(env, EXECUTE, at, "executing an execute-never 2 MiB frame")?;
    }
    step(large.frame_map(ROOT, v, RW, ATTRS), "remap executable")?;
    ensure!(
        thread_access(env, EXECUTE, v + LARGE - PAGE)?,
        "executing the 2 MiB frame remapped executable faulted"
    );
    step(large.frame_unmap(), "unmap")?;
    expect_fault(
        env,
        EXECUTE,
        v + LARGE - PAGE,
        "executing an unmapped 2 MiB frame",
    )
}
