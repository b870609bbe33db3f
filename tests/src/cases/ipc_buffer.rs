//! THREADS0009: the IPC buffer a thread is given through TCB_SetIPCBuffer
//! is where the kernel puts its long messages, until it is removed or its
//! frame cap goes.

use super::retype::make;
use super::vspace::{region, tables, ATTRS, ROOT, RW};
use crate::support::{expect_error, step};
use crate::thread::{count, endpoint_of, ipc_buffer_of, shared, spawn, yield_times};
use crate::{ensure, Env, TestResult};
use core::sync::atomic::Ordering;
use keel_abi::{Error, IpcBuffer, MessageInfo, ObjectType};
use keel_sys::cap::{init_thread, Endpoint, Frame};
use keel_sys::{CPtr, Cap};

/// Receives on `shared(i).cap` forever; after each message notes its length
/// and word 7 as this thread's own IPC buffer holds it (`value`: the length
/// in the top byte, the word's low 32 bits below), then counts.
extern "C" fn note_long_messages(i: u64) -> ! {
    loop {
        let r = endpoint_of(i).recv(None);
        let word = keel_sys::ipc::mr(7).unwrap_or(u64::MAX) & 0xffff_ffff;
        let s = shared(i);
        s.value
            .store(((r.info.length() as u64) << 56) | word, Ordering::SeqCst);
        s.counter.fetch_add(1, Ordering::SeqCst);
    }
}

/// The IPC buffer the kernel knows a thread by is where its long messages
/// go: set, it gets all eight words of a message (into that buffer, so set
/// in another frame they land there); removed, or its frame cap revoked
/// from the original, it gets four; a misaligned buffer or a cap that is no
/// frame is refused and leaves the buffer as it was.
pub fn ipc_buffer(env: &Env) -> TestResult {
    let ep = make(env, 12, ObjectType::Endpoint, 0, 1)?;
    let t = spawn(env, note_long_messages, 0, 0, 255)?;
    shared(0).cap.store(ep, Ordering::SeqCst);
    step(t.tcb_resume(), "resume")?;
    yield_times(1)?;
    // A frame of its own, mapped in the root task: the thread's buffer
    // cap is derived from this original.
    let other = make(env, 12, ObjectType::SmallPage, 0, 1)?;
    let other_cap: Cap<Frame> = Cap::from_cptr(CPtr::from_bits(other));
    let other_at = region(26);
    tables(env, other_at, 3)?;
    step(
        other_cap.frame_map(ROOT, other_at, RW, ATTRS),
        "map the other frame",
    )?;
    let own = ipc_buffer_of(0);
    let elsewhere = other_at as usize as *mut IpcBuffer;
    // Sends an eight-word message with word 7 = `round`; checks the length
    // the thread got and, if it got them all, that word 7 is in `buffer`.
    let round = |round: u64, buffer: Option<*mut IpcBuffer>| {
        keel_sys::ipc::set_mr(7, round).map_err(|e| alloc::format!("set_mr: {e}"))?;
        Cap::<Endpoint>::from_cptr(CPtr::from_bits(ep))
            .send(MessageInfo::new(0, 0, 0, 8), [round, 0, 0, 0]);
        yield_times(1)?;
        ensure!(
            count(0) == round,
            "round {round}: the thread did not receive"
        );
        let length = shared(0).value.load(Ordering::SeqCst) >> 56;
        let expected = if buffer.is_some() { 8 } else { 4 };
        ensure!(
            length == expected,
            "round {round}: the thread got {length} words, expected {expected}"
        );
        if let Some(buffer) = buffer {
            // SAFETY: a page mapped writable in this program for the
            // test's length; the thread wrote it before it counted.
            let word = unsafe { core::ptr::addr_of!((*buffer).msg[7]).read_volatile() };
            ensure!(
                word == round,
                "round {round}: word 7 in the buffer set is {word}"
            );
        }
        Ok::<(), alloc::string::String>(())
    };
    let frame = init_thread::IPC_BUFFER;
    step(
        t.tcb_set_ipc_buffer(own as u64, frame),
        "set the IPC buffer",
    )?;
    let r = t.tcb_set_ipc_buffer(own as u64 + 8, frame);
    expect_error(r, Error::AlignmentError, "a misaligned buffer")?;
    let not_frame = Cap::from_cptr(init_thread::CNODE.cptr());
    expect_error(
        t.tcb_set_ipc_buffer(own as u64, not_frame),
        Error::IllegalOperation,
        "a CNode as the frame",
    )?;
    round(1, Some(own))?;
    step(t.tcb_set_ipc_buffer(0, frame), "remove the IPC buffer")?;
    round(2, None)?;
    step(
        t.tcb_set_ipc_buffer(other_at, other_cap),
        "set a buffer in the other frame",
    )?;
    round(3, Some(elsewhere))?;
    // The thread holds a copy of the frame cap, a child of the original
    // in the derivation tree: revoking the original takes it.
    step(
        crate::support::slot(other).revoke(),
        "revoke the other frame's cap",
    )?;
    round(4, None)?;
    step(t.tcb_set_ipc_buffer(own as u64, frame), "set it back")?;
    round(5, Some(own))?;
    step(t.tcb_suspend(), "stop the thread")
}
