//! keel-probe: the Probe protocol, which the probe server (this crate's
//! program) serves and the tests of init and supervision call. The probe
//! answers what a test needs to see from inside a server: the badge it was
//! called through, its shared region, and what happens when it crashes or
//! exits while serving.
#![no_std]

use keel_protocols::cap::Notification;
use keel_protocols::protocol;

/// The region the probe reads and writes (`peek`, `poke`).
pub const SHARED_REGION: &str = "shared";
/// The address `crash` loads from: nothing is mapped there.
pub const UNMAPPED: u64 = 0x10;

protocol! {
    /// A client of the probe server.
    protocol Probe {
        id: 100,
        version: 1,
        client: ProbeClient,
        server: ProbeServer,
        error: ProbeError {
            /// The probe has no region named [`SHARED_REGION`].
            NoRegion = 1,
            /// The offset is not an aligned word inside the region.
            OutOfRange = 2,
        },
        ops: {
            /// Answers `value + 1`.
            1 => echo(fixed value: u64) -> fixed u64;
            /// The badge the request came through and the activity charged.
            2 => whoami() -> fixed [u64; 2];
            /// Loads from [`UNMAPPED`]: a VM fault while serving.
            3 => crash() -> fixed ();
            /// Returns from `main` with `status` while serving.
            4 => quit(fixed status: u32) -> fixed ();
            /// Writes `value` at byte `offset` of the shared region.
            5 => poke(fixed offset: u64, fixed value: u64) -> fixed ();
            /// Reads the word at byte `offset` of the shared region.
            6 => peek(fixed offset: u64) -> fixed u64;
            /// Needs the admin right.
            7 => admin() requires ADMIN -> fixed ();
            /// Takes a notification cap (and lets it go).
            8 => take(cap notification: Notification) -> fixed ();
            /// Reads the 32-bit word at byte `offset` of the shared region
            /// (a device region's registers may take no wider load).
            9 => peek32(fixed offset: u64) -> fixed u32;
        }
    }
}
