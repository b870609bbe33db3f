//! A failed invocation's error together with the two detail words the kernel
//! answers with (laid out as `keel_abi::invocation::ErrorDetail` documents).
//! The detail travels in the returned value, not in a global, so every
//! thread of a program sees the detail of its own call.

use keel_abi::invocation::ErrorDetail;
use keel_abi::{Error, LookupFailure};

/// A failed invocation: the kernel's error and its detail words. Compares
/// equal to the plain [`Error`] it carries, and converts into it with `?`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvocationError {
    error: Error,
    detail: [u64; 2],
}

impl InvocationError {
    /// The error `error` with detail words `detail`.
    pub const fn new(error: Error, detail: [u64; 2]) -> Self {
        InvocationError { error, detail }
    }

    /// The error.
    pub const fn error(&self) -> Error {
        self.error
    }

    /// The two raw detail words.
    pub const fn detail(&self) -> [u64; 2] {
        self.detail
    }

    /// Detail word 0 when the error is `expected`.
    fn word0_if(&self, expected: Error) -> Option<u64> {
        (self.error == expected).then_some(self.detail[0])
    }

    /// For `InvalidArgument`: which argument (message register) was bad.
    pub fn invalid_argument(&self) -> Option<u64> {
        self.word0_if(Error::InvalidArgument)
    }

    /// For `InvalidCapability`: which cap was bad (0: the invoked one,
    /// then the extra caps from 1).
    pub fn invalid_capability(&self) -> Option<u64> {
        self.word0_if(Error::InvalidCapability)
    }

    /// For `RangeError`: the smallest and largest allowed values.
    pub fn range(&self) -> Option<(u64, u64)> {
        (self.error == Error::RangeError).then_some((self.detail[0], self.detail[1]))
    }

    /// For `FailedLookup`: why the lookup failed (`None` for another error,
    /// or a reason this crate's ABI does not know).
    pub fn lookup_failure(&self) -> Option<LookupFailure> {
        let word = self.word0_if(Error::FailedLookup)?;
        LookupFailure::try_from(word & !ErrorDetail::LOOKUP_SOURCE).ok()
    }

    /// For `FailedLookup`: whether the failed lookup was of a source slot
    /// (an extra cap of a CNode operation) rather than the destination.
    pub fn lookup_in_source(&self) -> bool {
        self.word0_if(Error::FailedLookup)
            .is_some_and(|w| w & ErrorDetail::LOOKUP_SOURCE != 0)
    }

    /// For `FailedLookup`: the bits of the address left unresolved where the
    /// lookup stopped (for a mapping, the level of the missing table).
    pub fn bits_left(&self) -> Option<u64> {
        (self.error == Error::FailedLookup).then_some(self.detail[1])
    }

    /// For `NotEnoughMemory`: the bytes the untyped still has.
    pub fn bytes_available(&self) -> Option<u64> {
        self.word0_if(Error::NotEnoughMemory)
    }
}

impl From<Error> for InvocationError {
    /// An error found without the kernel's answer: no detail.
    fn from(error: Error) -> Self {
        InvocationError::new(error, [0; 2])
    }
}

impl From<InvocationError> for Error {
    fn from(e: InvocationError) -> Self {
        e.error
    }
}

impl PartialEq<Error> for InvocationError {
    fn eq(&self, other: &Error) -> bool {
        self.error == *other
    }
}

impl core::fmt::Display for InvocationError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} (detail {:?})", self.error, self.detail)
    }
}
