//! The process table: each process's id, state and the server's record of
//! it. An id is an index and a generation, so an id stays unique after its
//! slot is reused, and a badge made from it names one process only.

use alloc::vec::Vec;

/// A process's id: `generation << INDEX_BITS | index`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pid(u64);

/// Bits of a [`Pid`] that hold the slot index.
const INDEX_BITS: u32 = 16;

impl Pid {
    /// The id as a number (a badge, a message word).
    pub fn get(self) -> u64 {
        self.0
    }

    /// The id a number names; any number is an id, and lookups refuse
    /// those no process has.
    pub fn from_raw(raw: u64) -> Self {
        Pid(raw)
    }

    /// The table slot it names (a badge names a process by it).
    pub fn index(self) -> usize {
        (self.0 & ((1 << INDEX_BITS) - 1)) as usize
    }

    fn generation(self) -> u64 {
        self.0 >> INDEX_BITS
    }
}

/// Where a process is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Started and not yet ended.
    Running,
    /// Ended by its own exit, with this status.
    Exited(u64),
    /// Ended by a kill.
    Killed,
    /// Ended by a fault of this type, which its server took.
    Faulted(u64),
}

/// Why the table refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableError {
    /// Every slot holds a process that has not been reaped.
    Full,
    /// No process has this id (never had, or it was reaped).
    NoSuchProcess,
    /// The process has already ended.
    Ended,
    /// The process has not ended, so it cannot be reaped.
    Running,
}

/// One process: its id, state, and the server's record `T`.
#[derive(Debug)]
pub struct Process<T> {
    /// Its id.
    pub pid: Pid,
    /// Where it is in its life.
    pub state: State,
    /// What the server keeps for it.
    pub record: T,
}

#[derive(Debug)]
struct Slot<T> {
    generation: u64,
    process: Option<Process<T>>,
}

/// Up to `capacity` processes that have not been reaped.
#[derive(Debug)]
pub struct ProcessTable<T> {
    slots: Vec<Slot<T>>,
    capacity: usize,
}

impl<T> ProcessTable<T> {
    /// An empty table for at most `capacity` processes (at most 2^16).
    pub fn new(capacity: usize) -> Self {
        ProcessTable {
            slots: Vec::new(),
            capacity: capacity.min(1 << INDEX_BITS),
        }
    }

    /// Adds a running process with `record`; returns its id.
    ///
    /// # Errors
    /// [`TableError::Full`] when every slot is taken.
    pub fn insert(&mut self, record: T) -> Result<Pid, TableError> {
        let index = match self.slots.iter().position(|s| s.process.is_none()) {
            Some(i) => i,
            None if self.slots.len() < self.capacity => {
                self.slots.push(Slot {
                    generation: 0,
                    process: None,
                });
                self.slots.len() - 1
            }
            None => return Err(TableError::Full),
        };
        let slot = &mut self.slots[index];
        let pid = Pid(slot.generation << INDEX_BITS | index as u64);
        slot.process = Some(Process {
            pid,
            state: State::Running,
            record,
        });
        Ok(pid)
    }

    /// The process `pid`, if it has not been reaped.
    pub fn get(&self, pid: Pid) -> Option<&Process<T>> {
        let slot = self.slots.get(pid.index())?;
        (slot.generation == pid.generation())
            .then_some(slot.process.as_ref())
            .flatten()
    }

    /// The process `pid`, to change, if it has not been reaped.
    pub fn get_mut(&mut self, pid: Pid) -> Option<&mut Process<T>> {
        let slot = self.slots.get_mut(pid.index())?;
        (slot.generation == pid.generation())
            .then_some(slot.process.as_mut())
            .flatten()
    }

    /// Ends the running process `pid` in `state` (exited or killed) and
    /// returns its record, so the server can reclaim what it holds.
    ///
    /// # Errors
    /// [`TableError::NoSuchProcess`], or [`TableError::Ended`] when it has
    /// already ended.
    pub fn end(&mut self, pid: Pid, state: State) -> Result<&mut Process<T>, TableError> {
        let process = self.get_mut(pid).ok_or(TableError::NoSuchProcess)?;
        if process.state != State::Running {
            return Err(TableError::Ended);
        }
        process.state = state;
        Ok(process)
    }

    /// Removes the ended process `pid`, returning how it ended and its
    /// record; its slot's next process gets a new id.
    ///
    /// # Errors
    /// [`TableError::NoSuchProcess`], or [`TableError::Running`] when it
    /// has not ended.
    pub fn reap(&mut self, pid: Pid) -> Result<Process<T>, TableError> {
        let process = self.get(pid).ok_or(TableError::NoSuchProcess)?;
        if process.state == State::Running {
            return Err(TableError::Running);
        }
        let slot = &mut self.slots[pid.index()];
        slot.generation = (slot.generation + 1) & (u64::MAX >> INDEX_BITS);
        slot.process.take().ok_or(TableError::NoSuchProcess)
    }

    /// The process in slot `index`, whatever its generation.
    pub fn at(&self, index: usize) -> Option<&Process<T>> {
        self.slots.get(index)?.process.as_ref()
    }

    /// Every process not yet reaped, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = &Process<T>> {
        self.slots.iter().filter_map(|s| s.process.as_ref())
    }
}
