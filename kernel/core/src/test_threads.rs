//! Shared pieces of the unit tests' stand-ins for the kernel's threads:
//! thread-queue links, priorities and scheduling-context donation kept in
//! maps. A test's
//! `Threads` holds them as fields and gets [`QueueLinks`] or [`Donation`] by
//! saying where they are ([`HasLinks`], [`HasDonation`], both written by
//! [`model_fields!`]).

extern crate std;

use crate::reply::Donation;
use crate::thread_queue::QueueLinks;
use std::collections::BTreeMap;

/// Each thread's (previous, next) queue links, and its priority (0 unless set).
#[derive(Default)]
pub struct MapLinks {
    links: BTreeMap<u64, (u64, u64)>,
    priorities: BTreeMap<u64, u64>,
}

impl MapLinks {
    /// Gives `thread` `priority` (a queued thread must then be reordered).
    pub fn set_priority(&mut self, thread: u64, priority: u64) {
        self.priorities.insert(thread, priority);
    }
}

/// A test double whose queue links are a [`MapLinks`].
pub trait HasLinks {
    fn links(&self) -> &MapLinks;
    fn links_mut(&mut self) -> &mut MapLinks;
}

impl<T: HasLinks> QueueLinks for T {
    fn next(&self, t: u64) -> u64 {
        self.links().links.get(&t).map_or(0, |l| l.1)
    }
    fn prev(&self, t: u64) -> u64 {
        self.links().links.get(&t).map_or(0, |l| l.0)
    }
    fn set_next(&mut self, t: u64, n: u64) {
        self.links_mut().links.entry(t).or_default().1 = n;
    }
    fn set_prev(&mut self, t: u64, p: u64) {
        self.links_mut().links.entry(t).or_default().0 = p;
    }
    fn priority(&self, t: u64) -> u64 {
        self.links().priorities.get(&t).copied().unwrap_or(0)
    }
}

/// Which thread runs on which scheduling context, both ways round.
#[derive(Default)]
pub struct MapDonation {
    /// Thread -> the context it runs on.
    context: BTreeMap<u64, u64>,
    /// Context -> the thread running on it.
    holder: BTreeMap<u64, u64>,
}

/// A test double whose contexts are a [`MapDonation`].
pub trait HasDonation {
    fn donation(&self) -> &MapDonation;
    fn donation_mut(&mut self) -> &mut MapDonation;
}

impl<T: HasDonation> Donation for T {
    fn context_of(&self, t: u64) -> u64 {
        self.donation().context.get(&t).copied().unwrap_or(0)
    }
    fn holder(&self, c: u64) -> u64 {
        self.donation().holder.get(&c).copied().unwrap_or(0)
    }
    fn donate(&mut self, c: u64, from: u64, to: u64) {
        let d = self.donation_mut();
        if from != 0 {
            assert_eq!(
                d.context.get(&from),
                Some(&c),
                "{from:#x} does not hold {c:#x}"
            );
            d.context.remove(&from);
        }
        d.holder.remove(&c);
        if to != 0 && !d.context.contains_key(&to) {
            d.holder.insert(c, to);
            d.context.insert(to, c);
        }
    }
}

/// Implements [`HasLinks`] and [`HasDonation`] for a test's thread model
/// from the fields that hold them: `model_fields!(Threads { links: links,
/// donation: donation })`; either may be left out.
macro_rules! model_fields {
    ($t:ty { $(links: $l:tt)? $(, )? $(donation: $d:tt)? }) => {
        $(
            impl $crate::test_threads::HasLinks for $t {
                fn links(&self) -> &$crate::test_threads::MapLinks {
                    &self.$l
                }
                fn links_mut(&mut self) -> &mut $crate::test_threads::MapLinks {
                    &mut self.$l
                }
            }
        )?
        $(
            impl $crate::test_threads::HasDonation for $t {
                fn donation(&self) -> &$crate::test_threads::MapDonation {
                    &self.$d
                }
                fn donation_mut(&mut self) -> &mut $crate::test_threads::MapDonation {
                    &mut self.$d
                }
            }
        )?
    };
}
pub(crate) use model_fields;
