//! Panic safety: keys whose `Hash` or `Eq` panic, values whose `Drop` panics, panicking weighers,
//! listeners and loaders. After every caught panic the cache validates, keeps working, and
//! leaks nothing (live values are counted in `Drop`).

use std::cell::Cell;
use std::hash::{Hash, Hasher};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use stratacache::{Cache, RemovalCause};

thread_local! {
    // Per thread, so that tests running in parallel do not arm each other's bombs. The cache
    // runs keys' and values' code on the calling thread.
    static HASH_BOMB: Cell<bool> = const { Cell::new(false) };
    static EQ_BOMB: Cell<bool> = const { Cell::new(false) };
    static DROP_BOMB: Cell<bool> = const { Cell::new(false) };
    static LIVE: Cell<isize> = const { Cell::new(0) };
}

/// The unlucky number: its `Hash`, `Eq` and `Drop` panic when armed.
const UNLUCKY: u32 = 13;

#[derive(Debug)]
struct Key(u32);

impl Hash for Key {
    fn hash<H: Hasher>(&self, h: &mut H) {
        if self.0 == UNLUCKY && HASH_BOMB.get() {
            panic!("Hash of the unlucky key");
        }
        self.0.hash(h);
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        if (self.0 == UNLUCKY || other.0 == UNLUCKY) && EQ_BOMB.get() {
            panic!("Eq of the unlucky key");
        }
        self.0 == other.0
    }
}
impl Eq for Key {}

#[derive(Debug, PartialEq)]
struct Value(u32);

impl Value {
    fn new(v: u32) -> Value {
        LIVE.set(LIVE.get() + 1);
        Value(v)
    }
}

impl Clone for Value {
    fn clone(&self) -> Value {
        Value::new(self.0)
    }
}

impl Drop for Value {
    fn drop(&mut self) {
        LIVE.set(LIVE.get() - 1);
        if self.0 == UNLUCKY && DROP_BOMB.get() {
            DROP_BOMB.set(false); // once: a second panic while unwinding would abort
            panic!("Drop of the unlucky value");
        }
    }
}

fn caught(f: impl FnOnce()) -> bool {
    panic::catch_unwind(AssertUnwindSafe(f)).is_err()
}

fn arm(bomb: &'static std::thread::LocalKey<Cell<bool>>, on: bool) {
    bomb.with(|b| b.set(on));
}

fn cache(capacity: u64) -> Cache<Key, Value> {
    Cache::builder()
        .max_capacity(capacity)
        .shards(1)
        .build()
        .unwrap()
}

fn check_works(c: &Cache<Key, Value>) {
    c.validate();
    c.insert(Key(1000), Value::new(1000));
    assert_eq!(c.get(&Key(1000)).map(|v| v.0), Some(1000));
    c.validate();
}

#[test]
fn panicking_hash() {
    {
        let c = cache(4);
        c.insert(Key(1), Value::new(1));
        arm(&HASH_BOMB, true);
        assert!(caught(|| c.insert(Key(UNLUCKY), Value::new(5))));
        assert!(caught(|| drop(c.get(&Key(UNLUCKY)))));
        assert!(caught(|| drop(c.remove(&Key(UNLUCKY)))));
        assert!(caught(|| drop(
            c.get_or_insert_with(Key(UNLUCKY), || Value::new(6))
        )));
        arm(&HASH_BOMB, false);
        assert_eq!(c.len(), 1);
        check_works(&c);
    }
    assert_eq!(LIVE.get(), 0, "values leaked");
}

#[test]
fn panicking_eq() {
    {
        let c = cache(4);
        c.insert(Key(UNLUCKY), Value::new(1));
        c.insert(Key(2), Value::new(2));
        arm(&EQ_BOMB, true);
        assert!(caught(|| drop(c.get(&Key(UNLUCKY)))));
        assert!(caught(|| drop(c.peek(&Key(UNLUCKY)))));
        assert!(caught(|| {
            c.contains_key(&Key(UNLUCKY));
        }));
        assert!(caught(|| c.insert(Key(UNLUCKY), Value::new(3))));
        assert!(caught(|| drop(c.remove(&Key(UNLUCKY)))));
        assert!(caught(|| drop(
            c.get_or_insert_with(Key(UNLUCKY), || Value::new(4))
        )));
        arm(&EQ_BOMB, false);
        c.validate();
        assert_eq!(
            c.get(&Key(UNLUCKY)).map(|v| v.0),
            Some(1),
            "nothing changed"
        );
        // No flight was left registered: a load of the key runs and returns.
        c.remove(&Key(UNLUCKY));
        assert_eq!(c.get_or_insert_with(Key(UNLUCKY), || Value::new(7)).0, 7);
        check_works(&c);
    }
    assert_eq!(LIVE.get(), 0, "values leaked");
}

#[test]
fn panicking_drop_without_listener() {
    {
        let c = cache(2);
        c.insert(Key(1), Value::new(UNLUCKY));
        c.insert(Key(2), Value::new(2));
        arm(&DROP_BOMB, true);
        // Evicts key 1; its value's Drop panics after the lock is released.
        assert!(caught(|| c.insert(Key(3), Value::new(3))));
        assert_eq!(c.len(), 2);
        assert!(!c.contains_key(&Key(1)));
        check_works(&c);
    }
    assert_eq!(LIVE.get(), 0, "values leaked");
}

#[test]
fn panicking_drop_inside_the_listener_and_the_rest_delivered() {
    let delivered = Arc::new(AtomicUsize::new(0));
    {
        let d = delivered.clone();
        let c: Cache<Key, Value> = Cache::builder()
            .max_capacity(4)
            .shards(1)
            .eviction_listener(move |_k, _v, cause| {
                assert_eq!(cause, RemovalCause::Explicit);
                d.fetch_add(1, Ordering::SeqCst);
            })
            .build()
            .unwrap();
        c.insert(Key(1), Value::new(UNLUCKY));
        c.insert(Key(2), Value::new(2));
        c.insert(Key(3), Value::new(3));
        arm(&DROP_BOMB, true);
        assert!(caught(|| c.clear()));
        assert_eq!(
            delivered.load(Ordering::SeqCst),
            3,
            "every removal reached the listener"
        );
        assert!(c.is_empty());
        check_works(&c);
    }
    assert_eq!(LIVE.get(), 0, "values leaked");
}

#[test]
fn panicking_loader_and_weigher_leak_nothing() {
    {
        let c: Cache<Key, Value> = Cache::builder()
            .max_capacity(8)
            .weigher(|_k, v: &Value| if v.0 == UNLUCKY { panic!("weigher") } else { 1 })
            .build()
            .unwrap();
        assert!(caught(|| drop(
            c.get_or_insert_with(Key(1), || panic!("loader"))
        )));
        assert!(caught(|| drop(
            c.get_or_insert_with(Key(2), || Value::new(UNLUCKY))
        )));
        assert!(caught(|| c.insert(Key(3), Value::new(UNLUCKY))));
        assert!(c.is_empty());
        check_works(&c);
        assert_eq!(c.get_or_insert_with(Key(1), || Value::new(1)).0, 1);
    }
    assert_eq!(LIVE.get(), 0, "values leaked");
}
