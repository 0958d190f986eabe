//! Integer handles with generations: what callers hold instead of pointers.
//!
//! A handle is a positive `i32`: bits 0–15 are the slot index plus one, bits
//! 16–30 the slot's generation (1 ..= 32 767). Freeing a slot bumps its
//! generation, so every handle to the freed object becomes stale and is
//! answered with [`KA_ERR_STALE_HANDLE`], never with someone else's object.
//! Freed slots are reused oldest first (a FIFO free list): a stale handle
//! could only alias a new object after its slot went round all 32 767
//! generations, each time behind every other free slot.
//!
//! One table holds configs and connections, so that passing one where the
//! other is expected is detected ([`KA_ERR_WRONG_HANDLE`]) instead of
//! silently acting on an unrelated object with the same number.

#![forbid(unsafe_code)]

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};

use keepalive::{Action, Actions, Config, Connection};

use crate::codes::{
    KA_ERR_BAD_HANDLE, KA_ERR_QUEUE_FULL, KA_ERR_STALE_HANDLE, KA_ERR_TABLE_FULL,
    KA_ERR_WRONG_HANDLE,
};

/// Slots are numbered 0 ..= 65 534 (the low 16 bits of a handle hold the
/// index plus one, and 0 is never a handle).
const MAX_SLOTS: usize = 0xFFFF;
const MAX_GENERATION: u16 = 0x7FFF;

/// How many unread actions a connection keeps. One input produces at most
/// [`Actions::CAPACITY`]; an input is refused (not applied) when fewer slots
/// than that are free, so no action is ever dropped.
const QUEUE: usize = 8;

/// A live connection and the actions it produced that the caller has not
/// read yet.
#[derive(Debug)]
pub(crate) struct Live {
    pub(crate) conn: Connection,
    queue: [Option<Action>; QUEUE],
    head: u8,
    len: u8,
    /// The action `ka_next` returned last: what the accessors read.
    pub(crate) current: Option<Action>,
}

impl Live {
    pub(crate) fn new(conn: Connection) -> Self {
        Live {
            conn,
            queue: [None; QUEUE],
            head: 0,
            len: 0,
            current: None,
        }
    }

    /// Applies one input if its actions are sure to fit, and returns the
    /// number of unread actions, or [`KA_ERR_QUEUE_FULL`] (input not applied).
    pub(crate) fn input(&mut self, f: impl FnOnce(&mut Connection) -> Actions) -> i32 {
        if QUEUE - usize::from(self.len) < Actions::CAPACITY {
            return KA_ERR_QUEUE_FULL;
        }
        for action in f(&mut self.conn) {
            let tail = (usize::from(self.head) + usize::from(self.len)) % QUEUE;
            self.queue[tail] = Some(action);
            self.len += 1;
        }
        i32::from(self.len)
    }

    /// Moves the oldest unread action into `current` (or clears it).
    pub(crate) fn next(&mut self) -> Option<Action> {
        self.current = None;
        if self.len > 0 {
            self.current = self.queue[usize::from(self.head)].take();
            self.head = ((usize::from(self.head) + 1) % QUEUE) as u8;
            self.len -= 1;
        }
        self.current
    }
}

/// What a handle names.
#[derive(Debug)]
pub(crate) enum Object {
    Config(Config),
    Connection(Box<Live>),
}

#[derive(Debug)]
struct Slot {
    generation: u16,
    object: Option<Object>,
}

/// Every object the callers hold, behind one lock.
#[derive(Debug)]
pub(crate) struct Table {
    slots: Vec<Slot>,
    free: VecDeque<u16>,
}

static TABLE: Mutex<Table> = Mutex::new(Table {
    slots: Vec::new(),
    free: VecDeque::new(),
});

/// Locks the table. A poisoned lock cannot happen (a panic aborts the
/// process before unwinding out of an export), but is tolerated anyway.
pub(crate) fn lock() -> MutexGuard<'static, Table> {
    TABLE.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Table {
    /// Stores `object` and returns its handle, or [`KA_ERR_TABLE_FULL`].
    pub(crate) fn insert(&mut self, object: Object) -> i32 {
        let index = match self.free.pop_front() {
            Some(index) => usize::from(index),
            None if self.slots.len() < MAX_SLOTS => {
                self.slots.push(Slot {
                    generation: 1,
                    object: None,
                });
                self.slots.len() - 1
            }
            None => return KA_ERR_TABLE_FULL,
        };
        let slot = &mut self.slots[index];
        slot.object = Some(object);
        (i32::from(slot.generation) << 16) | (index as i32 + 1)
    }

    /// The slot a handle names, or why it names none.
    fn slot(&mut self, handle: i32) -> Result<&mut Slot, i32> {
        let generation = (handle >> 16) as u16;
        let index = (handle & 0xFFFF) as usize;
        if handle <= 0 || index == 0 || generation == 0 {
            return Err(KA_ERR_BAD_HANDLE);
        }
        let slot = self.slots.get_mut(index - 1).ok_or(KA_ERR_BAD_HANDLE)?;
        if slot.generation != generation || slot.object.is_none() {
            return Err(KA_ERR_STALE_HANDLE);
        }
        Ok(slot)
    }

    /// The object a handle names.
    pub(crate) fn get(&mut self, handle: i32) -> Result<&mut Object, i32> {
        self.slot(handle)?
            .object
            .as_mut()
            .ok_or(KA_ERR_STALE_HANDLE)
    }

    /// The connection a handle names.
    pub(crate) fn conn(&mut self, handle: i32) -> Result<&mut Live, i32> {
        match self.get(handle)? {
            Object::Connection(live) => Ok(live),
            Object::Config(_) => Err(KA_ERR_WRONG_HANDLE),
        }
    }

    /// The config a handle names.
    pub(crate) fn config(&mut self, handle: i32) -> Result<&mut Config, i32> {
        match self.get(handle)? {
            Object::Config(config) => Ok(config),
            Object::Connection(_) => Err(KA_ERR_WRONG_HANDLE),
        }
    }

    /// Frees the object; its handle (and every copy) becomes stale.
    pub(crate) fn remove(&mut self, handle: i32) -> Result<(), i32> {
        let slot = self.slot(handle)?;
        slot.object = None;
        slot.generation = match slot.generation {
            MAX_GENERATION => 1,
            g => g + 1,
        };
        let index = (handle & 0xFFFF) as u16 - 1;
        self.free.push_back(index);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Table {
        Table {
            slots: Vec::new(),
            free: VecDeque::new(),
        }
    }

    #[test]
    fn freed_handles_go_stale_and_slots_are_reused_oldest_first() {
        let mut t = table();
        let a = t.insert(Object::Config(Config::default()));
        let b = t.insert(Object::Config(Config::default()));
        assert_eq!((a, b), (0x1_0001, 0x1_0002));
        assert_eq!(t.remove(a), Ok(()));
        assert_eq!(t.remove(a), Err(KA_ERR_STALE_HANDLE));
        assert_eq!(t.remove(b), Ok(()));
        // Slot 0 was freed first, so it is reused first, one generation on.
        let c = t.insert(Object::Config(Config::default()));
        assert_eq!(c, 0x2_0001);
        assert!(matches!(t.get(a), Err(KA_ERR_STALE_HANDLE)));
        assert!(t.config(c).is_ok());
        assert!(matches!(t.conn(c), Err(KA_ERR_WRONG_HANDLE)));
        for bad in [0, -1, i32::MIN, 0x1_0000, 0x1, 0x1_0009, i32::MAX] {
            assert!(matches!(t.get(bad), Err(KA_ERR_BAD_HANDLE)), "{bad:#x}");
        }
    }

    #[test]
    fn generations_wrap_without_reaching_zero() {
        let mut t = table();
        let mut h = t.insert(Object::Config(Config::default()));
        for _ in 0..u32::from(MAX_GENERATION) + 3 {
            assert!(h > 0 && (h >> 16) >= 1 && (h >> 16) <= i32::from(MAX_GENERATION));
            assert_eq!(t.remove(h), Ok(()));
            h = t.insert(Object::Config(Config::default()));
        }
    }

    #[test]
    fn table_fills_up() {
        let mut t = table();
        for _ in 0..MAX_SLOTS {
            assert!(t.insert(Object::Config(Config::default())) > 0);
        }
        assert_eq!(
            t.insert(Object::Config(Config::default())),
            KA_ERR_TABLE_FULL
        );
        let last = (1 << 16) | MAX_SLOTS as i32;
        assert_eq!(t.remove(last), Ok(()));
        assert!(t.insert(Object::Config(Config::default())) > 0);
    }
}
