//! The write-behind queue as plain data: coalescing writes per key, per-key order, batching,
//! acknowledgement and flush marks, with no locks, threads or clocks of its own. A thread drives
//! it for the sync `WriteBehind`, a task for the async one; each only decides how to wait.
//!
//! Rules:
//! - a key has at most one pending write (`entries`): a newer write replaces the value it holds
//!   (coalescing), and takes no more room;
//! - a key waits in `order` at most once; a key whose write is with the store (taken in a batch,
//!   not yet acknowledged) and is written again goes back into `order`, behind, so the store sees
//!   its writes in order: batches are written one at a time;
//! - a write stays pending until [`ack`](WriteQueue::ack) of its batch, and is served to readers
//!   meanwhile ([`pending`](WriteQueue::pending));
//! - `flush` waits until no write with a sequence number up to its target is pending;
//! - with a journal, a writer first reserves its key's place ([`reserve`](WriteQueue::reserve)),
//!   makes the write durable outside the queue's lock, then pushes it with its journal number;
//!   the flusher does not exit while a reserved write is still to come.

use crate::WriteOp;
use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::time::{Duration, Instant};

pub(crate) struct WriteQueue<K, V> {
    /// The latest write of every pending key.
    entries: HashMap<K, Pending<V>>,
    /// Keys waiting for the flusher, oldest first, with the time they were queued.
    order: VecDeque<(K, Instant)>,
    next_seq: u64,
    closed: bool,
    /// The flusher has exited: nothing pending will be written any more.
    flusher_gone: bool,
    /// Callers of `flush` waiting: the flusher writes without waiting for a batch to fill.
    flush_waiters: usize,
    /// Places reserved by journaled writes on their way in (new keys only).
    reserved: usize,
    capacity: usize,
    batch_size: usize,
    flush_interval: Duration,
}

struct Pending<V> {
    /// `None` is a delete.
    value: Option<V>,
    /// The sequence number of the latest write folded in.
    seq: u64,
    /// Whether the key is in `order` (false while its write is with the store).
    queued: bool,
    /// No write of this key with a smaller sequence number is unpersisted (`flush` waits on it).
    oldest: u64,
    /// The journal number of the latest write folded in (0 without a journal).
    jid: u64,
}

/// Why a write was not taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    Closed,
    Full,
}

/// What the flusher should do next.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Next {
    /// Take a batch and write it.
    Write,
    /// Nothing is due before this time (or before a wake-up).
    WaitUntil(Instant),
    /// Nothing is queued: wait for a wake-up.
    Idle,
    /// Closed and drained: the flusher may exit.
    Exit,
}

/// One batch on its way to the store, with the sequence number of each write.
pub(crate) struct Batch<K, V> {
    pub(crate) ops: Vec<WriteOp<K, V>>,
    pub(crate) seqs: Vec<u64>,
    /// The journal number of each write (0 without a journal).
    pub(crate) jids: Vec<u64>,
}

impl<K: Hash + Eq + Clone, V: Clone> WriteQueue<K, V> {
    pub(crate) fn new(capacity: usize, batch_size: usize, flush_interval: Duration) -> Self {
        WriteQueue {
            entries: HashMap::new(),
            order: VecDeque::new(),
            next_seq: 1,
            closed: false,
            flusher_gone: false,
            flush_waiters: 0,
            reserved: 0,
            capacity,
            batch_size,
            flush_interval,
        }
    }

    /// Whether a write of `key` can be taken now.
    pub(crate) fn admit(&self, key: &K) -> Result<(), Refused> {
        if self.closed {
            Err(Refused::Closed)
        } else if self.entries.len() + self.reserved < self.capacity
            || self.entries.contains_key(key)
        {
            Ok(())
        } else {
            Err(Refused::Full)
        }
    }

    /// Holds a place for a write of `key` that [`admit`](Self::admit) took, until
    /// [`push`](Self::push) or [`unreserve`](Self::unreserve) with what this returns.
    pub(crate) fn reserve(&mut self, key: &K) -> bool {
        let counted = !self.entries.contains_key(key);
        self.reserved += usize::from(counted);
        counted
    }

    /// Gives back a place [`reserve`](Self::reserve) held.
    pub(crate) fn unreserve(&mut self, counted: bool) {
        self.reserved -= usize::from(counted);
    }

    /// Takes a write (after [`admit`](Self::admit) said yes, or into the place
    /// [`reserve`](Self::reserve) held, given back here); returns whether the flusher should
    /// be woken (the queue was empty, or a batch just filled). `jid` is its journal number.
    pub(crate) fn push(
        &mut self,
        key: K,
        value: Option<V>,
        now: Instant,
        jid: u64,
        reserved: Option<bool>,
    ) -> bool {
        if let Some(counted) = reserved {
            self.unreserve(counted);
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let was_empty = self.order.is_empty();
        let enqueue = match self.entries.get_mut(&key) {
            Some(p) => {
                p.value = value;
                p.seq = seq;
                p.jid = jid;
                !std::mem::replace(&mut p.queued, true)
            }
            None => {
                self.entries.insert(
                    key.clone(),
                    Pending {
                        value,
                        seq,
                        queued: true,
                        oldest: seq,
                        jid,
                    },
                );
                true
            }
        };
        if enqueue {
            self.order.push_back((key, now));
        }
        was_empty || self.order.len() == self.batch_size
    }

    /// The pending write of `key`: `Some(None)` is a pending delete.
    pub(crate) fn pending(&self, key: &K) -> Option<Option<V>> {
        self.entries.get(key).map(|p| p.value.clone())
    }

    /// What the flusher should do at `now`.
    pub(crate) fn next(&self, now: Instant) -> Next {
        let Some(&(_, queued_at)) = self.order.front() else {
            return if self.closed && self.reserved == 0 {
                Next::Exit
            } else {
                Next::Idle
            };
        };
        let due_at = queued_at + self.flush_interval;
        if self.order.len() >= self.batch_size
            || self.closed
            || self.flush_waiters > 0
            || now >= due_at
        {
            Next::Write
        } else {
            Next::WaitUntil(due_at)
        }
    }

    /// Takes up to `batch_size` queued writes, oldest first; they stay pending until acked.
    pub(crate) fn take_batch(&mut self) -> Batch<K, V> {
        let n = self.order.len().min(self.batch_size);
        let mut batch = Batch {
            ops: Vec::with_capacity(n),
            seqs: Vec::with_capacity(n),
            jids: Vec::with_capacity(n),
        };
        for _ in 0..n {
            let Some((key, _)) = self.order.pop_front() else {
                break;
            };
            let Some(p) = self.entries.get_mut(&key) else {
                continue;
            };
            p.queued = false;
            batch.seqs.push(p.seq);
            batch.jids.push(p.jid);
            batch.ops.push(match &p.value {
                Some(v) => WriteOp::Put(key, v.clone()),
                None => WriteOp::Delete(key),
            });
        }
        batch
    }

    /// The write `seq` of `key` is done with (persisted, or reported failed): forget the key if
    /// nothing newer is pending, and say so; else move its flush mark past `seq`.
    pub(crate) fn ack(&mut self, key: &K, seq: u64) -> bool {
        match self.entries.get_mut(key) {
            Some(p) if p.seq == seq => {
                self.entries.remove(key);
                true
            }
            Some(p) => {
                p.oldest = seq + 1;
                false
            }
            None => false,
        }
    }

    /// Whether every write up to `target` is persisted or reported.
    pub(crate) fn flushed(&self, target: u64) -> bool {
        !self.entries.values().any(|p| p.oldest <= target)
    }
}

impl<K, V> WriteQueue<K, V> {
    /// The sequence number a `flush` starting now waits for; it registers as a waiter.
    pub(crate) fn start_flush(&mut self) -> u64 {
        self.flush_waiters += 1;
        self.next_seq - 1
    }

    /// A `flush` waiting for `target` is done waiting.
    pub(crate) fn end_flush(&mut self) {
        self.flush_waiters -= 1;
    }

    /// No more writes are taken.
    pub(crate) fn close(&mut self) {
        self.closed = true;
    }

    /// The flusher has exited (it also closes the queue).
    pub(crate) fn flusher_gone(&mut self) {
        self.closed = true;
        self.flusher_gone = true;
    }

    pub(crate) fn is_flusher_gone(&self) -> bool {
        self.flusher_gone
    }

    /// Keys with a pending write.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    fn queue(capacity: usize, batch: usize) -> WriteQueue<u32, u32> {
        WriteQueue::new(capacity, batch, SECOND)
    }

    fn keys(b: &Batch<u32, u32>) -> Vec<(u32, Option<u32>)> {
        b.ops
            .iter()
            .map(|op| match op {
                WriteOp::Put(k, v) => (*k, Some(*v)),
                WriteOp::Delete(k) => (*k, None),
            })
            .collect()
    }

    #[test]
    fn writes_to_one_key_coalesce_and_take_one_place() {
        let now = Instant::now();
        let mut q = queue(2, 10);
        q.push(1, Some(10), now, 0, None);
        q.push(1, Some(11), now, 0, None);
        q.push(1, None, now, 0, None);
        assert_eq!(q.len(), 1);
        assert_eq!(q.pending(&1), Some(None));
        q.push(2, Some(20), now, 0, None);
        assert_eq!(q.admit(&3), Err(Refused::Full));
        assert_eq!(q.admit(&1), Ok(()), "a pending key takes no more room");
        assert_eq!(keys(&q.take_batch()), vec![(1, None), (2, Some(20))]);
    }

    #[test]
    fn a_key_written_while_in_flight_goes_behind_and_its_first_ack_keeps_it_pending() {
        let now = Instant::now();
        let mut q = queue(10, 10);
        q.push(1, Some(10), now, 0, None);
        let first = q.take_batch();
        q.push(1, Some(11), now, 0, None); // while 10 is with the store
        assert_eq!(q.pending(&1), Some(Some(11)));
        assert!(!q.ack(&1, first.seqs[0]), "a newer write is pending");
        assert_eq!(q.pending(&1), Some(Some(11)));
        let second = q.take_batch();
        assert_eq!(keys(&second), vec![(1, Some(11))]);
        assert!(q.ack(&1, second.seqs[0]));
        assert_eq!(q.pending(&1), None);
        assert_eq!(q.len(), 0);
    }

    #[test]
    fn batches_hold_at_most_batch_size_oldest_first() {
        let now = Instant::now();
        let mut q = queue(100, 3);
        for k in 0..7 {
            q.push(k, Some(k), now, 0, None);
        }
        assert_eq!(
            keys(&q.take_batch()),
            vec![(0, Some(0)), (1, Some(1)), (2, Some(2))]
        );
        assert_eq!(q.take_batch().ops.len(), 3);
        assert_eq!(keys(&q.take_batch()), vec![(6, Some(6))]);
        assert!(q.take_batch().ops.is_empty());
    }

    #[test]
    fn the_flusher_waits_for_a_full_batch_the_interval_a_flush_or_the_close() {
        let t0 = Instant::now();
        let mut q = queue(100, 3);
        assert_eq!(q.next(t0), Next::Idle);
        assert!(
            q.push(1, Some(1), t0, 0, None),
            "the first write wakes the flusher"
        );
        assert_eq!(q.next(t0), Next::WaitUntil(t0 + SECOND));
        assert_eq!(q.next(t0 + SECOND), Next::Write);
        assert!(!q.push(2, Some(2), t0, 0, None));
        assert!(
            q.push(3, Some(3), t0, 0, None),
            "a full batch wakes the flusher"
        );
        assert_eq!(q.next(t0), Next::Write);
        let mut q = queue(100, 3);
        q.push(1, Some(1), t0, 0, None);
        let target = q.start_flush();
        assert_eq!(
            q.next(t0),
            Next::Write,
            "a flush does not wait for the interval"
        );
        assert!(!q.flushed(target));
        let b = q.take_batch();
        q.ack(&1, b.seqs[0]);
        assert!(q.flushed(target));
        q.end_flush();
        q.push(2, Some(2), t0, 0, None);
        q.close();
        assert_eq!(q.admit(&9), Err(Refused::Closed));
        assert_eq!(q.next(t0), Next::Write, "closing drains at once");
        q.take_batch();
        assert_eq!(q.next(t0), Next::Exit);
    }

    #[test]
    fn a_flush_waits_only_for_writes_before_it() {
        let t0 = Instant::now();
        let mut q = queue(100, 10);
        q.push(1, Some(1), t0, 0, None);
        let target = q.start_flush();
        let b = q.take_batch();
        q.push(1, Some(2), t0, 0, None); // after the flush began
        q.ack(&1, b.seqs[0]);
        assert!(
            q.flushed(target),
            "the newer write is not the flush's to wait for"
        );
        assert_eq!(q.pending(&1), Some(Some(2)));
    }

    #[test]
    fn a_reserved_place_counts_against_capacity_and_keeps_the_flusher() {
        let now = Instant::now();
        let mut q = queue(2, 10);
        q.push(1, Some(1), now, 0, None);
        assert_eq!(q.admit(&2), Ok(()));
        let counted = q.reserve(&2);
        assert!(counted);
        assert_eq!(
            q.admit(&3),
            Err(Refused::Full),
            "the reserved place is taken"
        );
        assert!(!q.reserve(&1), "a pending key takes no new place");
        q.unreserve(false);
        q.close();
        let first = q.take_batch();
        assert!(q.ack(&1, first.seqs[0]));
        assert_eq!(q.next(now), Next::Idle, "a reserved write is still to come");
        assert!(q.push(2, Some(2), now, 7, Some(counted)));
        let b = q.take_batch();
        assert_eq!((keys(&b), b.jids.clone()), (vec![(2, Some(2))], vec![7]));
        q.ack(&2, b.seqs[0]);
        assert_eq!(q.next(now), Next::Exit);
    }
}
