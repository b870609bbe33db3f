//! Zeroing kernel memory fast under QEMU's instruction count: `rep stosq`
//! counts one instruction per 8 bytes there (about 570 for a 4 KiB page
//! with its setup), 16-byte SSE stores, 64 to a loop turn, about 270.

/// Bytes one loop turn of [`zero`] clears: 64 stores of 16 bytes.
const TURN: usize = 1024;

/// Zeroes `len` bytes at kernel address `start`: SSE stores of `xmm0` over
/// the whole 1 KiB turns inside the range, `rep stosq` (through
/// `write_bytes`) for the ends. `xmm0` is saved on the stack and restored,
/// so the user state the kernel entry saved stays untouched and no
/// register is clobbered behind the compiler's back.
///
/// # Safety
/// The range must be writable kernel memory that nothing else references.
pub unsafe fn zero(start: usize, len: usize) {
    let end = start + len;
    let low = start.next_multiple_of(TURN);
    let high = end & !(TURN - 1);
    if low >= high {
        // SAFETY: the caller's guarantee for the whole range.
        unsafe { core::ptr::write_bytes(start as *mut u8, 0, len) };
        return;
    }
    // SAFETY: `start..low` and `high..end` lie in the caller's range.
    unsafe { super::super::zero_ends(start, low, high, end) };
    // SAFETY: every store lies in `low..high`, 16-byte aligned (`low` is
    // 1024-aligned), inside the caller's range; CR4.OSFXSR is set (user
    // programs use SSE); `xmm0` is restored before the block ends and the
    // stack below `rsp` is only used between the `sub` and the `add`.
    unsafe {
        core::arch::asm!(
            "sub rsp, 16",
            "movdqu [rsp], xmm0",
            "pxor xmm0, xmm0",
            "2:",
            ".irp off, 0,16,32,48,64,80,96,112,128,144,160,176,192,208,224,240,256,272,288,304,320,336,352,368,384,400,416,432,448,464,480,496,512,528,544,560,576,592,608,624,640,656,672,688,704,720,736,752,768,784,800,816,832,848,864,880,896,912,928,944,960,976,992,1008",
            "movaps [{at} + \\off], xmm0",
            ".endr",
            "add {at}, 1024",
            "cmp {at}, {high}",
            "jb 2b",
            "movdqu xmm0, [rsp]",
            "add rsp, 16",
            at = inout(reg) low => _,
            high = in(reg) high,
        )
    };
}
