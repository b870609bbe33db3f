//! The BootInfo page the kernel gives the root task.
//!
//! One 4 KiB page, mapped read-only at [`BOOTINFO_VADDR`] in the root task's
//! VSpace; its address is also passed in the first argument register. The
//! root CNode's fixed slots (`crate::InitCap`: its TCB, CNode, VSpace, the
//! control caps, the Debug cap, ...) come before the slot regions it describes.

use crate::numbered::numbered_enum;

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Magic number at the start of a valid BootInfo.
pub const BOOTINFO_MAGIC: u64 = 0x4b45_454c_424f_4f54; // "KEELBOOT"

/// Where the kernel maps the BootInfo page in the root task.
pub const BOOTINFO_VADDR: u64 = 0x0000_0000_1000_0000;
/// Where the kernel maps the root task's IPC buffer.
pub const IPC_BUFFER_VADDR: u64 = 0x0000_0000_1000_1000;
/// Where the kernel maps the boot archive (read-only) in the root task.
pub const ARCHIVE_VADDR: u64 = 0x0000_0000_2000_0000;
/// Top of the root task's initial stack (the stack grows down from here).
pub const ROOT_STACK_TOP: u64 = 0x0000_0000_0f00_0000;
/// Size of the root task's initial stack.
pub const ROOT_STACK_SIZE: u64 = 64 * 1024;
/// Where keel-rt's heap starts in every program (the root task too): the
/// user linker script puts the fixed heap (the section `.keel_heap`,
/// [`FIXED_HEAP_SIZE`] bytes, no file bytes) here, a segment of its own
/// between the image (linked at 4 MiB) and the stack, below 2 GiB as the
/// static code model needs; a program with a memory manager grows its
/// heap from here through its slave instead, and keel-loader leaves the
/// fixed heap unbacked for it.
pub const HEAP_VADDR: u64 = 0x0000_0000_0800_0000;
/// The fixed heap's size: what a program without a memory manager has.
pub const FIXED_HEAP_SIZE: u64 = 1 << 20;
/// The end of the range a heap grown through a memory manager may take
/// (96 MiB; the stack is above it).
pub const HEAP_END: u64 = 0x0000_0000_0e00_0000;

/// Most untyped regions BootInfo can list.
pub const MAX_UNTYPED: usize = 160;
/// Most RAM regions BootInfo can list.
pub const MAX_RAM_REGIONS: usize = 16;

numbered_enum! {
    /// The architecture the kernel runs on.
    #[cfg_attr(feature = "manifest", derive(serde::Serialize, serde::Deserialize))]
    pub enum Arch: u32 {
        /// x86_64 (QEMU q35).
        X86_64 = 1,
        /// aarch64 (QEMU virt).
        Aarch64 = 2,
    }
}

impl Arch {
    /// The name used on the command line and in file names.
    pub fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Aarch64 => "aarch64",
        }
    }
}

/// A half-open range of slots `[start, end)` in the root CNode.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct SlotRegion {
    /// First slot.
    pub start: u64,
    /// One past the last slot.
    pub end: u64,
}

impl SlotRegion {
    /// Number of slots in the region.
    pub fn len(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }

    /// True when the region holds no slot.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A half-open range of physical memory `[start, end)`.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct MemRegion {
    /// First byte.
    pub start: u64,
    /// One past the last byte.
    pub end: u64,
}

impl MemRegion {
    /// True when the two regions share at least one byte.
    pub fn overlaps(&self, other: &MemRegion) -> bool {
        self.start < other.end && other.start < self.end
    }

    /// True when `other` lies entirely inside `self`.
    pub fn contains(&self, other: &MemRegion) -> bool {
        self.start <= other.start && other.end <= self.end
    }
}

/// Device memory the kernel keeps for its own devices, per architecture: on
/// x86_64 the I/O APIC and the local APIC, on aarch64 the GICv2's
/// distributor and CPU interface and the PL011 it prints through (lent
/// only through `InitCap::SerialDevice`). It is never handed out as device
/// untyped, and the build tool refuses a device region overlapping it.
pub const KERNEL_DEVICE_MEMORY: [(Arch, MemRegion); 4] = [
    (Arch::X86_64, page_at(0xfec0_0000)),
    (Arch::X86_64, page_at(0xfee0_0000)),
    (
        Arch::Aarch64,
        MemRegion {
            start: 0x0800_0000,
            end: 0x0802_0000,
        },
    ),
    (Arch::Aarch64, page_at(0x0900_0000)),
];

/// The platform device page the kernel leaves to user level and hands out
/// as a device untyped of its own, besides the PCI MMIO window: q35's HPET
/// on x86_64, virt's PL031 real-time clock on aarch64. The kernel never
/// touches either.
pub const fn free_device_page(arch: Arch) -> MemRegion {
    match arch {
        Arch::X86_64 => page_at(0xfed0_0000),
        Arch::Aarch64 => page_at(0x0901_0000),
    }
}

/// The page at `start`.
const fn page_at(start: u64) -> MemRegion {
    MemRegion {
        start,
        end: start + crate::PAGE_SIZE as u64,
    }
}

/// One untyped capability handed to the root task.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct UntypedDesc {
    /// Physical address of the region (aligned to its size).
    pub paddr: u64,
    /// log2 of the region's size in bytes.
    pub size_bits: u8,
    /// 1 for device memory (MMIO), 0 for RAM.
    pub is_device: u8,
    /// Reserved, zero.
    pub padding: [u8; 6],
}

impl UntypedDesc {
    /// The physical range the untyped covers.
    pub fn region(&self) -> MemRegion {
        MemRegion {
            start: self.paddr,
            end: self.paddr + (1u64 << self.size_bits),
        }
    }
}

/// The BootInfo page.
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct BootInfo {
    /// [`BOOTINFO_MAGIC`].
    pub magic: u64,
    /// [`Arch`] as a number.
    pub arch: u32,
    /// Number of valid entries in `untyped_list`.
    pub untyped_count: u32,
    /// log2 of the number of slots in the root CNode.
    pub root_cnode_size_bits: u64,
    /// Slots that hold nothing, free for the root task to use.
    pub empty: SlotRegion,
    /// Slots holding the untyped caps, in `untyped_list` order.
    pub untyped: SlotRegion,
    /// Slots holding frame caps for the boot archive's pages, in address order.
    pub archive_frames: SlotRegion,
    /// Virtual address of the boot archive in the root task.
    pub archive_vaddr: u64,
    /// Size of the boot archive in bytes.
    pub archive_size: u64,
    /// Physical range of the boot archive.
    pub archive_phys: MemRegion,
    /// Physical range of the kernel image (including the archive it carries).
    pub kernel_phys: MemRegion,
    /// Virtual address of the root task's IPC buffer.
    pub ipc_buffer: u64,
    /// Number of valid entries in `ram`.
    pub ram_count: u64,
    /// The RAM the platform reported.
    pub ram: [MemRegion; MAX_RAM_REGIONS],
    /// The untyped regions, in slot order.
    pub untyped_list: [UntypedDesc; MAX_UNTYPED],
}

const _: () = assert!(core::mem::size_of::<SlotRegion>() == 16);
const _: () = assert!(core::mem::size_of::<MemRegion>() == 16);
const _: () = assert!(core::mem::size_of::<UntypedDesc>() == 16);
const _: () = assert!(core::mem::size_of::<BootInfo>() == 136 + 16 * 16 + 16 * MAX_UNTYPED);
const _: () = assert!(core::mem::size_of::<BootInfo>() <= crate::PAGE_SIZE);

impl BootInfo {
    /// The untyped descriptors that are in use.
    pub fn untypeds(&self) -> &[UntypedDesc] {
        let n = (self.untyped_count as usize).min(MAX_UNTYPED);
        &self.untyped_list[..n]
    }

    /// The RAM regions that are in use.
    pub fn ram_regions(&self) -> &[MemRegion] {
        let n = (self.ram_count as usize).min(MAX_RAM_REGIONS);
        &self.ram[..n]
    }

    /// The architecture, if the field holds a known one.
    pub fn arch(&self) -> Option<Arch> {
        Arch::try_from(self.arch).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zerocopy::FromZeros;

    #[test]
    fn regions_overlap_and_contain() {
        let a = MemRegion {
            start: 0x1000,
            end: 0x3000,
        };
        let b = MemRegion {
            start: 0x2fff,
            end: 0x4000,
        };
        let c = MemRegion {
            start: 0x3000,
            end: 0x4000,
        };
        assert!(a.overlaps(&b) && b.overlaps(&a));
        assert!(!a.overlaps(&c) && !c.overlaps(&a));
        assert!(MemRegion {
            start: 0,
            end: 0x4000
        }
        .contains(&c));
        assert!(!a.contains(&b));
    }

    #[test]
    fn bootinfo_round_trips_through_bytes() {
        let mut bi = BootInfo::new_zeroed();
        bi.magic = BOOTINFO_MAGIC;
        bi.arch = Arch::Aarch64 as u32;
        bi.untyped_count = 2;
        bi.untyped_list[1] = UntypedDesc {
            paddr: 0x4000_0000,
            size_bits: 20,
            ..Default::default()
        };
        let bytes = bi.as_bytes().to_vec();
        let back = BootInfo::read_from_bytes(&bytes).unwrap();
        assert_eq!(back.arch(), Some(Arch::Aarch64));
        assert_eq!(back.untypeds().len(), 2);
        assert_eq!(back.untypeds()[1].region().end, 0x4010_0000);
        let mut bad = bi;
        bad.untyped_count = u32::MAX;
        assert_eq!(bad.untypeds().len(), MAX_UNTYPED);
    }
}
