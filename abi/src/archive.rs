//! The boot archive: the root task, every other user ELF and the boot manifest,
//! packed by the build tool and linked into the kernel image.
//!
//! Layout: an [`ArchiveHeader`], `count` [`ArchiveEntry`]s, then each file's bytes
//! at its `offset`, which is page-aligned. All integers are little-endian.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, LE, U32, U64};

/// Magic bytes at the start of an archive.
pub const ARCHIVE_MAGIC: [u8; 8] = *b"KEELARC1";
/// Longest entry name, in bytes (names are NUL-padded).
pub const NAME_LEN: usize = 48;
/// Name of the boot manifest entry.
pub const MANIFEST_NAME: &str = "manifest";

/// The archive header.
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct ArchiveHeader {
    /// [`ARCHIVE_MAGIC`].
    pub magic: [u8; 8],
    /// Number of entries.
    pub count: U32<LE>,
    /// Index of the entry the kernel starts as the root task.
    pub root_index: U32<LE>,
    /// Total size of the archive in bytes.
    pub total_size: U64<LE>,
}

/// One file in the archive.
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct ArchiveEntry {
    /// NUL-padded UTF-8 name.
    pub name: [u8; NAME_LEN],
    /// Offset of the file from the start of the archive (page-aligned).
    pub offset: U64<LE>,
    /// Size of the file in bytes.
    pub size: U64<LE>,
}

const _: () = assert!(core::mem::size_of::<ArchiveHeader>() == 24);
const _: () = assert!(core::mem::size_of::<ArchiveEntry>() == 64);

/// Why an archive could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArchiveError {
    /// Shorter than its header or entry table.
    Truncated,
    /// Wrong magic bytes.
    BadMagic,
    /// An entry's data lies outside the archive or is misaligned.
    BadEntry,
    /// `root_index` names no entry.
    BadRoot,
}

impl ArchiveEntry {
    /// The entry's name, up to the first NUL.
    pub fn name(&self) -> &str {
        let len = self.name.iter().position(|&b| b == 0).unwrap_or(NAME_LEN);
        core::str::from_utf8(&self.name[..len]).unwrap_or("")
    }
}

/// A checked view of an archive in memory.
#[derive(Clone, Copy)]
pub struct Archive<'a> {
    bytes: &'a [u8],
    header: &'a ArchiveHeader,
    entries: &'a [ArchiveEntry],
}

impl<'a> Archive<'a> {
    /// Checks the header and every entry.
    ///
    /// # Errors
    /// [`ArchiveError`] naming the first problem found.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, ArchiveError> {
        let (header, rest) =
            ArchiveHeader::ref_from_prefix(bytes).map_err(|_| ArchiveError::Truncated)?;
        if header.magic != ARCHIVE_MAGIC {
            return Err(ArchiveError::BadMagic);
        }
        let count = header.count.get() as usize;
        let (entries, _) = <[ArchiveEntry]>::ref_from_prefix_with_elems(rest, count)
            .map_err(|_| ArchiveError::Truncated)?;
        if header.total_size.get() > bytes.len() as u64 {
            return Err(ArchiveError::Truncated);
        }
        for e in entries {
            let end = e
                .offset
                .get()
                .checked_add(e.size.get())
                .ok_or(ArchiveError::BadEntry)?;
            if end > header.total_size.get() || e.offset.get() % crate::PAGE_SIZE as u64 != 0 {
                return Err(ArchiveError::BadEntry);
            }
        }
        if header.root_index.get() as usize >= count {
            return Err(ArchiveError::BadRoot);
        }
        Ok(Archive {
            bytes,
            header,
            entries,
        })
    }

    /// All entries, in archive order.
    pub fn entries(&self) -> &'a [ArchiveEntry] {
        self.entries
    }

    /// The bytes of one entry.
    pub fn data(&self, entry: &ArchiveEntry) -> &'a [u8] {
        let start = entry.offset.get() as usize;
        &self.bytes[start..start + entry.size.get() as usize]
    }

    /// The entry called `name`, if any.
    pub fn find(&self, name: &str) -> Option<&'a ArchiveEntry> {
        self.entries.iter().find(|e| e.name() == name)
    }

    /// The entry the kernel starts as the root task.
    pub fn root(&self) -> &'a ArchiveEntry {
        &self.entries[self.header.root_index.get() as usize]
    }

    /// Total size in bytes.
    pub fn total_size(&self) -> u64 {
        self.header.total_size.get()
    }
}

/// Builds an archive from named files; `root` is the index of the root task.
/// Used by the build tool and by tests.
#[cfg(feature = "manifest")]
pub fn pack(files: &[(&str, &[u8])], root: usize) -> Result<alloc::vec::Vec<u8>, ArchiveError> {
    use alloc::vec::Vec;
    if root >= files.len() {
        return Err(ArchiveError::BadRoot);
    }
    let page = crate::PAGE_SIZE;
    let table =
        core::mem::size_of::<ArchiveHeader>() + files.len() * core::mem::size_of::<ArchiveEntry>();
    let mut offset = table.div_ceil(page) * page;
    let mut entries = Vec::new();
    for (name, data) in files {
        if name.len() > NAME_LEN || name.is_empty() {
            return Err(ArchiveError::BadEntry);
        }
        let mut n = [0u8; NAME_LEN];
        n[..name.len()].copy_from_slice(name.as_bytes());
        entries.push(ArchiveEntry {
            name: n,
            offset: U64::new(offset as u64),
            size: U64::new(data.len() as u64),
        });
        offset += data.len().div_ceil(page) * page;
    }
    let header = ArchiveHeader {
        magic: ARCHIVE_MAGIC,
        count: U32::new(files.len() as u32),
        root_index: U32::new(root as u32),
        total_size: U64::new(offset as u64),
    };
    let mut out = alloc::vec![0u8; offset];
    out[..24].copy_from_slice(header.as_bytes());
    for (i, (e, (_, data))) in entries.iter().zip(files).enumerate() {
        let at = 24 + i * 64;
        out[at..at + 64].copy_from_slice(e.as_bytes());
        let start = e.offset.get() as usize;
        out[start..start + data.len()].copy_from_slice(data);
    }
    Ok(out)
}

#[cfg(all(test, feature = "manifest"))]
mod tests {
    use super::*;

    #[test]
    fn pack_then_parse() {
        let bytes = pack(&[("root-task", b"\x7fELF..."), ("manifest", b"m")], 0).unwrap();
        let a = Archive::parse(&bytes).unwrap();
        assert_eq!(a.entries().len(), 2);
        assert_eq!(a.root().name(), "root-task");
        assert_eq!(a.data(a.find("manifest").unwrap()), b"m");
        assert_eq!(a.total_size() as usize, bytes.len());
    }

    #[test]
    fn malformed_archives_are_rejected() {
        let good = pack(&[("a", b"x")], 0).unwrap();
        assert_eq!(
            Archive::parse(&good[..10]).err(),
            Some(ArchiveError::Truncated)
        );
        let mut bad = good.clone();
        bad[0] = b'X';
        assert_eq!(Archive::parse(&bad).err(), Some(ArchiveError::BadMagic));
        let mut bad = good.clone();
        bad[12] = 5; // root_index
        assert_eq!(Archive::parse(&bad).err(), Some(ArchiveError::BadRoot));
        let mut bad = good.clone();
        bad[24 + 48] = 1; // offset no longer page-aligned
        assert_eq!(Archive::parse(&bad).err(), Some(ArchiveError::BadEntry));
        assert_eq!(pack(&[("a", b"x")], 1).err(), Some(ArchiveError::BadRoot));
    }
}
