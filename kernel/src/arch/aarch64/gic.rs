//! The GICv2 of QEMU virt: distributor at 0x0800_0000, CPU interface at
//! 0x0801_0000. Boot enables both with every interrupt disabled, then enables
//! the ones the kernel takes (its timer's PPI); the trap path and the idle loop
//! acknowledge and end interrupts. The lines of user-level drivers are
//! masked, unmasked and given a trigger here (`irq.rs` decides when).

use super::mmio::{read32, write32};

const GICD: u64 = 0x0800_0000;
const GICD_CTLR: u64 = GICD;
const GICD_TYPER: u64 = GICD + 0x004;
const GICD_ISENABLER: u64 = GICD + 0x100;
const GICD_ICENABLER: u64 = GICD + 0x180;
const GICD_ICPENDR: u64 = GICD + 0x280;
const GICD_ICFGR: u64 = GICD + 0xc00;
const GICD_IPRIORITYR: u64 = GICD + 0x400;
const GICD_ITARGETSR: u64 = GICD + 0x800;

const GICC: u64 = 0x0801_0000;
const GICC_CTLR: u64 = GICC;
const GICC_PMR: u64 = GICC + 0x004;
const GICC_BPR: u64 = GICC + 0x008;
const GICC_IAR: u64 = GICC + 0x00c;
const GICC_EOIR: u64 = GICC + 0x010;

/// Priority given to every interrupt (four copies, one per byte).
const DEFAULT_PRIORITY: u32 = 0xa0a0_a0a0;
/// Priority mask: interrupts with priority below (numerically) 0xf0 are signalled.
const PRIORITY_MASK: u32 = 0xf0;
/// Every SPI targets CPU 0.
const TARGET_CPU0: u32 = 0x0101_0101;
/// Interrupt IDs at and above this are special (1023: spurious).
const FIRST_SPECIAL_ID: u32 = 1020;
/// The first shared peripheral interrupt.
const FIRST_SPI: u32 = 32;

/// Number of interrupt lines the distributor implements.
pub fn lines() -> u32 {
    (((read32(GICD_TYPER) & 0x1f) + 1) * 32).min(FIRST_SPECIAL_ID)
}

/// Enables the distributor and this CPU's interface with all interrupts disabled.
pub fn init() {
    write32(GICD_CTLR, 0);
    let lines = lines();
    for word in 0..u64::from(lines.div_ceil(32)) {
        write32(GICD_ICENABLER + 4 * word, u32::MAX);
        write32(GICD_ICPENDR + 4 * word, u32::MAX);
    }
    for word in 0..u64::from(lines / 4) {
        write32(GICD_IPRIORITYR + 4 * word, DEFAULT_PRIORITY);
        if word >= u64::from(FIRST_SPI / 4) {
            write32(GICD_ITARGETSR + 4 * word, TARGET_CPU0);
        }
    }
    write32(GICD_CTLR, 1);
    write32(GICC_PMR, PRIORITY_MASK);
    write32(GICC_BPR, 0);
    write32(GICC_CTLR, 1);
}

/// Enables interrupt `id` (already given the default priority and CPU 0 by `init`).
pub fn enable(id: u32) {
    write32(GICD_ISENABLER + 4 * u64::from(id / 32), 1 << (id % 32));
}

/// Disables interrupt `id`.
pub fn disable(id: u32) {
    write32(GICD_ICENABLER + 4 * u64::from(id / 32), 1 << (id % 32));
}

/// Clears a pending request of interrupt `id`.
pub fn clear_pending(id: u32) {
    write32(GICD_ICPENDR + 4 * u64::from(id / 32), 1 << (id % 32));
}

/// Makes shared peripheral interrupt `id` edge-triggered (or
/// level-sensitive). The triggers of SGIs and PPIs are fixed.
pub fn set_edge_triggered(id: u32, edge: bool) {
    if id < FIRST_SPI {
        return;
    }
    let register = GICD_ICFGR + 4 * u64::from(id / 16);
    let bit = 1 << (2 * (id % 16) + 1);
    let value = read32(register);
    write32(register, if edge { value | bit } else { value & !bit });
}

/// Acknowledges the highest-priority pending interrupt, if it is a real one.
/// The caller must pass it to [`end`] once handled.
pub fn acknowledge() -> Option<u32> {
    let iar = read32(GICC_IAR);
    let id = iar & 0x3ff;
    (id < FIRST_SPECIAL_ID).then_some(iar)
}

/// Signals the end of the interrupt `acknowledge` returned (priority drop and deactivation).
pub fn end(iar: u32) {
    write32(GICC_EOIR, iar);
}

/// The interrupt number in an acknowledged value.
pub fn id(iar: u32) -> u32 {
    iar & 0x3ff
}
