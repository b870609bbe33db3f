//! Picks the architecture's system-call trap and process entry, and re-exports
//! one set of names: `syscall`, `syscall7`, `ARCH`, `undefined_instruction`,
//! `cycle_counter`, `thread_trampoline`, `tls_first_word`,
//! `clear_thread_pointer_directly`, `THREAD_POINTER_CLEARS`,
//! `THREAD_POINTER_PUT_BACK`, `ipc_buffer_address`,
//! `set_simd_register`/`simd_register`, and the `_start` symbol every Keel
//! program begins at.

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
