//! `numbered_enum!`: an ABI enum with explicit numbers, the list of all its
//! values, and `TryFrom` its number that rejects unknown values.

/// Declares `#[repr(REPR)] enum NAME { VARIANT = NUMBER, ... }` with `Clone`,
/// `Copy`, `Debug`, `PartialEq` and `Eq`, a `NAME::ALL` slice in declaration
/// order, and `TryFrom<REPR>` returning the unknown number as the error.
macro_rules! numbered_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident : $repr:ident {
            $($(#[$vmeta:meta])* $variant:ident = $value:expr,)*
        }
    ) => {
        $(#[$meta])*
        #[repr($repr)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        $vis enum $name {
            $($(#[$vmeta])* $variant = $value,)*
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];
        }

        impl TryFrom<$repr> for $name {
            type Error = $repr;

            fn try_from(number: $repr) -> Result<Self, $repr> {
                // A match, not a search: the system-call path decodes with this.
                #[allow(non_upper_case_globals)]
                mod values {
                    $(pub const $variant: $repr = $value;)*
                }
                match number {
                    $(values::$variant => Ok($name::$variant),)*
                    other => Err(other),
                }
            }
        }
    };
}

pub(crate) use numbered_enum;
