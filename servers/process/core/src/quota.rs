//! Reclamation quotas: every allocation is charged its worst-case
//! reclamation cost when it is made, and refused when the quota would be
//! passed, so what a process holds can always be reclaimed by its deadline.
//!
//! Nothing is refunded when a process deletes an object before it dies: its
//! group's memory is retyped in order and comes back only with the group,
//! so the charge stands for the memory as much as for the object.

use crate::cost::{CostError, CostTable};
use keel_abi::ObjectType;

/// Why a charge was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuotaError {
    /// The charge would pass the quota: `asked` instructions were asked
    /// and `left` remain.
    Exceeded {
        /// The charge asked.
        asked: u64,
        /// What the quota had left.
        left: u64,
    },
    /// The allocation has no cost (see [`CostError`]).
    Cost(CostError),
}

impl From<CostError> for QuotaError {
    fn from(e: CostError) -> Self {
        QuotaError::Cost(e)
    }
}

/// A process's reclamation quota, in instructions of teardown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quota {
    limit: u64,
    charged: u64,
}

impl Quota {
    /// A quota of `limit` instructions, nothing charged.
    pub const fn new(limit: u64) -> Self {
        Quota { limit, charged: 0 }
    }

    /// The quota.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// What has been charged.
    pub fn charged(&self) -> u64 {
        self.charged
    }

    /// What may still be charged.
    pub fn left(&self) -> u64 {
        self.limit - self.charged
    }

    /// Charges `cost` instructions.
    ///
    /// # Errors
    /// [`QuotaError::Exceeded`] when fewer than `cost` are left; nothing is
    /// charged then.
    pub fn charge(&mut self, cost: u64) -> Result<(), QuotaError> {
        self.fits(cost)?;
        self.charged += cost;
        Ok(())
    }

    /// `Exceeded` when `cost` is more than is left.
    fn fits(&self, cost: u64) -> Result<(), QuotaError> {
        if cost > self.left() {
            return Err(QuotaError::Exceeded {
                asked: cost,
                left: self.left(),
            });
        }
        Ok(())
    }

    /// The cost of `count` objects of `kind` (retype argument `size_bits`)
    /// from `table`, if it fits in what is left; nothing is charged. An
    /// allocation is admitted before its objects are made and charged
    /// ([`Quota::charge`]) once they are, so a failed retype costs nothing.
    ///
    /// # Errors
    /// As [`CostTable::cost`], and [`QuotaError::Exceeded`] when the cost
    /// does not fit.
    pub fn admit(
        &self,
        table: &CostTable,
        kind: ObjectType,
        size_bits: u64,
        count: u64,
    ) -> Result<u64, QuotaError> {
        let cost = table.cost(kind, size_bits, count)?;
        self.fits(cost)?;
        Ok(cost)
    }

    /// Admits and charges the cost of `count` objects of `kind` (retype
    /// argument `size_bits`) from `table`, and returns it.
    ///
    /// # Errors
    /// As [`Quota::admit`]; nothing is charged on an error.
    pub fn charge_objects(
        &mut self,
        table: &CostTable,
        kind: ObjectType,
        size_bits: u64,
        count: u64,
    ) -> Result<u64, QuotaError> {
        let cost = table.cost(kind, size_bits, count)?;
        self.charge(cost)?;
        Ok(cost)
    }

    /// The teardown deadline a process with this quota declares: the
    /// teardown's fixed part plus the whole quota, as every charge fits in
    /// the quota. `None` when the sum passes 64 bits.
    pub fn deadline(&self, table: &CostTable) -> Option<u64> {
        table.teardown_fixed.checked_add(self.limit)
    }
}
