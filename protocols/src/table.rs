//! Bounded server state. A server keeps what it knows about its clients in
//! fixed-capacity tables, sized when the server is built, so no client can
//! make it grow: when a table is full the request gets [`RpcError::Full`] as
//! its reply. Queues are `heapless::Deque` (re-exported as [`Queue`]), whose
//! `push_back` fails the same way; [`full`] turns that into the error.

use crate::badge::ClientId;
use crate::error::RpcError;

/// A fixed-capacity FIFO queue for server state.
pub type Queue<T, const N: usize> = heapless::Deque<T, N>;

/// Maps a failed push on a bounded queue or vector to [`RpcError::Full`].
///
/// # Errors
/// `Full` when `result` is an error.
pub fn full<T, U>(result: Result<T, U>) -> Result<T, RpcError> {
    result.map_err(|_| RpcError::Full)
}

/// Per-client records, at most `N`. Lookups are linear: servers keep `N` small.
#[derive(Clone, Debug)]
pub struct ClientTable<V, const N: usize> {
    entries: heapless::Vec<(ClientId, V), N>,
}

impl<V, const N: usize> Default for ClientTable<V, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<V, const N: usize> ClientTable<V, N> {
    /// An empty table.
    pub const fn new() -> Self {
        ClientTable {
            entries: heapless::Vec::new(),
        }
    }

    /// The record of `client`.
    pub fn get(&self, client: ClientId) -> Option<&V> {
        self.entries
            .iter()
            .find(|(c, _)| *c == client)
            .map(|(_, v)| v)
    }

    /// The record of `client`, to change.
    pub fn get_mut(&mut self, client: ClientId) -> Option<&mut V> {
        self.entries
            .iter_mut()
            .find(|(c, _)| *c == client)
            .map(|(_, v)| v)
    }

    /// Sets the record of `client`, returning the one it replaces.
    ///
    /// # Errors
    /// `Full` when `client` has no record and the table holds `N`.
    pub fn insert(&mut self, client: ClientId, value: V) -> Result<Option<V>, RpcError> {
        if let Some(old) = self.get_mut(client) {
            return Ok(Some(core::mem::replace(old, value)));
        }
        full(self.entries.push((client, value))).map(|()| None)
    }

    /// The record of `client`, made by `make` if it has none.
    ///
    /// # Errors
    /// `Full` when a record must be made and the table holds `N`.
    pub fn get_or_insert_with(
        &mut self,
        client: ClientId,
        make: impl FnOnce() -> V,
    ) -> Result<&mut V, RpcError> {
        let index = match self.entries.iter().position(|(c, _)| *c == client) {
            Some(i) => i,
            None => {
                full(self.entries.push((client, make())))?;
                self.entries.len() - 1
            }
        };
        Ok(&mut self.entries[index].1)
    }

    /// Removes and returns the record of `client`.
    pub fn remove(&mut self, client: ClientId) -> Option<V> {
        let i = self.entries.iter().position(|(c, _)| *c == client)?;
        Some(self.entries.swap_remove(i).1)
    }

    /// Records held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when it holds none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every record, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (ClientId, &V)> {
        self.entries.iter().map(|(c, v)| (*c, v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(n: u16) -> ClientId {
        ClientId::new(n).expect("nonzero")
    }

    #[test]
    fn a_full_table_refuses_new_clients_but_updates_old_ones() {
        let mut t: ClientTable<u32, 2> = ClientTable::new();
        assert_eq!(t.insert(client(1), 10), Ok(None));
        assert_eq!(t.insert(client(2), 20), Ok(None));
        assert_eq!(t.insert(client(3), 30), Err(RpcError::Full));
        assert_eq!(t.get_or_insert_with(client(3), || 30), Err(RpcError::Full));
        assert_eq!(t.insert(client(1), 11), Ok(Some(10)));
        assert_eq!(t.get_or_insert_with(client(2), || 0).map(|v| *v), Ok(20));
        assert_eq!(t.len(), 2);
        assert_eq!(t.remove(client(1)), Some(11));
        assert_eq!(t.get(client(1)), None);
        assert_eq!(t.get_or_insert_with(client(3), || 30).map(|v| *v), Ok(30));
        assert_eq!(t.get(client(3)), Some(&30));
    }

    #[test]
    fn a_full_queue_is_full() {
        let mut q: Queue<u8, 1> = Queue::new();
        assert_eq!(full(q.push_back(1)), Ok(()));
        assert_eq!(full(q.push_back(2)), Err(RpcError::Full));
    }
}
