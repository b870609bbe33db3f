//! The boot manifest: what the root task should run, written by the build tool
//! from the system description and read by the root task. postcard-encoded.

use alloc::string::String;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

/// What the root task runs after printing its banner.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Start {
    /// The built-in demo.
    Demo,
    /// The on-target test suite, optionally only the named tests.
    Tests {
        /// Run only these tests (all when empty).
        only: Vec<String>,
        /// Skip every test up to and including this one: the build tool
        /// resumes the suite this way after a test hung.
        resume_after: Option<String>,
    },
}

/// One program in the boot archive.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Program {
    /// Archive entry name.
    pub name: String,
    /// What the program is for (`root-task`, `app`, `test`, ...).
    pub role: String,
}

/// The manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Name of the system description it came from.
    pub system: String,
    /// The programs in the archive.
    pub programs: Vec<Program>,
    /// What to run.
    pub start: Start,
}

impl Manifest {
    /// Encodes the manifest.
    ///
    /// # Errors
    /// postcard's error if serialisation fails.
    pub fn encode(&self) -> Result<Vec<u8>, postcard::Error> {
        postcard::to_allocvec(self)
    }

    /// Decodes a manifest.
    ///
    /// # Errors
    /// postcard's error for malformed bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, postcard::Error> {
        postcard::from_bytes(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec;

    #[test]
    fn manifest_round_trips_and_rejects_garbage() {
        let m = Manifest {
            system: "default".to_string(),
            programs: vec![Program {
                name: "root-task".to_string(),
                role: "root-task".to_string(),
            }],
            start: Start::Tests {
                only: vec!["FAULT0001".to_string()],
                resume_after: Some("IPC0001".to_string()),
            },
        };
        assert_eq!(Manifest::decode(&m.encode().unwrap()).unwrap(), m);
        assert!(Manifest::decode(&[0xff, 0xff, 0xff]).is_err());
    }
}
