//! keel-mm-client: a memory client for the tests (see the library for
//! the scenarios its `arg` picks). Init makes it a client of a slave: it
//! reaches the slave through keel-rt's memory client, and its faults go to
//! the slave, which fills its delayed areas and sends any other fault on
//! to init.
#![no_std]
#![no_main]
#![forbid(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

extern crate alloc;

mod heap;

use keel_abi::CapType;
use keel_mm_client::{
    DELAYED, DIE_HOLDING, GRANTED, GRANTED_ORDER, HEAP_GROWTH, HEAP_PAST_LIMIT, MANY_AREAS, MOVED,
    MOVED_AREA_PAGES, MOVED_FILL_PAGES, RESTARTED, TOUCH_FREED, WRITE_READ_ONLY,
};
use keel_protocols::cap::ReceivedCap;
use keel_protocols::memory::{MemoryClient, MemoryError};
use keel_protocols::relocation::{RelocationClient, RelocationError};
use keel_protocols::sys::{EndpointClient, ReceiveSlot};
use keel_rt::memory::{former_slaves, rights, Memory};
use keel_rt::process::slot;
use keel_rt::{println, ProcessInfo};
use keel_sys::CPtr;

keel_rt::main!(main);

const PAGE: u64 = 4096;
const RW: u8 = rights::READ | rights::WRITE;

/// Writes `value` to the word at `addr`.
fn poke(addr: u64, value: u64) {
    // SAFETY: every address the scenarios pass lies in an area the slave
    // mapped (or will map on the fault) with the write right, or is meant
    // to fault; nothing else in the program refers to these pages.
    unsafe { core::ptr::write_volatile(addr as *mut u64, value) }
}

/// Reads the word at `addr`.
fn peek(addr: u64) -> u64 {
    // SAFETY: as for `poke`, with the read right.
    unsafe { core::ptr::read_volatile(addr as *const u64) }
}

/// A check: `Err(number)` unless `holds`.
pub(crate) fn check(holds: bool, number: u32) -> Result<(), u32> {
    if holds {
        Ok(())
    } else {
        Err(number)
    }
}

fn delayed(m: &mut Memory) -> Result<(), u32> {
    let before = m.usage().map_err(|_| 10u32)?.client_pages;
    let area = m.reserve(4, RW).map_err(|_| 11u32)?;
    check(m.usage().map_err(|_| 12u32)?.client_pages == before, 13)?;
    poke(area, 0xab);
    check(peek(area) == 0xab, 14)?;
    let one = m.usage().map_err(|_| 15u32)?.client_pages;
    check(one > before, 16)?;
    poke(area + 8, 0xcd);
    check(m.usage().map_err(|_| 17u32)?.client_pages == one, 18)?;
    check(peek(area + 2 * PAGE) == 0, 19)?;
    check(m.usage().map_err(|_| 20u32)?.client_pages == one + 1, 21)?;
    m.free(area).map_err(|_| 22u32)?;
    check(m.usage().map_err(|_| 23u32)?.client_pages == one - 1, 24)
}

fn many_areas(m: &mut Memory) -> Result<(), u32> {
    let mut areas = [(0u64, 0u64); 4];
    for (i, pages) in [1u64, 3, 16, 5].into_iter().enumerate() {
        let at = m.allocate(pages, RW).map_err(|_| 50 + i as u32)?;
        for p in 0..pages {
            poke(at + p * PAGE, at + p);
        }
        areas[i] = (at, pages);
    }
    let u = m.usage().map_err(|_| 55u32)?;
    check(u.free_blocks > 1 && u.areas == 4, 56)?;
    for i in [2usize, 0, 3, 1] {
        let (at, pages) = areas[i];
        for p in 0..pages {
            check(peek(at + p * PAGE) == at + p, 57)?;
        }
        m.free(at).map_err(|_| 58u32)?;
    }
    check(m.usage().map_err(|_| 59u32)?.areas == 0, 60)
}

fn moved(m: &mut Memory) -> Result<(), u32> {
    let first = m.allocate(8, RW).map_err(|_| 90u32)?;
    poke(first, 0x1234);
    let fill = m.allocate(MOVED_FILL_PAGES, RW).map_err(|_| 91u32)?;
    poke(fill + (MOVED_FILL_PAGES - 1) * PAGE, 0x5678);
    check(former_slaves().count() == 0, 92)?;
    let area = m.allocate(MOVED_AREA_PAGES, RW).map_err(|_| 93u32)?;
    check(former_slaves().count() == 1, 94)?;
    let u = m.usage().map_err(|_| 95u32)?;
    check(u.areas == 1 && u.client_pages >= MOVED_AREA_PAGES, 96)?;
    poke(area, 0x9abc);
    check(peek(first) == 0x1234, 97)?;
    check(peek(fill + (MOVED_FILL_PAGES - 1) * PAGE) == 0x5678, 98)?;
    let words: alloc::vec::Vec<u64> = (0..32 * 1024).collect();
    check(words[32 * 1024 - 1] == 32 * 1024 - 1, 99)?;
    m.free(first).map_err(|_| 100u32)?;
    m.free(fill).map_err(|_| 101u32)?;
    m.free(area).map_err(|_| 102u32)?;
    check(m.usage().is_ok_and(|u| u.areas <= 1), 103)
}

fn restarted(m: &mut Memory, info: &ProcessInfo) -> Result<(), u32> {
    let area = m.allocate(4, RW).map_err(|_| 110u32)?;
    poke(area, 0x77);
    let init =
        EndpointClient::new(keel_rt::process::slot(info.slots.init), None).map_err(|_| 111u32)?;
    let stays = RelocationClient::new(init).relocate();
    check(stays == Err(RelocationError::Stays), 112)?;
    let u = m.usage().map_err(|_| 113u32)?;
    check(u.areas == 0 && u.client_pages == 0, 114)?;
    check(m.free(area) == Err(MemoryError::NotAllocated), 115)?;
    let again = m.allocate(2, RW).map_err(|_| 116u32)?;
    poke(again, 0x78);
    check(peek(again) == 0x78, 117)?;
    m.free(again).map_err(|_| 118u32)
}

fn granted(m: &mut Memory, info: &ProcessInfo) -> Result<(), u32> {
    let s = &info.slots;
    let debug = s.debug.map(slot).ok_or(120u32)?;
    let endpoint = info.connection("memory").ok_or(121u32)?;
    let receive = ReceiveSlot::in_own_cnode(s.cnode, s.receive, Some(debug));
    let transport = EndpointClient::new(slot(endpoint), Some(receive)).map_err(|_| 122u32)?;
    let mut client = MemoryClient::new(transport);
    let before = m.usage().map_err(|_| 123u32)?;
    let got = client.grant_untyped(1, GRANTED_ORDER).map_err(|_| 124u32)?;
    let at = matches!(got.received(), ReceivedCap::Transferred { cptr, .. } if cptr == s.receive);
    check(at, 125)?;
    let identify = || debug.debug_cap_identify(CPtr::from_bits(s.receive));
    check(identify() == Ok(CapType::Untyped), 126)?;
    let bytes = 1u64 << GRANTED_ORDER;
    let held = m.usage().map_err(|_| 127u32)?;
    check(held.free_bytes == before.free_bytes - bytes, 128)?;
    check(
        held.activity_pages == before.activity_pages + bytes / PAGE,
        129,
    )?;
    let pages = held.client_pages == before.client_pages + bytes / PAGE;
    check(pages, 140)?;
    let twice = client.grant_untyped(1, GRANTED_ORDER);
    check(twice.err() == Some(MemoryError::Held), 130)?;
    client.return_untyped(1).map_err(|_| 131u32)?;
    check(identify() == Ok(CapType::Null), 132)?;
    let after = m.usage().map_err(|_| 133u32)?;
    check(after.free_bytes == before.free_bytes, 134)?;
    check(after.activity_pages == before.activity_pages, 135)?;
    check(
        client.return_untyped(1) == Err(MemoryError::NotAllocated),
        136,
    )?;
    let huge = client.grant_untyped(2, 40);
    check(huge.err() == Some(MemoryError::OutOfMemory), 137)?;
    check(
        m.usage().is_ok_and(|u| u.free_bytes == before.free_bytes),
        138,
    )?;
    client.grant_untyped(3, GRANTED_ORDER).map_err(|_| 139u32)?;
    Ok(())
}

fn main(info: &'static ProcessInfo) -> u32 {
    let Some(mut m) = Memory::connect() else {
        println!("mm-client: not a memory client");
        return 1;
    };
    let result = match info.arg {
        DELAYED => delayed(&mut m),
        WRITE_READ_ONLY => m
            .allocate(1, rights::READ)
            .map_err(|_| 30u32)
            .and_then(|at| {
                check(peek(at) == 0, 31)?;
                poke(at, 1);
                Err(32)
            }),
        TOUCH_FREED => m.allocate(1, RW).map_err(|_| 40u32).and_then(|at| {
            poke(at, 7);
            m.free(at).map_err(|_| 41u32)?;
            peek(at);
            Err(42)
        }),
        DIE_HOLDING => m.allocate(64, RW).map_err(|_| 70u32).and_then(|_| {
            let lazy = m.reserve(8, RW).map_err(|_| 71u32)?;
            poke(lazy, 1);
            poke(lazy + 5 * PAGE, 2);
            // Past the delayed area's end, in the gap after it.
            poke(lazy + 8 * PAGE, 3);
            Err(72)
        }),
        MANY_AREAS => many_areas(&mut m),
        HEAP_GROWTH => heap::growth(&mut m),
        HEAP_PAST_LIMIT => heap::past_limit(&mut m),
        MOVED => moved(&mut m),
        RESTARTED => restarted(&mut m, info),
        GRANTED => granted(&mut m, info),
        _ => Err(2),
    };
    match result {
        Ok(()) => 0,
        Err(status) => {
            println!("mm-client: check {status} failed");
            status
        }
    }
}
