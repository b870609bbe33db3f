//! The `protocol!` macro: one declaration per protocol gives its error enum,
//! its typed client stub, its server trait and the dispatch function that
//! decodes a request, checks it, calls the trait and encodes the reply.
//!
//! It is a `macro_rules!` macro, not a proc-macro or a build-time generator:
//! a declaration is a list of operations whose arguments are each one of three
//! kinds, which declarative rules handle without a parser; it adds no crate
//! (a proc-macro would bring `syn` and `quote` and a second crate) and no
//! build step, and every generated line sits on the shared, tested code in
//! `wire`, `client` and `server`, so the macro itself only glues.
//!
//! The items are declared where the macro is invoked (`PROTOCOL`, `VERSION`,
//! the error enum, client, server trait, `dispatch` and
//! `dispatch_registers`, its short path for requests and replies that fit
//! in registers), so each protocol has a module of its own:
//!
//! ```
//! mod name {
//!     use keel_protocols::cap::Notification;
//!     use keel_protocols::{protocol, Text};
//!
//!     protocol! {
//!         /// Docs for the client stub.
//!         protocol Name {
//!             id: 7,                  // request labels carry it; 0 names none
//!             version: 1,             // another version gets VersionMismatch
//!             client: NameClient,     // struct NameClient<T: Transport>
//!             server: NameServer,     // trait NameServer, and fn dispatch
//!             error: NameError {
//!                 /// The server is busy.
//!                 Busy = 1,           // codes nonzero; Rpc(RpcError) is added
//!             },
//!             ops: {
//!                 /// Does the thing.
//!                 1 => op(fixed a: u32, data b: Text<8>, cap c: Notification)
//!                     requires ADMIN -> fixed u64;
//!                 /// Does nothing.
//!                 2 => nop() -> fixed ();
//!             }
//!         }
//!     }
//! }
//! assert_eq!(name::PROTOCOL, 7);
//! ```
//!
//! Argument kinds: `fixed T` (zerocopy, by value, in message registers),
//! `data T` (serde, postcard in the message; the client passes `&T`; heapless
//! types bound it), `cap K` (a [`crate::cap::CapKind`]: the client passes a
//! `Grant<K>`, the server gets a checked `Granted<K>`). A reply is one value of
//! one kind; `fixed ()` is an empty reply. `requires R` names a [`crate::Rights`]
//! constant the caller's badge must carry.

/// True when no number appears twice in `ops` (the macro checks each
/// protocol's operation numbers with it at compile time).
pub const fn distinct(ops: &[u8]) -> bool {
    let mut i = 0;
    while i < ops.len() {
        let mut j = i + 1;
        while j < ops.len() {
            if ops[i] == ops[j] {
                return false;
            }
            j += 1;
        }
        i += 1;
    }
    true
}

/// Declares a protocol; see the [module docs](crate::declare).
#[macro_export]
macro_rules! protocol {
    (
        $(#[$meta:meta])*
        protocol $name:ident {
            id: $id:literal,
            version: $version:literal,
            client: $client:ident,
            server: $server:ident,
            error: $err:ident {
                $( $(#[$emeta:meta])* $evariant:ident = $ecode:literal, )*
            },
            ops: {
                $(
                    $(#[$ometa:meta])*
                    $num:literal => $op:ident ( $( $k:ident $n:ident : $t:ty ),* $(,)? )
                        $(requires $right:ident)? -> $rk:ident $rt:ty;
                )*
            }
        }
    ) => {
        #[doc = concat!("The number of ", stringify!($name), " in request labels.")]
        pub const PROTOCOL: u16 = $id;
        #[doc = concat!("The version of ", stringify!($name), " this build speaks.")]
        pub const VERSION: u8 = $version;

        const _: () = assert!(PROTOCOL != 0, "protocol 0 names none");
        const _: () = { $( assert!($ecode != 0, "error codes are nonzero"); )* };
        const _: () = assert!(
            $crate::declare::distinct(&[$( $num ),*]),
            "operation numbers are distinct",
        );
        const _: () = {
            $(
                assert!(
                    $crate::protocol!(@layout $( $k $t ),*).fits(0),
                    concat!("the arguments of ", stringify!($op), " do not fit in a message"),
                );
                assert!(
                    $crate::protocol!(@layout $rk $rt).fits(0),
                    concat!("the reply of ", stringify!($op), " does not fit in a message"),
                );
            )*
        };

        #[doc = concat!("What a ", stringify!($name), " request can fail with.")]
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum $err {
            $( $(#[$emeta])* $evariant, )*
            /// The protocol layer's error: a malformed request, a missing
            /// right, a full table, a failed IPC.
            Rpc($crate::RpcError),
        }

        impl core::fmt::Display for $err {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                core::fmt::Debug::fmt(self, f)
            }
        }

        impl From<$crate::RpcError> for $err {
            fn from(e: $crate::RpcError) -> Self {
                $err::Rpc(e)
            }
        }

        impl $crate::ProtocolError for $err {
            fn code(self) -> Option<u64> {
                match self {
                    $( $err::$evariant => Some($ecode), )*
                    $err::Rpc(_) => None,
                }
            }

            fn rpc(self) -> Option<$crate::RpcError> {
                match self {
                    $err::Rpc(e) => Some(e),
                    _ => None,
                }
            }

            fn from_code(code: u64) -> Option<Self> {
                match code {
                    $( $ecode => Some($err::$evariant), )*
                    _ => None,
                }
            }
        }

        $(#[$meta])*
        pub struct $client<T: $crate::Transport> {
            connection: $crate::client::Connection<T>,
        }

        impl<T: $crate::Transport> $client<T> {
            /// A client that sends through `transport`.
            pub const fn new(transport: T) -> Self {
                $client {
                    connection: $crate::client::Connection::new(transport),
                }
            }

            /// Charges later requests to `activity` (the badge needs the relay
            /// right), or to the badge's own activity for `None`.
            pub fn on_behalf_of(&mut self, activity: Option<$crate::ActivityId>) {
                self.connection.on_behalf_of(activity);
            }

            /// The transport.
            pub fn transport_mut(&mut self) -> &mut T {
                self.connection.transport_mut()
            }

            $(
                $(#[$ometa])*
                ///
                /// # Errors
                /// The protocol's errors, or `Rpc` for one of the protocol layer.
                // An operation takes the arguments its declaration lists.
                #[allow(clippy::too_many_arguments)]
                pub fn $op(
                    &mut self,
                    $( $n: $crate::protocol!(@send_ty $k $t) ),*
                ) -> Result<$crate::protocol!(@recv_ty $rk $rt), $err> {
                    self.connection.call::<$err, _>(
                        PROTOCOL,
                        VERSION,
                        $num,
                        $crate::protocol!(@layout $( $k $t ),*),
                        |_e| {
                            $( $crate::protocol!(@enc _e $k &$n)?; )*
                            Ok(())
                        },
                        $crate::protocol!(@layout $rk $rt),
                        |d| $crate::protocol!(@dec d $rk $rt),
                    )
                }
            )*
        }

        #[doc = concat!("The server side of ", stringify!($name), ": one method per operation, ")]
        #[doc = "called by [`dispatch`] with a checked request."]
        pub trait $server {
            $(
                $(#[$ometa])*
                ///
                /// # Errors
                /// Whatever the reply should carry; `dispatch` sends it to the client.
                #[allow(clippy::too_many_arguments)]
                fn $op(
                    &mut self,
                    caller: &$crate::Caller,
                    $( $n: $crate::protocol!(@recv_ty $k $t) ),*
                ) -> Result<$crate::protocol!(@ret_ty $rk $rt), $err>;
            )*
        }

        #[doc = concat!("Answers one ", stringify!($name), " request: checks and decodes it, ")]
        #[doc = "calls the server's method and writes the reply, or an error reply that "]
        #[doc = "names what was wrong. Never panics on what it received."]
        pub fn dispatch<S: $server + ?Sized>(
            server: &mut S,
            request: &$crate::wire::Incoming,
            reply: &mut $crate::wire::OutMessage,
        ) {
            let result = (|| -> Result<(), $err> {
                let accepted = $crate::server::accept(request, PROTOCOL, VERSION)?;
                match accepted.op {
                    $(
                        $num => {
                            accepted.caller.require(
                                $crate::Rights::NONE $( .union($crate::Rights::$right) )?
                            )?;
                            #[allow(unused_mut)]
                            let mut _d = $crate::wire::Decoder::new(
                                &request.message,
                                accepted.prefix,
                                $crate::protocol!(@layout $( $k $t ),*),
                            )?;
                            $( let $n = $crate::protocol!(@dec _d $k $t)?; )*
                            _d.finish()?;
                            let value = server.$op(&accepted.caller, $( $n ),*)?;
                            let mut e = $crate::wire::Encoder::new(
                                reply,
                                $crate::wire::REPLY_OK,
                                None,
                                $crate::protocol!(@layout $rk $rt),
                            )?;
                            $crate::protocol!(@enc e $rk &value)?;
                            e.finish();
                            Ok(())
                        }
                    )*
                    op => Err($crate::RpcError::UnknownOperation { op }.into()),
                }
            })();
            if let Err(error) = result {
                $crate::server::write_error(reply, error);
            }
        }

        #[doc = concat!("Answers the usual ", stringify!($name), " request of an operation whose ")]
        #[doc = "arguments are fixed-size values and whose reply fits in registers, from "]
        #[doc = "what arrived in registers and the words past them read through `past`, "]
        #[doc = "with the reply [`dispatch`] would give. `None` for any other request "]
        #[doc = "(another label, length or cap count, another operation): [`dispatch`] "]
        #[doc = "answers it, read whole. Never panics on what it received."]
        #[inline(always)]
        pub fn dispatch_registers<S: $server + ?Sized>(
            server: &mut S,
            request: &$crate::registers::Arrival,
            past: impl FnOnce(&mut [u64]) -> bool,
        ) -> Option<$crate::registers::RegisterReply> {
            let (op, caller) = $crate::server::accept_usual(request, PROTOCOL, VERSION)?;
            match op {
                $(
                    $num => $crate::protocol!(
                        @registers -> $rk $rt;
                        server request past caller $err
                        $op ( $( $k $n $t ),* ) [ $( $right )? ]
                    ),
                )*
                _ => None,
            }
        }

        #[doc = concat!("A server of ", stringify!($name), " as a receive loop's `Service`: ")]
        #[doc = "each request through [`dispatch_registers`] when it can answer it, else "]
        #[doc = "[`dispatch`]. It has no notification bound, so it expects no signal and "]
        #[doc = "ignores any."]
        pub struct Serving<'a, S: ?Sized>(pub &'a mut S);

        impl<S: $server + ?Sized> $crate::Service for Serving<'_, S> {
            fn handle(
                &mut self,
                request: &$crate::wire::Incoming,
                reply: &mut $crate::wire::OutMessage,
            ) {
                dispatch(self.0, request, reply);
            }

            #[inline(always)]
            fn handle_registers(
                &mut self,
                request: &$crate::registers::Arrival,
                past: impl FnOnce(&mut [u64]) -> bool,
            ) -> Option<$crate::registers::RegisterReply> {
                dispatch_registers(self.0, request, past)
            }

            fn signalled(&mut self, _signals: $crate::SignalSet) {}
        }
    };

    // The register path of one operation: the usual request, when its
    // arguments are fixed-size values (read into exactly their words) and
    // its reply fits in registers; `None` otherwise, before anything runs.
    (
        @registers -> fixed $rt:ty;
        $server:ident $request:ident $past:ident $caller:ident $err:ident
        $op:ident ( $( $k:ident $n:ident $t:ty ),* ) [ $( $right:ident )? ]
    ) => {{
        const ARGS: $crate::wire::Layout = $crate::protocol!(@layout $( $k $t ),*);
        const REPLY: $crate::wire::Layout = $crate::protocol!(@layout fixed $rt);
        let usual = ARGS.fixed_only()
            && REPLY.in_registers()
            && $request.length == ARGS.fixed_words
            && $request.caps == 0;
        if usual {
            let mut words = [0u64; ARGS.fixed_words];
            // As `dispatch` checks: the right first, then the words.
            let read = $request.words(&mut words, $past);
            let result = (|| -> Result<$crate::registers::RegisterReply, $err> {
                $caller.require($crate::Rights::NONE $( .union($crate::Rights::$right) )?)?;
                read?;
                #[allow(unused_mut)]
                let mut _d = $crate::wire::Decoder::fixed_only(&words);
                $( let $n = $crate::protocol!(@dec _d $k $t)?; )*
                _d.finish()?;
                let value = $server.$op(&$caller, $( $n ),*)?;
                Ok($crate::registers::RegisterReply::ok(&value)?)
            })();
            Some(result.unwrap_or_else($crate::server::error_reply))
        } else {
            None
        }
    }};
    // A reply of data or a cap never fits in registers.
    (@registers -> $rk:ident $rt:ty; $( $rest:tt )*) => { None };
    (@send_ty fixed $t:ty) => { $t };
    (@send_ty data $t:ty) => { &$t };
    (@send_ty cap $t:ty) => { $crate::cap::Grant<$t> };
    (@ret_ty fixed $t:ty) => { $t };
    (@ret_ty data $t:ty) => { $t };
    (@ret_ty cap $t:ty) => { $crate::cap::Grant<$t> };
    (@recv_ty fixed $t:ty) => { $t };
    (@recv_ty data $t:ty) => { $t };
    (@recv_ty cap $t:ty) => { $crate::cap::Granted<$t> };
    (@enc $e:ident fixed $v:expr) => { $e.fixed($v) };
    (@enc $e:ident data $v:expr) => { $e.data($v) };
    (@enc $e:ident cap $v:expr) => { $e.cap($v) };
    (@dec $d:ident fixed $t:ty) => { $d.fixed::<$t>() };
    (@dec $d:ident data $t:ty) => { $d.data::<$t>() };
    (@dec $d:ident cap $t:ty) => { $d.cap::<$t>() };
    (@layout $( $k:ident $t:ty ),*) => {
        $crate::wire::Layout {
            fixed_words: 0 $( + $crate::protocol!(@words $k $t) )*,
            has_data: false $( || $crate::protocol!(@is_data $k) )*,
            caps: 0 $( + $crate::protocol!(@is_cap $k) )*,
        }
    };
    (@words fixed $t:ty) => { $crate::wire::words_of::<$t>() };
    (@words $k:ident $t:ty) => { 0 };
    (@is_data data) => { true };
    (@is_data $k:ident) => { false };
    (@is_cap cap) => { 1 };
    (@is_cap $k:ident) => { 0 };
}

#[cfg(test)]
mod tests {
    #[test]
    fn distinct_finds_repeats() {
        assert!(super::distinct(&[]));
        assert!(super::distinct(&[1, 2, 3]));
        assert!(!super::distinct(&[1, 2, 1]));
    }
}
