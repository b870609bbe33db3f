//! Capabilities as protocol arguments. A sender names a cap in its own CSpace
//! ([`Grant`]); the kernel transfers it (through an endpoint cap with the
//! grant right) into the receiver's receive slot, or unwraps it to its badge
//! when it is a badged cap to the very endpoint the message goes through; the
//! receiver sees a [`ReceivedCap`] and, once the decoder has checked its type,
//! a typed [`Granted`]. As in seL4, one message can move at most one cap
//! into the receive slot; further caps arrive only when they unwrap, so an
//! operation that takes two caps expects one of them to be a badged cap to
//! the server's own endpoint. Kinds are marker types named as keel-sys names
//! them, so declarations read `cap notify: Notification`.

use core::marker::PhantomData;
use keel_abi::CapType;

/// A kind of capability a protocol can take, by its kernel type.
pub trait CapKind {
    /// The kernel's name for the type.
    const TYPE: CapType;
}

macro_rules! cap_kinds {
    ($($(#[$doc:meta])* $name:ident;)*) => {
        $(
            $(#[$doc])*
            #[derive(Clone, Copy, Debug, PartialEq, Eq)]
            pub enum $name {}
            impl CapKind for $name {
                const TYPE: CapType = CapType::$name;
            }
        )*
    };
}

cap_kinds! {
    /// Untyped memory.
    Untyped;
    /// A CNode.
    CNode;
    /// A thread control block.
    Tcb;
    /// An address-space root.
    VSpace;
    /// A page frame.
    Frame;
    /// A synchronous IPC endpoint.
    Endpoint;
    /// A notification.
    Notification;
    /// An MCS reply object.
    Reply;
    /// An MCS scheduling context.
    SchedContext;
    /// Authority over one IRQ line.
    IrqHandler;
}

/// A cap the sender transfers: its CPtr in the sender's CSpace.
#[derive(Debug, PartialEq, Eq)]
pub struct Grant<K: CapKind> {
    cptr: u64,
    kind: PhantomData<K>,
}

impl<K: CapKind> Clone for Grant<K> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<K: CapKind> Copy for Grant<K> {}

impl<K: CapKind> Grant<K> {
    /// Transfers the `K` cap at `cptr` (the kernel checks the type on transfer;
    /// the receiver's decoder checks it again).
    pub const fn new(cptr: u64) -> Self {
        Grant {
            cptr,
            kind: PhantomData,
        }
    }

    /// The CPtr.
    pub const fn cptr(self) -> u64 {
        self.cptr
    }
}

/// A cap as it arrived, before its type is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReceivedCap {
    /// Moved into the receiver's CSpace at `cptr`; the kernel says it is a `kind`.
    Transferred {
        /// Where it is now.
        cptr: u64,
        /// Its type.
        kind: CapType,
    },
    /// A badged cap to the endpoint the message came through: only its badge arrives.
    Unwrapped {
        /// The badge.
        badge: u64,
    },
}

impl ReceivedCap {
    /// The type the receiver got: an unwrapped cap counts as an endpoint.
    pub const fn kind(self) -> CapType {
        match self {
            ReceivedCap::Transferred { kind, .. } => kind,
            ReceivedCap::Unwrapped { .. } => CapType::Endpoint,
        }
    }
}

/// A received cap whose type the decoder checked to be `K`.
#[derive(Debug, PartialEq, Eq)]
pub struct Granted<K: CapKind> {
    cap: ReceivedCap,
    kind: PhantomData<K>,
}

impl<K: CapKind> Clone for Granted<K> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<K: CapKind> Copy for Granted<K> {}

impl<K: CapKind> Granted<K> {
    /// `cap` as a `K`, or `None` when it is of another type.
    pub fn check(cap: ReceivedCap) -> Option<Self> {
        (cap.kind() == K::TYPE).then_some(Granted {
            cap,
            kind: PhantomData,
        })
    }

    /// What arrived. The receive slot is reused for the next message, so a
    /// receiver that keeps a transferred cap moves it out first.
    pub const fn received(self) -> ReceivedCap {
        self.cap
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn granted_checks_the_type() {
        let frame = ReceivedCap::Transferred {
            cptr: 9,
            kind: CapType::Frame,
        };
        assert_eq!(
            Granted::<Frame>::check(frame).map(|g| g.received()),
            Some(frame)
        );
        assert_eq!(Granted::<Notification>::check(frame), None);
        let unwrapped = ReceivedCap::Unwrapped { badge: 5 };
        assert!(Granted::<Endpoint>::check(unwrapped).is_some());
        assert!(Granted::<Frame>::check(unwrapped).is_none());
    }
}
