//! Gates for deterministic race tests: a call parks at a closed gate until the test opens it,
//! and the test can wait until the call has arrived there.

use parking_lot::{Condvar, Mutex};
use std::sync::Arc;
use std::thread;
use stratacache::{Layered, MemoryStore, MemoryStoreError, Store, WriteOp};

/// A gate calls park at while it is closed; the test can wait until `n` of them have arrived.
#[derive(Default)]
pub struct Gate {
    state: Mutex<(bool, usize)>,
    changed: Condvar,
}

impl Gate {
    /// An open gate (usable in a `static`).
    pub const fn new() -> Self {
        Gate {
            state: Mutex::new((false, 0)),
            changed: Condvar::new(),
        }
    }
    /// Calls that come now park.
    pub fn close(&self) {
        self.state.lock().0 = true;
    }
    /// Lets every parked call (and later ones) through.
    pub fn open(&self) {
        self.state.lock().0 = false;
        self.changed.notify_all();
    }
    /// Parks while the gate is closed.
    pub fn pass(&self) {
        let mut st = self.state.lock();
        st.1 += 1;
        self.changed.notify_all();
        while st.0 {
            self.changed.wait(&mut st);
        }
        st.1 -= 1;
    }
    /// Waits until `n` calls are parked here.
    pub fn wait_for(&self, n: usize) {
        let mut st = self.state.lock();
        while st.1 < n {
            self.changed.wait(&mut st);
        }
    }
}

/// A `MemoryStore` whose loads of one key (after reading) and writes of one value (before
/// writing) park at gates; `landed` is told when a held write has reached the map.
#[derive(Default)]
pub struct Gated {
    pub inner: MemoryStore<u32, u64>,
    pub hold_load: Mutex<Option<u32>>,
    pub load_gate: Gate,
    pub hold_write: Mutex<Option<u64>>,
    pub write_gate: Gate,
    pub landed: Gate,
}

impl Store<u32, u64> for Gated {
    type Error = MemoryStoreError;
    fn load(&self, key: &u32) -> Result<Option<u64>, MemoryStoreError> {
        let v = self.inner.load(key)?;
        if *self.hold_load.lock() == Some(*key) {
            self.load_gate.pass();
        }
        Ok(v)
    }
    fn write(&self, key: &u32, value: &u64) -> Result<(), MemoryStoreError> {
        let held = *self.hold_write.lock() == Some(*value);
        if held {
            self.write_gate.pass();
        }
        self.inner.write(key, value)?;
        if held {
            self.landed.open();
        }
        Ok(())
    }
    fn delete(&self, key: &u32) -> Result<(), MemoryStoreError> {
        self.inner.delete(key)
    }
    fn write_batch(&self, ops: &[WriteOp<u32, u64>]) -> Result<(), MemoryStoreError> {
        self.inner.write_batch(ops)
    }
}

/// The fill race of a layered store: the database (`back`) holds 1 under key 1; a load through
/// `Layered::new(front, back)` misses the front, reads 1 from the database and stalls; `write`
/// runs; then the load goes on and fills the front if it may. Returns the tiers, for the caller
/// to check what the front holds.
pub fn fill_racing<F: Store<u32, u64> + 'static>(
    front: F,
    write: impl FnOnce(&Layered<F, Arc<Gated>>),
) -> Arc<Layered<F, Arc<Gated>>> {
    let back = Arc::new(Gated::default());
    back.inner.write(&1, &1).unwrap();
    *back.hold_load.lock() = Some(1);
    back.load_gate.close();
    let tiers = Arc::new(Layered::new(front, back.clone()));
    let reader = {
        let t = tiers.clone();
        thread::spawn(move || t.load(&1).unwrap())
    };
    back.load_gate.wait_for(1);
    write(&tiers);
    back.load_gate.open();
    assert_eq!(reader.join().unwrap(), Some(1));
    *back.hold_load.lock() = None;
    assert_eq!(tiers.load(&1).unwrap(), back.inner.peek(&1));
    tiers
}
