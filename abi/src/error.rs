//! Error codes returned by system calls and invocations (seL4's set, same order).

use crate::numbered::numbered_enum;

numbered_enum! {
    /// An error returned by the kernel. `0` is success and never appears as an `Error`.
    pub enum Error: u64 {
        /// An argument is out of its valid set; the message names which.
        InvalidArgument = 1,
        /// A capability is of the wrong type or lacks a right.
        InvalidCapability = 2,
        /// The operation is not allowed on this object or in this state.
        IllegalOperation = 3,
        /// A numeric argument is outside the allowed range.
        RangeError = 4,
        /// An address or size is not suitably aligned.
        AlignmentError = 5,
        /// A capability lookup failed.
        FailedLookup = 6,
        /// The message was shorter than the invocation needs.
        TruncatedMessage = 7,
        /// The destination slot is not empty.
        DeleteFirst = 8,
        /// The object still has derived capabilities.
        RevokeFirst = 9,
        /// The untyped does not have enough free memory.
        NotEnoughMemory = 10,
    }
}

impl Error {
    /// Turns a raw result word into `Ok(())` (for 0) or the error it names.
    ///
    /// # Errors
    /// The error the word names. A code this ABI does not define can only come from
    /// a kernel newer than this crate; it is reported as `IllegalOperation`.
    pub fn check(word: u64) -> Result<(), Error> {
        match word {
            0 => Ok(()),
            code => Err(Error::try_from(code).unwrap_or(Error::IllegalOperation)),
        }
    }
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Debug::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for &e in Error::ALL {
            assert_eq!(Error::try_from(e as u64), Ok(e));
        }
        assert_eq!(Error::try_from(0), Err(0));
        assert_eq!(Error::try_from(99), Err(99));
        assert_eq!(Error::check(0), Ok(()));
        assert_eq!(Error::check(6), Err(Error::FailedLookup));
    }
}
