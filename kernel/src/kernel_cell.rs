//! [`KernelCell`]: mutable kernel state in a static, touched only by the
//! kernel on its one core with interrupts off. It is the one kind of global
//! kernel state: no atomics, no `static mut`, no `Cell` made `Sync` by hand.

use core::cell::UnsafeCell;

/// Kernel state that only the kernel touches, on its one core, with
/// interrupts off (it is never re-entered): a static may hold it.
///
/// `repr(transparent)`: the static's symbol is the address of the value, so
/// entry assembly may name it.
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
    /// them is live (and no `read`, `write` or `replace` of this cell runs).
    pub const fn get(&self) -> *mut T {
        self.0.get()
    }
}

impl<T: Copy> KernelCell<T> {
    /// A copy of the contents.
    #[inline(always)]
    pub fn read(&self) -> T {
        // SAFETY: one core, the kernel not re-entered: nothing writes the
        // contents during this copy, and whoever holds a reference from
        // `get` calls nothing that reaches this cell while it is live.
        unsafe { self.0.get().read() }
    }

    /// Stores `value`.
    #[inline(always)]
    pub fn write(&self, value: T) {
        // SAFETY: as for `read`; `T: Copy`, so the old value needs no drop.
        unsafe { self.0.get().write(value) }
    }

    /// Stores `value` and returns what was there.
    #[inline(always)]
    pub fn replace(&self, value: T) -> T {
        // SAFETY: as for `read`.
        unsafe { core::ptr::replace(self.0.get(), value) }
    }
}
