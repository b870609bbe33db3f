//! Picks the architecture's system-call trap and process entry, and re-exports
//! one set of names: `syscall`, `syscall8`, `ARCH`, `SYSCALL_INSTRUCTION_SIZE`, `cycle_counter`,
//! `thread_trampoline`, `tls_first_word`, `ipc_buffer_address`, and for
//! tests `clear_thread_pointer_directly` with `THREAD_POINTER_CLEARS` and
//! `THREAD_POINTER_PUT_BACK`, `undefined_instruction`,
//! `undefined_in_32_bit_mode`, `syscall_in_32_bit_mode`, `FLAGS_32_BIT_MODE`,
//! `yield_with_flags` with `USER_SETTABLE_FLAGS` and `FLAGS_KEPT_BY_SYSCALL`,
//! and `set_simd_register`/`simd_register`; and the `_start` symbol every
//! Keel program begins at.

#[cfg(target_arch = "aarch64")]
mod aarch64;
#[cfg(target_arch = "aarch64")]
pub use self::aarch64::*;

#[cfg(target_arch = "x86_64")]
mod x86_64;
#[cfg(target_arch = "x86_64")]
pub use self::x86_64::*;

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
compile_error!("keel-sys supports only x86_64 and aarch64");
