//! The program heap: linked_list_allocator's first-fit heap over two
//! arenas, under the lock of [`crate::lock`].
//!
//! - **The bootstrap arena**, a few pages of the program's `.bss`: what
//!   the program allocates before it knows whether it has a memory manager
//!   (decoding its ProcessInfo page), and a reserve after.
//! - **The main arena**, from `HEAP_VADDR` up. A program without a memory
//!   manager has the fixed heap there: the `.keel_heap` segment of
//!   `FIXED_HEAP_SIZE` bytes, backed by whoever loaded it. A program init
//!   made a memory client (it has a connection named `memory`) has nothing
//!   there at first (keel-loader leaves the segment unbacked): when an
//!   allocation finds no room, the heap asks the program's slave for the
//!   pages past its end (immediate, read-write; at least [`GROWTH_PAGES`])
//!   and extends the arena over them. The pages are charged to the
//!   program's activity like any other; past its limit, or with no memory
//!   left anywhere, the allocation fails: `alloc` returns null after a line
//!   saying why, and Rust's allocation-error path (a panic, which ends the
//!   process) or a fallible `try_reserve` takes it from there. A slave out
//!   of memory first has init move the program (see [`crate::memory`]).
//!
//! The heap never gives pages back: freed blocks are reused. A thread
//! stopped for good inside the allocator (suspended or deleted by another)
//! leaves the heap locked.

use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;
use core::mem::MaybeUninit;
use core::ptr::NonNull;
use keel_abi::bootinfo::{FIXED_HEAP_SIZE, HEAP_END, HEAP_VADDR};
use keel_protocols::memory::{rights, MemoryClient, MemoryError, PAGE_BITS};
use keel_protocols::sys::EndpointClient;
use linked_list_allocator::Heap;

use crate::lock::RawLock;

/// The bootstrap arena's size in bytes.
const BOOTSTRAP_SIZE: usize = 16 << 10;
/// The least the heap grows by through a memory manager, in pages.
pub const GROWTH_PAGES: u64 = 16;

/// An arena's bytes: handed to the allocator once and then only touched
/// through it.
#[repr(C, align(4096))]
struct Arena<const N: usize>(UnsafeCell<[MaybeUninit<u8>; N]>);

// SAFETY: after `init` the bytes are reached only through the allocator,
// which the lock serialises.
unsafe impl<const N: usize> Sync for Arena<N> {}

static BOOTSTRAP: Arena<BOOTSTRAP_SIZE> =
    Arena(UnsafeCell::new([MaybeUninit::uninit(); BOOTSTRAP_SIZE]));

/// The fixed heap, at HEAP_VADDR (the linker script places `.keel_heap`).
#[link_section = ".keel_heap"]
static FIXED: Arena<{ FIXED_HEAP_SIZE as usize }> = Arena(UnsafeCell::new(
    [MaybeUninit::uninit(); FIXED_HEAP_SIZE as usize],
));

/// Both arenas and where the main one grows from.
struct Heaps {
    bootstrap: Heap,
    main: Heap,
    /// The program's slave, which the main arena grows through; `None`
    /// before the program knows how it was started, and for the fixed heap.
    memory: Option<MemoryClient<EndpointClient>>,
    /// The main arena's end: where the next pages from the slave go.
    end: u64,
}

/// Why an allocation found no memory.
#[derive(Clone, Copy, Debug)]
enum Shortfall {
    /// The heap has no source to grow from (the fixed heap is full).
    Full,
    /// The slave refused the pages.
    Refused { pages: u64, error: MemoryError },
}

impl Heaps {
    /// An allocation from the main arena, else the bootstrap arena.
    fn take(&mut self, layout: Layout) -> Option<NonNull<u8>> {
        self.main
            .allocate_first_fit(layout)
            .or_else(|()| self.bootstrap.allocate_first_fit(layout))
            .ok()
    }

    /// Grows the main arena through the slave by enough for `layout`.
    fn grow(&mut self, layout: Layout) -> Result<(), Shortfall> {
        let Some(client) = &mut self.memory else {
            return Err(Shortfall::Full);
        };
        let page = 1u64 << PAGE_BITS;
        // Room for the block, its alignment and the allocator's hole header.
        let bytes = (layout.size() + layout.align()) as u64 + 2 * page;
        let pages = bytes.div_ceil(page).max(GROWTH_PAGES);
        let refused = |error| Shortfall::Refused { pages, error };
        let end = self.end + (pages << PAGE_BITS);
        if end > HEAP_END {
            return Err(refused(MemoryError::OutOfMemory));
        }
        let rw = rights::READ | rights::WRITE;
        keel_sys::ipc_buffer::preserving_ipc_buffer(|| {
            crate::memory::allocate_moving(client, self.end, pages, rw)
        })
        .map_err(refused)?;
        let by = (pages << PAGE_BITS) as usize;
        if self.end == HEAP_VADDR {
            // SAFETY: the slave just mapped `by` bytes read-write at
            // HEAP_VADDR, which nothing else in the program uses.
            unsafe { self.main.init(HEAP_VADDR as usize as *mut u8, by) };
        } else {
            // SAFETY: the slave just mapped `by` bytes read-write right
            // past the arena's top, which nothing else uses.
            unsafe { self.main.extend(by) };
        }
        self.end = end;
        Ok(())
    }
}

/// The program's allocator.
struct Allocator {
    lock: RawLock,
    heaps: UnsafeCell<Heaps>,
}

// SAFETY: `heaps` is reached only while `lock` is held.
unsafe impl Sync for Allocator {}

impl Allocator {
    /// Runs `f` on the heaps under the lock.
    fn with<R>(&self, f: impl FnOnce(&mut Heaps) -> R) -> R {
        self.lock.acquire();
        // SAFETY: this thread holds the lock, so this is the only reference
        // to the heaps until it is released below; `f` cannot reach the
        // allocator again (an allocation inside would wait for the lock,
        // and nothing the heap calls allocates).
        let result = f(unsafe { &mut *self.heaps.get() });
        self.lock.release();
        result
    }
}

#[global_allocator]
static ALLOCATOR: Allocator = Allocator {
    lock: RawLock::new(),
    heaps: UnsafeCell::new(Heaps {
        bootstrap: Heap::empty(),
        main: Heap::empty(),
        memory: None,
        end: HEAP_VADDR,
    }),
};

// SAFETY: blocks come from linked_list_allocator's heaps over memory only
// they use, so they are valid for `layout` and never overlap; a block is
// returned to the arena whose range holds it.
unsafe impl GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let got = self.with(|h| match h.take(layout) {
            Some(p) => Ok(p),
            None => h
                .grow(layout)
                .and_then(|()| h.take(layout).ok_or(Shortfall::Full)),
        });
        match got {
            Ok(p) => p.as_ptr(),
            Err(shortfall) => {
                report(layout, shortfall);
                core::ptr::null_mut()
            }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let Some(block) = NonNull::new(ptr) else {
            return;
        };
        self.with(|h| {
            let bottom = h.bootstrap.bottom() as usize;
            let arena = match (bottom..bottom + h.bootstrap.size()).contains(&(ptr as usize)) {
                true => &mut h.bootstrap,
                false => &mut h.main,
            };
            // SAFETY: the caller's contract: `ptr` came from `alloc` with
            // `layout`, so from this arena.
            unsafe { arena.deallocate(block, layout) }
        });
    }
}

/// Says why an allocation failed (outside the lock: printing may allocate).
fn report(layout: Layout, shortfall: Shortfall) {
    match shortfall {
        Shortfall::Full => crate::println!(
            "keel-rt: the heap is full ({} bytes asked for)",
            layout.size()
        ),
        Shortfall::Refused { pages, error } => crate::println!(
            "keel-rt: the heap cannot grow by {pages} pages for {} bytes: the memory manager refused ({error:?})",
            layout.size()
        ),
    }
}

/// Hands the heap its bootstrap arena. Called once, first thing at entry.
/// Never inlined, like [`start_main`]: the entry's frame stays under every
/// thread's `main` for the program's life, so what these two need on the
/// stack must not stay there.
#[inline(never)]
pub fn init() {
    let bottom = BOOTSTRAP.0.get().cast::<u8>();
    // SAFETY: called once, before any allocation and before the program
    // starts other threads; BOOTSTRAP is used by nothing else.
    ALLOCATOR.with(|h| unsafe { h.bootstrap.init(bottom, BOOTSTRAP_SIZE) });
}

/// Gives the heap its main arena once the program knows how it was
/// started: grown through the slave whose cap is in `memory` (a memory
/// client's `memory` connection), else the fixed heap.
#[inline(never)]
pub fn start_main(memory: Option<u64>) {
    ALLOCATOR.with(|h| {
        h.memory = memory.and_then(crate::memory::client_at);
        if h.memory.is_none() {
            let bottom = FIXED.0.get().cast::<u8>();
            // SAFETY: whoever loaded the program backed the fixed heap's
            // segment (it is not a memory client), used by nothing else;
            // called once, before other threads.
            unsafe { h.main.init(bottom, FIXED_HEAP_SIZE as usize) };
        }
    });
}

/// Bytes of the heap in use now (for tests that check everything allocated
/// was freed).
pub fn used() -> usize {
    ALLOCATOR.with(|h| h.bootstrap.used() + h.main.used())
}

/// Bytes of the heap's main arena: the fixed heap's size, or what it has
/// grown to through the memory manager.
pub fn size() -> usize {
    ALLOCATOR.with(|h| match h.memory {
        Some(_) => (h.end - HEAP_VADDR) as usize,
        None => h.main.size(),
    })
}
