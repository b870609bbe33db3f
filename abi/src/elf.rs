//! Just enough ELF64 to load a program: the header checks and the PT_LOAD
//! segments. The programs in the boot archive are ELF images; the kernel loads
//! the root task with this and keel-loader loads processes with it. It only
//! reads; the loaders copy the segments into frames.

use zerocopy::{FromBytes, Immutable, KnownLayout};

/// ELF machine number for x86_64.
pub const EM_X86_64: u16 = 62;
/// ELF machine number for aarch64.
pub const EM_AARCH64: u16 = 183;

const PT_LOAD: u32 = 1;

#[repr(C)]
#[derive(FromBytes, Immutable, KnownLayout)]
struct Header {
    ident: [u8; 16],
    kind: u16,
    machine: u16,
    version: u32,
    entry: u64,
    phoff: u64,
    shoff: u64,
    flags: u32,
    ehsize: u16,
    phentsize: u16,
    phnum: u16,
    shentsize: u16,
    shnum: u16,
    shstrndx: u16,
}

#[repr(C)]
#[derive(FromBytes, Immutable, KnownLayout)]
struct ProgramHeader {
    kind: u32,
    flags: u32,
    offset: u64,
    vaddr: u64,
    paddr: u64,
    filesz: u64,
    memsz: u64,
    align: u64,
}

const _: () = assert!(core::mem::size_of::<Header>() == 64);
const _: () = assert!(core::mem::size_of::<ProgramHeader>() == 56);

/// Why an image was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElfError {
    /// Not an ELF file, or truncated.
    NotElf,
    /// Not a little-endian 64-bit executable for the expected machine.
    WrongKind,
    /// A segment's file bytes lie outside the image, or filesz > memsz, or it wraps.
    BadSegment,
}

/// A loadable segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Virtual address of the first byte.
    pub vaddr: u64,
    /// Bytes in memory (the tail past `file_size` is zero).
    pub mem_size: u64,
    /// Offset of the file bytes in the image.
    pub file_offset: u64,
    /// Bytes taken from the file.
    pub file_size: u64,
    /// Readable / writable / executable.
    pub read: bool,
    /// See `read`.
    pub write: bool,
    /// See `read`.
    pub execute: bool,
}

/// A checked ELF image.
pub struct Elf<'a> {
    bytes: &'a [u8],
    header: &'a Header,
}

impl<'a> Elf<'a> {
    /// Checks the header for a little-endian ELF64 executable for `machine`,
    /// and every PT_LOAD segment.
    ///
    /// # Errors
    /// [`ElfError`] naming the first problem.
    pub fn parse(bytes: &'a [u8], machine: u16) -> Result<Self, ElfError> {
        let (header, _) = Header::ref_from_prefix(bytes).map_err(|_| ElfError::NotElf)?;
        if header.ident[..4] != *b"\x7fELF" {
            return Err(ElfError::NotElf);
        }
        // Class 2 = 64-bit, data 1 = little-endian, type 2 = executable.
        if header.ident[4] != 2
            || header.ident[5] != 1
            || header.kind != 2
            || header.machine != machine
        {
            return Err(ElfError::WrongKind);
        }
        if header.phentsize as usize != core::mem::size_of::<ProgramHeader>() {
            return Err(ElfError::WrongKind);
        }
        let elf = Elf { bytes, header };
        for i in 0..header.phnum as usize {
            let ph = elf.program_header(i).ok_or(ElfError::NotElf)?;
            if ph.kind == PT_LOAD {
                let file_end = ph
                    .offset
                    .checked_add(ph.filesz)
                    .ok_or(ElfError::BadSegment)?;
                let mem_end = ph.vaddr.checked_add(ph.memsz);
                if file_end > bytes.len() as u64 || ph.filesz > ph.memsz || mem_end.is_none() {
                    return Err(ElfError::BadSegment);
                }
            }
        }
        Ok(elf)
    }

    /// The entry point.
    pub fn entry(&self) -> u64 {
        self.header.entry
    }

    /// The PT_LOAD segments, in header order.
    pub fn segments(&self) -> impl Iterator<Item = Segment> + '_ {
        (0..self.header.phnum as usize)
            .filter_map(|i| self.program_header(i))
            .filter(|ph| ph.kind == PT_LOAD)
            .map(|ph| Segment {
                vaddr: ph.vaddr,
                mem_size: ph.memsz,
                file_offset: ph.offset,
                file_size: ph.filesz,
                execute: ph.flags & 1 != 0,
                write: ph.flags & 2 != 0,
                read: ph.flags & 4 != 0,
            })
    }

    /// The file bytes of a segment (checked at parse time).
    pub fn segment_data(&self, s: &Segment) -> &'a [u8] {
        &self.bytes[s.file_offset as usize..(s.file_offset + s.file_size) as usize]
    }

    fn program_header(&self, i: usize) -> Option<&'a ProgramHeader> {
        let at = (self.header.phoff as usize).checked_add(i.checked_mul(56)?)?;
        let bytes = self.bytes.get(at..at.checked_add(56)?)?;
        ProgramHeader::ref_from_bytes(bytes).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a minimal ELF64 with one PT_LOAD segment.
    fn image(machine: u16, filesz: u64, memsz: u64) -> [u8; 256] {
        let mut b = [0u8; 256];
        b[..4].copy_from_slice(b"\x7fELF");
        b[4] = 2;
        b[5] = 1;
        b[16..18].copy_from_slice(&2u16.to_le_bytes());
        b[18..20].copy_from_slice(&machine.to_le_bytes());
        b[24..32].copy_from_slice(&0x40_1000u64.to_le_bytes());
        b[32..40].copy_from_slice(&64u64.to_le_bytes());
        b[54..56].copy_from_slice(&56u16.to_le_bytes());
        b[56..58].copy_from_slice(&1u16.to_le_bytes());
        let ph = &mut b[64..120];
        ph[0..4].copy_from_slice(&1u32.to_le_bytes());
        ph[4..8].copy_from_slice(&5u32.to_le_bytes());
        ph[8..16].copy_from_slice(&128u64.to_le_bytes());
        ph[16..24].copy_from_slice(&0x40_1000u64.to_le_bytes());
        ph[32..40].copy_from_slice(&filesz.to_le_bytes());
        ph[40..48].copy_from_slice(&memsz.to_le_bytes());
        b
    }

    #[test]
    fn parses_a_segment() {
        let b = image(EM_X86_64, 16, 4096);
        let elf = Elf::parse(&b, EM_X86_64).unwrap();
        assert_eq!(elf.entry(), 0x40_1000);
        let segs: [Segment; 1] = [elf.segments().next().unwrap()];
        assert_eq!(segs[0].vaddr, 0x40_1000);
        assert!(segs[0].read && segs[0].execute && !segs[0].write);
        assert_eq!(elf.segment_data(&segs[0]).len(), 16);
    }

    #[test]
    fn rejects_bad_images() {
        assert_eq!(
            Elf::parse(&[0u8; 10], EM_X86_64).err(),
            Some(ElfError::NotElf)
        );
        assert_eq!(
            Elf::parse(&image(EM_AARCH64, 16, 16), EM_X86_64).err(),
            Some(ElfError::WrongKind)
        );
        assert_eq!(
            Elf::parse(&image(EM_X86_64, 4096, 4096), EM_X86_64).err(),
            Some(ElfError::BadSegment)
        );
        assert_eq!(
            Elf::parse(&image(EM_X86_64, 32, 16), EM_X86_64).err(),
            Some(ElfError::BadSegment)
        );
    }
}
