//! The synchronisation primitives of the crate, in one place: parking_lot's locks and std's
//! atomics and threads, or, with the test-only feature `shuttle`, the same API on
//! [shuttle](https://docs.rs/shuttle)'s primitives, whose scheduler explores thread interleavings
//! (see `tests/shuttle.rs`).

#[cfg(not(feature = "shuttle"))]
pub(crate) use parking_lot::{Condvar, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
#[cfg(not(feature = "shuttle"))]
pub(crate) use std::sync::atomic;
#[cfg(not(feature = "shuttle"))]
pub(crate) use std::thread;

#[cfg(feature = "shuttle")]
pub(crate) use self::shuttle_sync::*;

#[cfg(feature = "shuttle")]
mod shuttle_sync {
    //! parking_lot's API (no poisoning, guards by `&mut` in `Condvar::wait`) over shuttle.
    use std::ops::{Deref, DerefMut};
    use std::time::Instant;

    pub(crate) use shuttle::sync::atomic;
    pub(crate) use shuttle::thread;

    pub(crate) struct Mutex<T>(shuttle::sync::Mutex<T>);
    pub(crate) struct MutexGuard<'a, T>(Option<shuttle::sync::MutexGuard<'a, T>>);

    impl<T> Mutex<T> {
        pub(crate) const fn new(t: T) -> Self {
            Mutex(shuttle::sync::Mutex::new(t))
        }
        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            MutexGuard(Some(self.0.lock().unwrap_or_else(|e| e.into_inner())))
        }
    }

    impl<T: Default> Default for Mutex<T> {
        fn default() -> Self {
            Mutex::new(T::default())
        }
    }

    impl<T> Deref for MutexGuard<'_, T> {
        type Target = T;
        fn deref(&self) -> &T {
            self.0
                .as_ref()
                .expect("guard present outside Condvar::wait")
        }
    }

    impl<T> DerefMut for MutexGuard<'_, T> {
        fn deref_mut(&mut self) -> &mut T {
            self.0
                .as_mut()
                .expect("guard present outside Condvar::wait")
        }
    }

    pub(crate) struct Condvar(shuttle::sync::Condvar);

    /// Shuttle never times a wait out, so neither does this.
    pub(crate) struct WaitTimeoutResult;

    impl WaitTimeoutResult {
        #[allow(dead_code)]
        pub(crate) fn timed_out(&self) -> bool {
            false
        }
    }

    impl Condvar {
        pub(crate) const fn new() -> Self {
            Condvar(shuttle::sync::Condvar::new())
        }
        pub(crate) fn wait<T>(&self, guard: &mut MutexGuard<'_, T>) {
            let g = guard.0.take().expect("guard present");
            guard.0 = Some(self.0.wait(g).unwrap_or_else(|e| e.into_inner()));
        }
        pub(crate) fn wait_until<T>(
            &self,
            guard: &mut MutexGuard<'_, T>,
            _deadline: Instant,
        ) -> WaitTimeoutResult {
            self.wait(guard);
            WaitTimeoutResult
        }
        pub(crate) fn notify_one(&self) -> bool {
            self.0.notify_one();
            true
        }
        pub(crate) fn notify_all(&self) -> usize {
            self.0.notify_all();
            0
        }
    }

    pub(crate) struct RwLock<T>(shuttle::sync::RwLock<T>);
    pub(crate) type RwLockReadGuard<'a, T> = shuttle::sync::RwLockReadGuard<'a, T>;
    pub(crate) type RwLockWriteGuard<'a, T> = shuttle::sync::RwLockWriteGuard<'a, T>;

    impl<T> RwLock<T> {
        pub(crate) const fn new(t: T) -> Self {
            RwLock(shuttle::sync::RwLock::new(t))
        }
        pub(crate) fn read(&self) -> RwLockReadGuard<'_, T> {
            self.0.read().unwrap_or_else(|e| e.into_inner())
        }
        pub(crate) fn write(&self) -> RwLockWriteGuard<'_, T> {
            self.0.write().unwrap_or_else(|e| e.into_inner())
        }
        pub(crate) fn try_write(&self) -> Option<RwLockWriteGuard<'_, T>> {
            self.0.try_write().ok()
        }
    }
}
