//! The fill-lease protocol (memcache's leases, NSDI 2013) as scenarios over any front tier that
//! hands out leases: `MemoryStore` in `tests/leases.rs`, `RedisStore` in `tests/redis.rs`. The
//! fleet is played by several `Layered` stores (one per "process", each with its own database
//! handle) over one shared front.

use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;
use stratacache::{Layered, LeaseStats, Leased, MemoryStore, Store};

/// One lease per key at a time: the first miss gets it, the next ones find it held; a fill
/// uses it up, a write or delete revokes it, a release gives it back, and it expires after
/// `lasts` (the front's lease lifetime, which must be short: this test waits it out).
pub fn lease_protocol<F: Store<u32, u64>>(front: &F, lasts: Duration) {
    let Leased::Miss(Some(a)) = front.load_or_lease(&1).unwrap() else {
        panic!("the first miss gets the lease")
    };
    assert_eq!(front.load_or_lease(&1).unwrap(), Leased::Held);
    assert!(front.fill(&1, &10, a).unwrap());
    assert_eq!(front.load_or_lease(&1).unwrap(), Leased::Hit(10));
    // Used up: a second fill with it is refused.
    front.delete(&1).unwrap();
    assert!(!front.fill(&1, &11, a).unwrap());
    // A delete revokes the outstanding lease: the next miss gets a new one at once.
    let Leased::Miss(Some(b)) = front.load_or_lease(&1).unwrap() else {
        panic!("a miss after the fill gets a lease")
    };
    assert_ne!(a, b);
    front.delete(&1).unwrap();
    assert!(
        !front.fill(&1, &12, b).unwrap(),
        "a revoked lease fills nothing"
    );
    // A release gives it back.
    let Leased::Miss(Some(c)) = front.load_or_lease(&1).unwrap() else {
        panic!("a miss after the delete gets a lease")
    };
    front.release(&1, c).unwrap();
    let Leased::Miss(Some(d)) = front.load_or_lease(&1).unwrap() else {
        panic!("a miss after the release gets a lease")
    };
    // A release of a lease that has ended changes nothing.
    front.release(&1, c).unwrap();
    assert_eq!(front.load_or_lease(&1).unwrap(), Leased::Held);
    // A lease that expired is refused, and the next miss gets a new one (a crashed holder
    // blocks the key for no longer).
    thread::sleep(lasts + Duration::from_millis(50));
    assert!(!front.fill(&1, &13, d).unwrap());
    assert!(matches!(
        front.load_or_lease(&1).unwrap(),
        Leased::Miss(Some(_))
    ));
    assert_eq!(front.load(&1).unwrap(), None);
}

/// The database every "process" shares.
pub type Db = Arc<MemoryStore<u32, u64>>;
/// One process's layered store.
pub type Tiers<F> = Arc<Layered<Arc<F>, Db>>;

/// `processes` layered stores over one front, each with its own handle on a database that
/// holds 1 -> 10 and takes 50 ms per load.
pub fn fleet<F: Store<u32, u64> + 'static>(front: F, processes: usize) -> (Vec<Tiers<F>>, Db) {
    let front = Arc::new(front);
    let db = Arc::new(MemoryStore::new().with_latency(Duration::from_millis(50)));
    db.write(&1, &10).unwrap();
    let tiers = (0..processes)
        .map(|_| Arc::new(Layered::new(front.clone(), db.clone())))
        .collect();
    (tiers, db)
}

fn sum(stats: impl Iterator<Item = LeaseStats>) -> (u64, u64, u64) {
    stats.fold((0, 0, 0), |(w, a, e), s| {
        (w + s.won, a + s.waited, e + s.expired)
    })
}

/// A stampede across a fleet: 4 processes with 4 threads each miss the same key at once; the
/// database is read once, by the lease holder, and the others get its fill.
pub fn one_database_read_per_fleet_miss<F: Store<u32, u64> + 'static>(front: F) {
    let (tiers, db) = fleet(front, 4);
    let start = Arc::new(Barrier::new(16));
    let readers: Vec<_> = (0..16)
        .map(|i| {
            let (t, start) = (tiers[i % 4].clone(), start.clone());
            thread::spawn(move || {
                start.wait();
                t.load(&1).unwrap()
            })
        })
        .collect();
    for r in readers {
        assert_eq!(r.join().unwrap(), Some(10));
    }
    let writes_before = db.writes();
    assert_eq!(db.loads(), 1, "one database read for sixteen misses");
    let (won, _waited, expired) = sum(tiers.iter().map(|t| t.lease_stats()));
    assert_eq!((won, expired), (1, 0));
    assert_eq!(db.writes(), writes_before);
}

/// A holder that never fills (it crashed) blocks the key only until its lease expires; then
/// the next reader reads the database and fills.
pub fn a_crashed_holder_blocks_until_its_lease_expires<F: Store<u32, u64> + 'static>(front: F) {
    let (tiers, db) = fleet(front, 1);
    let Leased::Miss(Some(_crashed)) = tiers[0].front().load_or_lease(&1).unwrap() else {
        panic!("the first miss gets the lease")
    };
    assert_eq!(tiers[0].load(&1).unwrap(), Some(10));
    assert_eq!(db.loads(), 1);
    let s = tiers[0].lease_stats();
    assert_eq!((s.won, s.waited, s.expired), (0, 0, 1));
    assert_eq!(tiers[0].front().load(&1).unwrap(), Some(10), "filled");
}

/// A holder that finds nothing in the database gives the lease back, so the next miss does not
/// wait out the lease; with a zero wait nobody waits at all.
pub fn an_absent_key_releases_its_lease<F: Store<u32, u64> + 'static>(front: F) {
    let (tiers, db) = fleet(front, 1);
    assert_eq!(tiers[0].load(&2).unwrap(), None);
    assert!(
        matches!(
            tiers[0].front().load_or_lease(&2).unwrap(),
            Leased::Miss(Some(_))
        ),
        "the holder gave the lease back"
    );
    // Now the lease is out (taken just above) and a reader that may not wait reads the
    // database without filling.
    let front = tiers[0].front().clone();
    let impatient = Layered::new(front, db.clone()).with_lease_wait(Duration::ZERO);
    assert_eq!(impatient.load(&1).unwrap(), Some(10));
    assert_eq!(impatient.lease_stats().won, 1);
    assert_eq!(impatient.load(&2).unwrap(), None);
    assert_eq!(impatient.lease_stats().expired, 1);
    assert_eq!(db.loads(), 3);
}
