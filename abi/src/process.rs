//! The process-information page: what init tells a program it starts about
//! its own CSpace and address space. Init maps it read-only at
//! [`PROCESS_INFO_VADDR`] (where the root task finds its BootInfo) and passes
//! that address in argument register 0, so keel-rt tells the two apart by
//! the first word: [`crate::bootinfo::BOOTINFO_MAGIC`] or
//! [`PROCESS_INFO_MAGIC`].
//!
//! ```text
//! word 0   PROCESS_INFO_MAGIC
//! word 1   length of what follows, in bytes
//! bytes    ProcessInfo, postcard-encoded
//! ```
//!
//! Every cap is named by its slot in the program's one-level CNode, so a
//! slot number is a CPtr. A program finds its connections by the names the
//! system description gave them.

use alloc::string::String;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

/// Where init maps the page (the root task's BootInfo address).
pub const PROCESS_INFO_VADDR: u64 = crate::bootinfo::BOOTINFO_VADDR;
/// Where init maps the kernel's UART page into the program it lends it to
/// on aarch64 (the PL011's registers), listed among its regions as
/// [`SERIAL_REGION`]: below the description's mapping window, so no
/// `[[program.map]]` meets it.
pub const SERIAL_DEVICE_VADDR: u64 = 0x0000_0000_3fff_f000;
/// The name of that region in [`ProcessInfo::regions`].
pub const SERIAL_REGION: &str = "serial-device";
/// The page's first word: "KEELPROC".
pub const PROCESS_INFO_MAGIC: u64 = 0x4b45_454c_5052_4f43;
/// Bytes before the encoded [`ProcessInfo`].
const HEADER_BYTES: usize = 16;

/// The caps every program (or some) has, by slot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessSlots {
    /// Its TCB.
    pub tcb: u64,
    /// Its CNode.
    pub cnode: u64,
    /// Its VSpace.
    pub vspace: u64,
    /// An endpoint to init, badged with the program's client badge: the
    /// Init protocol (ready, exit) goes through it.
    pub init: u64,
    /// An empty slot: where caps the program receives are put.
    pub receive: u64,
    /// A Debug cap: the read right (identify the program's own caps, as a
    /// server checks the type of a cap it received), and the write right
    /// (print, name threads) for programs the description gives
    /// `debug = true`; never the rights to halt or turn a kernel knob.
    pub debug: Option<u64>,
    /// A server's own endpoint (receive right), which its clients' badged
    /// caps name.
    pub endpoint: Option<u64>,
    /// A server's Reply object, for its receive loop.
    pub reply: Option<u64>,
    /// A notification bound to the program's TCB, signalled by its
    /// interrupts (each with the event bit of its [`IrqCap`]).
    pub notification: Option<u64>,
    /// Empty slots `first..end` for the objects a server makes or keeps
    /// (the scheduler server's scheduling contexts and the threads it
    /// keeps, the timer server's client notifications).
    pub spare: Option<(u64, u64)>,
}

/// A cap the program knows by name: a connection to a server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedCap {
    /// The name the description gave it.
    pub name: String,
    /// Its slot.
    pub slot: u64,
}

/// A shared or device memory region mapped into the program.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MappedRegion {
    /// The region's name.
    pub name: String,
    /// Where its first byte is mapped.
    pub vaddr: u64,
    /// Its size in bytes.
    pub size: u64,
    /// Mapped writable.
    pub writable: bool,
}

/// An interrupt the program handles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IrqCap {
    /// The interrupt number.
    pub irq: u32,
    /// The slot of its IRQ handler cap (acknowledge through it).
    pub handler: u64,
    /// The event bit it sets in the program's notification.
    pub event: u8,
}

/// A range of I/O ports the program drives (x86_64).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IoPortCap {
    /// The first port.
    pub first: u16,
    /// The last port.
    pub last: u16,
    /// The slot of its IOPort cap.
    pub slot: u64,
}

/// What a program started by init is told about itself.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessInfo {
    /// Its name in the system description.
    pub name: String,
    /// The caps it always (or sometimes) has.
    pub slots: ProcessSlots,
    /// Its connections to servers.
    pub connections: Vec<NamedCap>,
    /// Memory regions mapped into it.
    pub regions: Vec<MappedRegion>,
    /// Interrupts it handles.
    pub irqs: Vec<IrqCap>,
    /// I/O port ranges it drives.
    pub ioports: Vec<IoPortCap>,
    /// A word of the starter's (0 when unused): tests and benchmarks tell a
    /// program what to do with it.
    pub arg: u64,
}

/// Why a page is not a process-information page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcessInfoError {
    /// The first word is not [`PROCESS_INFO_MAGIC`].
    NoMagic,
    /// The length word runs past the page.
    TooLong,
    /// The bytes do not decode.
    Malformed,
}

impl ProcessInfo {
    /// The connection named `name`, if the program has one.
    pub fn connection(&self, name: &str) -> Option<u64> {
        self.connections
            .iter()
            .find(|c| c.name == name)
            .map(|c| c.slot)
    }

    /// The region named `name`, if mapped into the program.
    pub fn region(&self, name: &str) -> Option<&MappedRegion> {
        self.regions.iter().find(|r| r.name == name)
    }

    /// The page's bytes: header and encoding.
    ///
    /// # Errors
    /// postcard's error if serialisation fails.
    pub fn encode_page(&self) -> Result<Vec<u8>, postcard::Error> {
        let body = postcard::to_allocvec(self)?;
        let mut page = Vec::with_capacity(HEADER_BYTES + body.len());
        page.extend_from_slice(&PROCESS_INFO_MAGIC.to_le_bytes());
        page.extend_from_slice(&(body.len() as u64).to_le_bytes());
        page.extend_from_slice(&body);
        Ok(page)
    }

    /// Reads a page written by [`ProcessInfo::encode_page`].
    ///
    /// # Errors
    /// What is wrong with it.
    pub fn decode_page(page: &[u8]) -> Result<ProcessInfo, ProcessInfoError> {
        let word = |i: usize| {
            page.get(i * 8..i * 8 + 8)
                .and_then(|w| w.try_into().ok())
                .map(u64::from_le_bytes)
        };
        if word(0) != Some(PROCESS_INFO_MAGIC) {
            return Err(ProcessInfoError::NoMagic);
        }
        let length = word(1).ok_or(ProcessInfoError::TooLong)?;
        let body = usize::try_from(length)
            .ok()
            .and_then(|l| page.get(HEADER_BYTES..HEADER_BYTES.checked_add(l)?))
            .ok_or(ProcessInfoError::TooLong)?;
        postcard::from_bytes(body).map_err(|_| ProcessInfoError::Malformed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec;

    fn sample() -> ProcessInfo {
        ProcessInfo {
            name: "hello".to_string(),
            slots: ProcessSlots {
                tcb: 1,
                cnode: 2,
                vspace: 3,
                init: 4,
                receive: 47,
                debug: Some(5),
                endpoint: None,
                reply: None,
                notification: None,
                spare: Some((32, 96)),
            },
            connections: vec![NamedCap {
                name: "console".to_string(),
                slot: 6,
            }],
            regions: vec![MappedRegion {
                name: "ring".to_string(),
                vaddr: 0x4000_0000,
                size: 0x2000,
                writable: true,
            }],
            irqs: vec![IrqCap {
                irq: 30,
                handler: 7,
                event: 2,
            }],
            ioports: vec![IoPortCap {
                first: 0x70,
                last: 0x71,
                slot: 8,
            }],
            arg: 9,
        }
    }

    #[test]
    fn page_round_trips_and_names_its_caps() {
        let info = sample();
        let page = info.encode_page().unwrap();
        let back = ProcessInfo::decode_page(&page).unwrap();
        assert_eq!(back, info);
        assert_eq!(back.connection("console"), Some(6));
        assert_eq!(back.connection("serial"), None);
        assert_eq!(back.region("ring").map(|r| r.size), Some(0x2000));
    }

    #[test]
    fn bad_pages_are_refused() {
        let page = sample().encode_page().unwrap();
        assert_eq!(
            ProcessInfo::decode_page(&page[..page.len() - 1]),
            Err(ProcessInfoError::TooLong)
        );
        assert_eq!(
            ProcessInfo::decode_page(&[0; 64]),
            Err(ProcessInfoError::NoMagic)
        );
        assert_eq!(
            ProcessInfo::decode_page(&page[..12]),
            Err(ProcessInfoError::TooLong)
        );
        let mut huge = page.clone();
        huge[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(
            ProcessInfo::decode_page(&huge),
            Err(ProcessInfoError::TooLong)
        );
        let mut garbled = page;
        garbled[16] = 0xff;
        assert!(ProcessInfo::decode_page(&garbled).is_err());
    }
}
