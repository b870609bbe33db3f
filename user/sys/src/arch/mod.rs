//! Picks the architecture's system-call trap and process entry, and re-exports
//! one set of names: `syscall`, `syscall8`, `ARCH`, `SYSCALL_INSTRUCTION_SIZE`, `cycle_counter`,
//! `thread_trampoline`, `tls_first_word`, `ipc_buffer_address`, and for
//! tests `clear_thread_pointer_directly` with `THREAD_POINTER_CLEARS` and
//! `THREAD_POINTER_PUT_BACK`, `undefined_instruction`,
//! `undefined_in_32_bit_mode`, `syscall_in_32_bit_mode`, `FLAGS_32_BIT_MODE`,
//! `yield_with_flags` with `USER_SETTABLE_FLAGS` and `FLAGS_KEPT_BY_SYSCALL`,
//! and `set_simd_register`/`simd_register`, `exclusive_store_across_send`,
//! `syscall_checking_registers`, and `register_dump_entry`/`register_dump`;
//! for user-level drivers `physical_timer_start`/`physical_timer_stop`/
//! `physical_timer_deadline` and `system_counter` (aarch64's EL1 physical
//! timer and its counter) and `port_in8_directly` (x86_64 `in` without
//! a cap); and the `_start` symbol every
//! Keel program begins at.

#[cfg(target_arch = "aarch64")]
mod aarch64;
#[cfg(target_arch = "aarch64")]
use self::aarch64 as imp;
#[cfg(target_arch = "aarch64")]
pub use self::aarch64::*;

#[cfg(target_arch = "x86_64")]
mod x86_64;
#[cfg(target_arch = "x86_64")]
use self::x86_64 as imp;
#[cfg(target_arch = "x86_64")]
pub use self::x86_64::*;

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
compile_error!("keel-sys supports only x86_64 and aarch64");

/// How many registers `keel_syscall_with_registers` loads and stores.
const REGISTERS: usize = imp::REGISTER_NAMES.len();

/// Makes system call `number` with `args` (as `syscall8`) with every other
/// general-purpose register holding a value made from `pattern`, and
/// returns the result words and the first register the call changed though
/// it must keep it: its name, the value it held and the value it came back
/// with. Every register but the result registers and those the trap
/// instruction itself overwrites must come back unchanged, the stack
/// pointer included. For tests that check the kernel preserves registers
/// across every system call.
pub fn syscall_checking_registers(
    number: u64,
    args: [u64; 8],
    pattern: u64,
) -> ([u64; 6], Option<(&'static str, u64, u64)>) {
    extern "C" {
        fn keel_syscall_with_registers(block: *mut [[u64; REGISTERS]; 2]);
    }
    let mut block = [[0u64; REGISTERS]; 2];
    for (r, word) in block[0].iter_mut().enumerate() {
        *word = pattern.rotate_left(r as u32) ^ r as u64;
    }
    let values = core::iter::once(number).chain(args);
    for (&r, value) in imp::ARGUMENT_REGISTERS.iter().zip(values) {
        block[0][r] = value;
    }
    // SAFETY: the routine saves and restores every register the C ABI asks
    // it to keep and touches only `block` and its own stack; the system
    // call it makes is one `syscall8` could make.
    unsafe { keel_syscall_with_registers(&mut block) };
    let [before, after] = block;
    let results = imp::RESULT_REGISTERS.map(|r| after[r]);
    let changed = (0..REGISTERS)
        .filter(|r| !imp::RESULT_REGISTERS.contains(r) && !imp::INSTRUCTION_CLOBBERS.contains(r))
        .find(|&r| after[r] != before[r])
        .map(|r| (imp::REGISTER_NAMES[r], before[r], after[r]));
    (results, changed)
}

/// The address of a routine that stores every register it is started
/// with, in the register-list order of `TcbReadRegisters` (index 0 its own
/// address), then faults: for tests that check WriteRegisters reaches every
/// register. The stack pointer must name 16 writable bytes below it.
/// [`register_dump`] reads what it stored.
pub fn register_dump_entry() -> u64 {
    extern "C" {
        fn keel_register_dump();
    }
    keel_register_dump as *const () as u64
}

/// What the routine at [`register_dump_entry`] last stored (zeros past
/// this architecture's register count).
pub fn register_dump() -> [u64; keel_abi::registers::MAX_COUNT] {
    let stored = &imp::KEEL_REGISTER_DUMP;
    core::array::from_fn(|i| {
        stored
            .get(i)
            .map_or(0, |w| w.load(core::sync::atomic::Ordering::SeqCst))
    })
}
