//! [`KernelCell`]: mutable kernel state in a static, touched only by the
//! kernel on its one core with interrupts off.

use core::cell::UnsafeCell;

/// Kernel state that only the kernel touches, on its one core, with
/// interrupts off (it is never re-entered): a static may hold it.
#[repr(transparent)]
pub struct KernelCell<T>(UnsafeCell<T>);

// SAFETY: Keel runs on one core and the kernel is not re-entered; users of
// `get` keep no two references to the contents live at once.
unsafe impl<T: Send> Sync for KernelCell<T> {}

impl<T> KernelCell<T> {
    /// A cell holding `value`.
    pub const fn new(value: T) -> Self {
        KernelCell(UnsafeCell::new(value))
    }

    /// The contents, to read or write through while no other reference to
    /// them is live.
    pub const fn get(&self) -> *mut T {
        self.0.get()
    }
}
