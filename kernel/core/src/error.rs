//! The error an invocation returns: a `keel_abi::Error` and its two detail words.
//!
//! The detail layout is the ABI's (`keel_abi::invocation::ErrorDetail`). This
//! module only builds the values; writing them to the caller's registers is the
//! kernel's syscall layer's job.

use crate::cspace::lookup::LookupError;
use keel_abi::invocation::ErrorDetail;
use keel_abi::Error;

impl From<LookupError> for SyscallError {
    /// `FailedLookup` for a lookup that is not of a source slot.
    fn from(e: LookupError) -> Self {
        SyscallError::failed_lookup(false, e)
    }
}

/// An invocation's error with its detail words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyscallError {
    /// The error code.
    pub error: Error,
    /// The two detail words, laid out as `ErrorDetail` documents.
    pub detail: [u64; 2],
}

impl SyscallError {
    /// `InvalidArgument` naming argument `index`.
    pub const fn invalid_argument(index: u64) -> Self {
        SyscallError {
            error: Error::InvalidArgument,
            detail: [index, 0],
        }
    }

    /// `InvalidCapability` naming cap `index` (0: the invoked cap).
    pub const fn invalid_capability(index: u64) -> Self {
        SyscallError {
            error: Error::InvalidCapability,
            detail: [index, 0],
        }
    }

    /// `RangeError` with the allowed range `min..=max`.
    pub const fn range(min: u64, max: u64) -> Self {
        SyscallError {
            error: Error::RangeError,
            detail: [min, max],
        }
    }

    /// `FailedLookup` with the lookup failure, whether it was a source slot, and
    /// the bits left unresolved.
    pub const fn failed_lookup(source: bool, e: LookupError) -> Self {
        let flag = if source {
            ErrorDetail::LOOKUP_SOURCE
        } else {
            0
        };
        SyscallError {
            error: Error::FailedLookup,
            detail: [e.failure as u64 | flag, e.bits_left as u64],
        }
    }

    /// `NotEnoughMemory` with the bytes still available.
    pub const fn not_enough_memory(available: u64) -> Self {
        SyscallError {
            error: Error::NotEnoughMemory,
            detail: [available, 0],
        }
    }

    /// The same error, with a `FailedLookup` marked as a source-slot lookup.
    #[must_use]
    pub const fn as_source(self) -> Self {
        match self.error {
            Error::FailedLookup => SyscallError {
                error: self.error,
                detail: [self.detail[0] | ErrorDetail::LOOKUP_SOURCE, self.detail[1]],
            },
            _ => self,
        }
    }
}

impl From<Error> for SyscallError {
    fn from(error: Error) -> Self {
        SyscallError {
            error,
            detail: [0, 0],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keel_abi::LookupFailure;

    #[test]
    fn details() {
        let e = LookupError::new(LookupFailure::GuardMismatch, 12);
        assert_eq!(SyscallError::failed_lookup(true, e).detail, [4 | 0x100, 12]);
        assert_eq!(
            SyscallError::failed_lookup(false, e).as_source(),
            SyscallError::failed_lookup(true, e)
        );
        assert_eq!(SyscallError::range(1, 64).detail, [1, 64]);
        assert_eq!(SyscallError::from(Error::DeleteFirst).detail, [0, 0]);
        assert_eq!(
            SyscallError::from(Error::DeleteFirst).as_source().detail,
            [0, 0]
        );
    }
}
