//! Store calls with a timeout: each runs on a helper thread while its caller waits until a
//! deadline. The helpers are bounded: at most `max` run at once per policy, whatever the store
//! does, and a call that cannot get one before its deadline times out without starting. A call
//! that is still running at its deadline is abandoned, not forgotten: its result is handed to a
//! `late` handler on the helper thread when it comes.

use crate::sync::thread;
use crate::sync::{Condvar, Mutex};
use std::sync::Arc;
use std::time::Instant;

/// Why a call did not answer in time.
#[derive(Debug)]
pub(crate) enum Overdue {
    /// Every helper was busy until the deadline: the call never started.
    NoHelper,
    /// The call started and had not answered by the deadline; it goes on, and its result will go
    /// to the `late` handler.
    Late,
    /// A helper thread could not be started: the call never started.
    Spawn(std::io::Error),
}

/// The bounded set of helper threads of one policy.
pub(crate) struct Helpers {
    running: Mutex<usize>,
    freed: Condvar,
    max: usize,
}

/// Where a helper leaves its result, unless the caller gave up first.
enum Slot<R> {
    Waiting,
    Done(R),
    Abandoned,
}

struct Handoff<R> {
    slot: Mutex<Slot<R>>,
    ready: Condvar,
}

impl Helpers {
    pub(crate) fn new(max: usize) -> Arc<Self> {
        Arc::new(Helpers {
            running: Mutex::new(0),
            freed: Condvar::new(),
            max: max.max(1),
        })
    }

    /// How many helper threads are running now (tests).
    #[cfg(all(test, not(feature = "shuttle")))]
    pub(crate) fn running(&self) -> usize {
        *self.running.lock()
    }

    /// Runs `job` on a helper thread without waiting for it, if a helper is free now; returns
    /// whether it started (if not, `job` is dropped unrun). `job` must not panic.
    pub(crate) fn try_spawn(self: &Arc<Self>, job: impl FnOnce() + Send + 'static) -> bool {
        {
            let mut running = self.running.lock();
            if *running >= self.max {
                return false;
            }
            *running += 1;
        }
        self.spawn(job).is_ok()
    }

    /// Starts `job` on a thread of its own, whose place (taken by the caller) is freed when it
    /// ends, however it ends; if the thread cannot start, frees the place at once.
    fn spawn(self: &Arc<Self>, job: impl FnOnce() + Send + 'static) -> std::io::Result<()> {
        let helpers = self.clone();
        let spawned = thread::Builder::new()
            .name("stratacache-store-call".into())
            .spawn(move || {
                // Frees the helper's place when the thread ends, however it ends.
                struct Release(Arc<Helpers>);
                impl Drop for Release {
                    fn drop(&mut self) {
                        *self.0.running.lock() -= 1;
                        self.0.freed.notify_one();
                    }
                }
                let _release = Release(helpers);
                job();
            });
        if let Err(e) = spawned {
            *self.running.lock() -= 1;
            self.freed.notify_one();
            return Err(e);
        }
        Ok(())
    }

    /// Runs `job` on a helper thread and waits for its result until `deadline`. If it comes later,
    /// `late` gets it on the helper thread. `job` and `late` must not panic (wrap user code in
    /// `catch_unwind` inside them).
    pub(crate) fn run<R: Send + 'static>(
        self: &Arc<Self>,
        deadline: Instant,
        job: impl FnOnce() -> R + Send + 'static,
        late: impl FnOnce(R) + Send + 'static,
    ) -> Result<R, Overdue> {
        {
            let mut running = self.running.lock();
            while *running >= self.max {
                if self.freed.wait_until(&mut running, deadline).timed_out() && *running >= self.max
                {
                    return Err(Overdue::NoHelper);
                }
            }
            *running += 1;
        }
        let handoff = Arc::new(Handoff {
            slot: Mutex::new(Slot::Waiting),
            ready: Condvar::new(),
        });
        let theirs = handoff.clone();
        self.spawn(move || {
            let r = job();
            let mut slot = theirs.slot.lock();
            if matches!(*slot, Slot::Abandoned) {
                drop(slot);
                late(r);
            } else {
                *slot = Slot::Done(r);
                drop(slot);
                theirs.ready.notify_one();
            }
        })
        .map_err(Overdue::Spawn)?;
        let mut slot = handoff.slot.lock();
        loop {
            match std::mem::replace(&mut *slot, Slot::Waiting) {
                Slot::Done(r) => return Ok(r),
                Slot::Abandoned => unreachable!("only the caller abandons"),
                Slot::Waiting => {}
            }
            if handoff.ready.wait_until(&mut slot, deadline).timed_out()
                && matches!(*slot, Slot::Waiting)
            {
                *slot = Slot::Abandoned;
                return Err(Overdue::Late);
            }
        }
    }
}

#[cfg(all(test, not(feature = "shuttle")))]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    fn soon() -> Instant {
        Instant::now() + Duration::from_millis(30)
    }

    #[test]
    fn an_answer_in_time_is_returned() {
        let h = Helpers::new(2);
        assert_eq!(h.run(soon(), || 7, |_| panic!("not late")).unwrap(), 7);
    }

    #[test]
    fn a_late_answer_goes_to_the_late_handler() {
        let h = Helpers::new(2);
        let (go, wait) = mpsc::channel::<()>();
        let (tell, told) = mpsc::channel();
        let r = h.run(
            soon(),
            move || {
                wait.recv().unwrap();
                5
            },
            move |r| tell.send(r).unwrap(),
        );
        assert!(matches!(r, Err(Overdue::Late)));
        go.send(()).unwrap();
        assert_eq!(told.recv().unwrap(), 5);
    }

    #[test]
    fn hung_calls_never_take_more_than_max_threads() {
        let h = Helpers::new(3);
        let (go, wait) = mpsc::channel::<()>();
        let wait = Arc::new(std::sync::Mutex::new(wait));
        for _ in 0..10 {
            let w = wait.clone();
            let _ = h.run(
                soon(),
                move || {
                    let _ = w.lock().unwrap().recv();
                },
                |()| {},
            );
            assert!(h.running() <= 3);
        }
        assert_eq!(h.running(), 3);
        drop(go); // the store "answers": every helper ends
        for _ in 0..1000 {
            if h.running() == 0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(h.running(), 0);
    }
}
