//! Shrinking user ELFs for the boot archive: only what the kernel's loader
//! reads is kept (the ELF header, the PT_LOAD program headers and their file
//! bytes); debug info and section tables stay in the unstripped ELF under
//! `target/keel/user/`, which gdb uses.

use anyhow::{bail, Context, Result};

const EHDR: usize = 64;
const PHDR: usize = 56;
const PT_LOAD: u32 = 1;

fn field<const N: usize>(bytes: &[u8], at: usize) -> Result<[u8; N]> {
    bytes
        .get(at..at + N)
        .and_then(|b| b.try_into().ok())
        .context("the ELF file is truncated")
}

fn u16_at(b: &[u8], at: usize) -> Result<u16> {
    Ok(u16::from_le_bytes(field(b, at)?))
}

fn u32_at(b: &[u8], at: usize) -> Result<u32> {
    Ok(u32::from_le_bytes(field(b, at)?))
}

fn u64_at(b: &[u8], at: usize) -> Result<u64> {
    Ok(u64::from_le_bytes(field(b, at)?))
}

/// The ELF with only its loadable segments.
///
/// # Errors
/// When `elf` is not a little-endian ELF64 or a segment lies outside it.
pub fn loadable_only(elf: &[u8]) -> Result<Vec<u8>> {
    if elf.len() < EHDR || elf[..4] != *b"\x7fELF" || elf[4] != 2 || elf[5] != 1 {
        bail!("not a little-endian ELF64 file");
    }
    let (phoff, phentsize, phnum) = (
        u64_at(elf, 32)? as usize,
        u16_at(elf, 54)? as usize,
        u16_at(elf, 56)? as usize,
    );
    if phentsize != PHDR {
        bail!("unexpected program header size {phentsize}");
    }
    let loads: Vec<&[u8]> = (0..phnum)
        .map(|i| {
            elf.get(phoff + i * PHDR..phoff + (i + 1) * PHDR)
                .context("program headers are truncated")
        })
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .filter(|ph| u32_at(ph, 0).is_ok_and(|t| t == PT_LOAD))
        .collect();
    let mut out = elf[..EHDR].to_vec();
    // No section headers; program headers right after the ELF header.
    out[32..40].copy_from_slice(&(EHDR as u64).to_le_bytes());
    out[40..48].copy_from_slice(&0u64.to_le_bytes());
    out[56..58].copy_from_slice(&(loads.len() as u16).to_le_bytes());
    out[58..64].copy_from_slice(&[0; 6]);
    let mut data_at = EHDR + loads.len() * PHDR;
    let mut data = Vec::new();
    for ph in &loads {
        let (offset, filesz) = (u64_at(ph, 8)? as usize, u64_at(ph, 32)? as usize);
        let bytes = elf
            .get(offset..offset + filesz)
            .context("a segment lies outside the file")?;
        let mut header = ph.to_vec();
        header[8..16].copy_from_slice(&(data_at as u64).to_le_bytes());
        out.extend_from_slice(&header);
        data.extend_from_slice(bytes);
        data_at += filesz;
    }
    out.extend_from_slice(&data);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use keel_abi::elf::{Elf, EM_X86_64};

    /// An ELF with one PT_LOAD segment, one PT_NOTE and trailing "debug" bytes.
    fn sample() -> Vec<u8> {
        let mut b = vec![0u8; 64 + 2 * 56];
        b[..4].copy_from_slice(b"\x7fELF");
        b[4] = 2;
        b[5] = 1;
        b[16..18].copy_from_slice(&2u16.to_le_bytes());
        b[18..20].copy_from_slice(&EM_X86_64.to_le_bytes());
        b[24..32].copy_from_slice(&0x40_1000u64.to_le_bytes());
        b[32..40].copy_from_slice(&64u64.to_le_bytes());
        b[40..48].copy_from_slice(&999u64.to_le_bytes());
        b[54..56].copy_from_slice(&56u16.to_le_bytes());
        b[56..58].copy_from_slice(&2u16.to_le_bytes());
        let data_at = b.len() as u64 + 100;
        let load = &mut b[64..120];
        load[0..4].copy_from_slice(&1u32.to_le_bytes());
        load[4..8].copy_from_slice(&5u32.to_le_bytes());
        load[8..16].copy_from_slice(&data_at.to_le_bytes());
        load[16..24].copy_from_slice(&0x40_1000u64.to_le_bytes());
        load[32..40].copy_from_slice(&8u64.to_le_bytes());
        load[40..48].copy_from_slice(&4096u64.to_le_bytes());
        b[120..124].copy_from_slice(&4u32.to_le_bytes());
        b.extend_from_slice(&[0xdd; 100]);
        b.extend_from_slice(b"CODE1234");
        b.extend_from_slice(&[0xdb; 500]);
        b
    }

    #[test]
    fn keeps_what_the_loader_reads() {
        let original = sample();
        let small = loadable_only(&original).unwrap();
        assert!(small.len() < original.len());
        let elf = Elf::parse(&small, EM_X86_64).unwrap();
        assert_eq!(elf.entry(), 0x40_1000);
        let segs: Vec<_> = elf.segments().collect();
        assert_eq!(segs.len(), 1);
        assert_eq!(elf.segment_data(&segs[0]), b"CODE1234");
        assert_eq!(segs[0].mem_size, 4096);
    }

    #[test]
    fn rejects_what_is_not_elf64() {
        assert!(
            loadable_only(b"not an elf at all, not at all, no, not at all, certainly not!!")
                .is_err()
        );
        let mut truncated = sample();
        truncated.truncate(100);
        assert!(loadable_only(&truncated).is_err());
    }
}
