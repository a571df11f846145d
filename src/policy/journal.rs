//! The write-behind journal: a local append-only file that makes each accepted write durable
//! before `put` returns, so that a crash loses none (see
//! [`WriteBehindBuilder::journal`](crate::WriteBehindBuilder::journal)).
//!
//! # Format (version 1)
//!
//! A 16-byte header: the magic `STRATAJ\n`, the format version (`u32`, little endian) and 4
//! bytes of zero. Then records, each: the payload's length (`u32` LE), a CRC-32 (IEEE, the
//! `crc32fast` crate) of the length's 4 bytes and the payload, and the payload: a postcard
//! encoding of
//!
//! - `Write { jid, key, value }` (a put, or with no value a delete), `jid` counting up from 1
//!   over the file's life, or
//! - `Done { jids }`: those writes are settled (the store acknowledged them, or they were
//!   reported failed).
//!
//! # Recovery
//!
//! The writes to replay are, for each key, its last `Write` record, unless that one is `Done`
//! (a key's earlier writes are superseded by its last: the store may receive the last one only,
//! which the write-behind contract allows). A crash in the middle of an append leaves a torn
//! tail: a record cut short by the end of the file, or a tail of zeros (a file extended but not
//! written, after a power cut). It is cut off. Anything else that does not check out (a record
//! that ends inside the file with a wrong checksum, an impossible length, a payload that does
//! not decode) is corruption: opening fails with an error that names the file and the offset,
//! and nothing is skipped silently.
//!
//! # Durability and group commit
//!
//! Appends go through one buffer. The first writer to find no write in progress becomes the
//! leader: it writes everything buffered so far with one `write` and, under
//! [`JournalSync::Always`], one `fdatasync`, while later writers add to the buffer and wait;
//! the next leader takes all of theirs at once. So `N` concurrent puts cost about one fsync,
//! not `N`.
//!
//! # Compaction
//!
//! Settled writes are garbage. When the file is over 1 MiB and more than four times the size
//! of the live records, the next append rewrites it with the live records only, into a
//! temporary file that is synced and then renamed over the journal (and the directory synced),
//! so a crash during compaction leaves either the old file or the new one. Settling only
//! buffers its record (the next append writes it), so the flusher never blocks on the file.

use parking_lot::{Condvar, Mutex, MutexGuard};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::hash::Hash;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// When the journal asks the OS to put its writes on the disk (`fdatasync`), as Redis's AOF
/// `appendfsync` offers. Every choice writes each accepted write to the OS before `put`
/// returns, so a crash of the process (`kill -9`, a panic, an OOM kill) loses nothing under
/// any of them; they differ when the machine itself stops (power cut, kernel panic).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum JournalSync {
    /// Every `put` returns after its write was synced (one sync per group of concurrent
    /// writers). Nothing accepted is lost. The default.
    #[default]
    Always,
    /// Sync at most this often, from a background thread: a machine failure can lose the writes
    /// of the last interval (Redis's `everysec` is `Every(1 s)`).
    Every(Duration),
    /// Never sync: the OS writes back when it likes (Linux: within about 30 s). A machine
    /// failure can lose what it had not written yet.
    Never,
}

const MAGIC: &[u8; 8] = b"STRATAJ\n";
/// The format this code writes and reads.
pub const JOURNAL_FORMAT_VERSION: u32 = 1;
const HEADER: usize = 16;
/// A record's length and checksum.
const RECORD_HEADER: usize = 8;
/// No record is larger: a length beyond it is corruption, not an allocation to attempt.
const MAX_RECORD: u32 = 256 << 20;
const COMPACT_MIN: u64 = 1 << 20;

/// A record as written: borrowed, so that appending copies nothing.
#[derive(Serialize)]
enum RecordRef<'a, K, V> {
    Write {
        jid: u64,
        key: &'a K,
        value: Option<&'a V>,
    },
    Done {
        jids: &'a [u64],
    },
}

/// A record as read back (the same encoding as [`RecordRef`]).
#[derive(Deserialize)]
enum Record<K, V> {
    Write { jid: u64, key: K, value: Option<V> },
    Done { jids: Vec<u64> },
}

/// A journal just opened, and the writes it holds to replay.
type Opened<K, V> = (Arc<Journal<K, V>>, Vec<Recovered<K, V>>);
/// While reading: each key's (encoded) last write, its number and its record's payload.
type LastWrites<K, V> = HashMap<Vec<u8>, (u64, K, Option<V>, Vec<u8>)>;

/// A write that the store never acknowledged, to replay.
pub(crate) struct Recovered<K, V> {
    pub(crate) jid: u64,
    pub(crate) key: K,
    pub(crate) value: Option<V>,
}

/// What the write-behind core needs of a journal, whatever its key and value types.
pub(crate) trait Journaling<K, V>: Send + Sync {
    /// Makes a write durable (per the sync choice); returns its number.
    fn append(&self, key: &K, value: Option<&V>) -> Result<u64, String>;
    /// These writes are settled: they need no replay. Not waited for.
    fn settle(&self, done: &[(K, u64)]);
}

/// The append stream, under one lock.
struct Log {
    /// Bytes appended but not yet handed to the OS.
    buf: Vec<u8>,
    /// Positions in the stream of all bytes ever appended (`end`), written to the OS
    /// (`written`) and synced (`synced`).
    end: u64,
    written: u64,
    synced: u64,
    /// A writer is writing (the leader); others wait for it.
    leading: bool,
    /// An I/O error that stopped the journal: every later append fails.
    broken: Option<String>,
    /// The file's length on disk, for compaction.
    file_len: u64,
    next_jid: u64,
    /// The live writes: the last write of each key that is not settled, with its record bytes.
    live: BTreeMap<u64, Vec<u8>>,
    live_bytes: u64,
    by_key: HashMap<Vec<u8>, u64>,
}

/// A journal file and its writers.
pub(crate) struct Journal<K, V> {
    path: PathBuf,
    sync: JournalSync,
    /// Written only by the leader (or by compaction, which leads).
    file: Mutex<File>,
    log: Mutex<Log>,
    turn: Condvar,
    /// The background syncer of `JournalSync::Every` stops when this is dropped.
    _types: std::marker::PhantomData<fn(K, V)>,
}

fn crc(len: &[u8; 4], payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(len);
    h.update(payload);
    h.finalize()
}

/// `payload` framed as a record.
fn frame(payload: &[u8]) -> Vec<u8> {
    let len = (payload.len() as u32).to_le_bytes();
    let mut r = Vec::with_capacity(RECORD_HEADER + payload.len());
    r.extend_from_slice(&len);
    r.extend_from_slice(&crc(&len, payload).to_le_bytes());
    r.extend_from_slice(payload);
    r
}

fn header() -> [u8; HEADER] {
    let mut h = [0u8; HEADER];
    h[..8].copy_from_slice(MAGIC);
    h[8..12].copy_from_slice(&JOURNAL_FORMAT_VERSION.to_le_bytes());
    h
}

/// Syncs the directory holding `path`, so that a rename or a creation in it is durable.
fn sync_dir(path: &Path) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
}

impl<K, V> Journal<K, V>
where
    K: Serialize + DeserializeOwned + Hash + Eq + Clone + Send + Sync + 'static,
    V: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
{
    /// Opens (or creates) the journal at `path`, cuts a torn tail, and returns the writes to
    /// replay, oldest first.
    pub(crate) fn open(path: &Path, sync: JournalSync) -> Result<Opened<K, V>, String> {
        let shown = path.display();
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| format!("cannot open the journal {shown}: {e}"))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(format!(
                    "the journal {shown} is in use by another write-behind policy"
                ));
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(format!("cannot lock the journal {shown}: {e}"));
            }
        }
        // A compaction that crashed before its rename left this; the journal itself is whole.
        let _ = std::fs::remove_file(Self::compacting(path));
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .map_err(|e| format!("cannot read the journal {shown}: {e}"))?;
        let (good, records) = Self::scan(&bytes).map_err(|e| format!("journal {shown}: {e}"))?;
        if good < bytes.len() || bytes.len() < HEADER {
            // Cut the torn tail (or write the header of a new or empty file).
            let keep = good.max(HEADER) as u64;
            file.set_len(if bytes.len() < HEADER { 0 } else { keep })
                .and_then(|()| {
                    if bytes.len() < HEADER {
                        file.seek(SeekFrom::Start(0))?;
                        file.write_all(&header())?;
                    }
                    file.sync_all()
                })
                .and_then(|()| sync_dir(path))
                .map_err(|e| format!("cannot repair the journal {shown}: {e}"))?;
        }
        let file_len = file
            .seek(SeekFrom::End(0))
            .map_err(|e| format!("cannot read the journal {shown}: {e}"))?;

        // Each key's last write, unless settled.
        let mut done = std::collections::HashSet::new();
        let mut last: LastWrites<K, V> = HashMap::new();
        let mut next_jid = 1;
        for (payload, record) in records {
            match record {
                Record::Write { jid, key, value } => {
                    next_jid = next_jid.max(jid + 1);
                    let k = crate::store::encode(&key).map_err(|e| e.to_string())?;
                    last.insert(k, (jid, key, value, payload));
                }
                Record::Done { jids } => {
                    // A number named here must not be given again (its write may be gone by
                    // compaction, its settlement not).
                    next_jid = jids.iter().fold(next_jid, |n, &j| n.max(j + 1));
                    done.extend(jids);
                }
            }
        }
        let mut live = BTreeMap::new();
        let mut by_key = HashMap::new();
        let mut recovered = Vec::new();
        let mut live_bytes = 0;
        for (k, (jid, key, value, payload)) in last {
            if done.contains(&jid) {
                continue;
            }
            let record = frame(&payload);
            live_bytes += record.len() as u64;
            live.insert(jid, record);
            by_key.insert(k, jid);
            recovered.push(Recovered { jid, key, value });
        }
        recovered.sort_by_key(|r| r.jid);
        let journal = Arc::new(Journal {
            path: path.to_path_buf(),
            sync,
            file: Mutex::new(file),
            log: Mutex::new(Log {
                buf: Vec::new(),
                end: file_len,
                written: file_len,
                synced: file_len,
                leading: false,
                broken: None,
                file_len,
                next_jid,
                live,
                live_bytes,
                by_key,
            }),
            turn: Condvar::new(),
            _types: std::marker::PhantomData,
        });
        if let JournalSync::Every(every) = sync {
            let weak = Arc::downgrade(&journal);
            let every = every.max(Duration::from_millis(1));
            std::thread::Builder::new()
                .name("stratacache-journal-sync".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(every);
                        let Some(j) = weak.upgrade() else { return };
                        j.sync_now();
                    }
                })
                .map_err(|e| format!("cannot start the journal's sync thread: {e}"))?;
        }
        Ok((journal, recovered))
    }

    fn compacting(path: &Path) -> PathBuf {
        let mut p = path.as_os_str().to_owned();
        p.push(".compacting");
        PathBuf::from(p)
    }

    /// Reads the header and the records: how many bytes are good, and the records with their
    /// payloads. A torn tail ends the good bytes; corruption is an error.
    #[allow(clippy::type_complexity)]
    fn scan(bytes: &[u8]) -> Result<(usize, Vec<(Vec<u8>, Record<K, V>)>), String> {
        if bytes.len() < HEADER {
            // Empty, or a header cut short by a crash at creation: nothing was ever accepted.
            if bytes.iter().all(|&b| b == 0) || MAGIC.starts_with(&bytes[..bytes.len().min(8)]) {
                return Ok((0, Vec::new()));
            }
            return Err("not a stratacache journal (no header)".into());
        }
        if &bytes[..8] != MAGIC {
            return Err("not a stratacache journal (bad magic at offset 0)".into());
        }
        let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
        if version != JOURNAL_FORMAT_VERSION {
            return Err(format!(
                "format version {version}, but this build reads version {JOURNAL_FORMAT_VERSION} \
                 (a journal written by a newer stratacache? replay it with that version)"
            ));
        }
        let mut at = HEADER;
        let mut records = Vec::new();
        while at < bytes.len() {
            let rest = &bytes[at..];
            if rest.iter().all(|&b| b == 0) || rest.len() < RECORD_HEADER {
                // Torn: a record header cut short, or space the file system allocated and
                // never wrote.
                break;
            }
            let len_bytes: [u8; 4] = rest[..4].try_into().expect("4 bytes");
            let len = u32::from_le_bytes(len_bytes);
            let sum = u32::from_le_bytes(rest[4..8].try_into().expect("4 bytes"));
            if len > MAX_RECORD {
                return Err(format!("corrupt record at offset {at}: length {len}"));
            }
            let end = RECORD_HEADER + len as usize;
            if end > rest.len() {
                // Cut short by the end of the file: the last append did not finish.
                break;
            }
            let payload = &rest[RECORD_HEADER..end];
            if crc(&len_bytes, payload) != sum {
                // A whole record that does not check out, even the last one: an append that
                // was cut short never is whole, so this is damage, not a crash.
                return Err(format!("corrupt record at offset {at}: checksum mismatch"));
            }
            let record: Record<K, V> = postcard::from_bytes(payload)
                .map_err(|e| format!("corrupt record at offset {at}: {e}"))?;
            records.push((payload.to_vec(), record));
            at += end;
        }
        Ok((at.min(bytes.len()), records))
    }

    /// Appends `record` and returns once it is written to the OS, and with `want_sync` also
    /// synced, leading a group commit or following one.
    fn push<'a>(
        &'a self,
        mut log: MutexGuard<'a, Log>,
        record: &[u8],
        want_sync: bool,
    ) -> Result<(), String> {
        log.buf.extend_from_slice(record);
        log.end += record.len() as u64;
        let mine = log.end;
        loop {
            if let Some(e) = &log.broken {
                return Err(e.clone());
            }
            if log.written >= mine && (!want_sync || log.synced >= mine) {
                return Ok(());
            }
            if log.leading {
                self.turn.wait(&mut log);
                continue;
            }
            log = self.lead(log, want_sync);
        }
    }

    /// Writes (and with `sync`, syncs) everything buffered, as the leader: the log's lock is
    /// released meanwhile, so that others can buffer behind.
    fn lead<'a>(&'a self, mut log: MutexGuard<'a, Log>, sync: bool) -> MutexGuard<'a, Log> {
        log.leading = true;
        let buf = std::mem::take(&mut log.buf);
        let upto = log.end;
        drop(log);
        let r = {
            let mut file = self.file.lock();
            file.write_all(&buf)
                .and_then(|()| if sync { file.sync_data() } else { Ok(()) })
        };
        let mut log = self.log.lock();
        log.leading = false;
        match r {
            Ok(()) => {
                log.written = upto;
                log.file_len += buf.len() as u64;
                if sync {
                    log.synced = upto;
                }
            }
            Err(e) => {
                log.broken = Some(format!(
                    "the journal {} failed: {e} (writes are refused until the policy is rebuilt)",
                    self.path.display()
                ));
            }
        }
        self.turn.notify_all();
        log
    }

    /// Syncs what is written and not yet synced (the `Every` thread).
    fn sync_now(&self) {
        let mut log = self.log.lock();
        while log.leading {
            self.turn.wait(&mut log);
        }
        if log.broken.is_none() && (log.synced < log.end) {
            drop(self.lead(log, true));
        }
    }

    /// Rewrites the journal with its live records only, if it has grown well past them.
    fn maybe_compact(&self, mut log: MutexGuard<'_, Log>) {
        if log.file_len + log.buf.len() as u64 <= COMPACT_MIN.max(4 * log.live_bytes) {
            return;
        }
        while log.leading {
            self.turn.wait(&mut log);
        }
        if log.broken.is_some() {
            return;
        }
        // Lead: nobody writes meanwhile; what is buffered is covered by the live set (writes)
        // or needs no keeping (settlements), so the buffer is dropped into the new file.
        log.leading = true;
        let mut image = Vec::with_capacity(HEADER + log.live_bytes as usize);
        image.extend_from_slice(&header());
        for record in log.live.values() {
            image.extend_from_slice(record);
        }
        log.buf.clear();
        let upto = log.end;
        drop(log);
        let tmp = Self::compacting(&self.path);
        let r = (|| -> io::Result<File> {
            let mut f = File::create(&tmp)?;
            f.write_all(&image)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &self.path)?;
            sync_dir(&self.path)?;
            f.try_lock().map_err(io::Error::other)?;
            Ok(f)
        })();
        let mut log = self.log.lock();
        log.leading = false;
        match r {
            Ok(f) => {
                *self.file.lock() = f;
                log.file_len = image.len() as u64;
                log.written = upto;
                log.synced = upto;
            }
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                log.broken = Some(format!(
                    "compacting the journal {} failed: {e}",
                    self.path.display()
                ));
            }
        }
        self.turn.notify_all();
    }
}

impl<K, V> Journaling<K, V> for Journal<K, V>
where
    K: Serialize + DeserializeOwned + Hash + Eq + Clone + Send + Sync + 'static,
    V: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
{
    fn append(&self, key: &K, value: Option<&V>) -> Result<u64, String> {
        let k = crate::store::encode(key).map_err(|e| format!("the key does not encode: {e}"))?;
        let mut log = self.log.lock();
        let jid = log.next_jid;
        let payload = postcard::to_stdvec(&RecordRef::Write { jid, key, value })
            .map_err(|e| format!("the write does not encode: {e}"))?;
        if payload.len() > MAX_RECORD as usize {
            return Err(format!(
                "the write is too large for the journal ({} bytes)",
                payload.len()
            ));
        }
        log.next_jid += 1;
        let record = frame(&payload);
        let superseded = log.by_key.insert(k, jid);
        if let Some(r) = superseded.and_then(|old| log.live.remove(&old)) {
            log.live_bytes -= r.len() as u64;
        }
        log.live_bytes += record.len() as u64;
        log.live.insert(jid, record.clone());
        self.push(log, &record, self.sync == JournalSync::Always)?;
        // Compaction runs here, on a writer (a thread that may block, the blocking pool for the
        // async policy), never on the flusher, which may be a task on a runtime.
        self.maybe_compact(self.log.lock());
        Ok(jid)
    }

    fn settle(&self, done: &[(K, u64)]) {
        if done.is_empty() {
            return;
        }
        let jids: Vec<u64> = done.iter().map(|(_, j)| *j).collect();
        let record: RecordRef<'_, K, V> = RecordRef::Done { jids: &jids };
        let Ok(payload) = postcard::to_stdvec(&record) else {
            return;
        };
        let mut log = self.log.lock();
        for (key, jid) in done {
            if let Some(r) = log.live.remove(jid) {
                log.live_bytes -= r.len() as u64;
            }
            if let Ok(k) = crate::store::encode(key)
                && log.by_key.get(&k) == Some(jid)
            {
                log.by_key.remove(&k);
            }
        }
        // Buffered, not waited for (the flusher, which settles, may be a task on a runtime): the
        // next append writes it, or the drop of the journal. Should it be lost, the writes are
        // replayed once more, which at-least-once delivery allows.
        let record = frame(&payload);
        log.buf.extend_from_slice(&record);
        log.end += record.len() as u64;
    }
}

impl<K, V> Drop for Journal<K, V> {
    /// Writes what is still buffered (settlements), so that a clean restart replays nothing
    /// the store already has.
    fn drop(&mut self) {
        let log = self.log.get_mut();
        if log.broken.is_none() && !log.buf.is_empty() {
            let _ = self.file.get_mut().write_all(&log.buf);
        }
    }
}

#[cfg(all(test, not(feature = "shuttle")))]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    type J = Journal<u32, String>;

    /// A path no other test uses; removed when dropped.
    struct Temp(PathBuf);
    impl Temp {
        fn new() -> Self {
            static N: AtomicU64 = AtomicU64::new(0);
            let n = N.fetch_add(1, Ordering::Relaxed);
            let p = std::env::temp_dir()
                .join(format!("stratacache-journal-{}-{n}", std::process::id()));
            let _ = std::fs::remove_file(&p);
            Temp(p)
        }
    }
    impl Drop for Temp {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
            let _ = std::fs::remove_file(J::compacting(&self.0));
        }
    }

    type Writes = Vec<(u32, Option<String>)>;

    fn open(t: &Temp) -> Result<(Arc<J>, Writes), String> {
        J::open(&t.0, JournalSync::Always)
            .map(|(j, r)| (j, r.into_iter().map(|r| (r.key, r.value)).collect()))
    }

    fn put(j: &J, k: u32, v: &str) -> u64 {
        j.append(&k, Some(&v.to_string())).unwrap()
    }

    /// Writes two keys (one twice), settles one, and returns the file's length after each
    /// record.
    fn sample(t: &Temp) -> Vec<u64> {
        let (j, recovered) = open(t).unwrap();
        assert!(recovered.is_empty());
        let mut ends = vec![std::fs::metadata(&t.0).unwrap().len()];
        let a = put(&j, 1, "a");
        ends.push(std::fs::metadata(&t.0).unwrap().len());
        put(&j, 2, "b");
        ends.push(std::fs::metadata(&t.0).unwrap().len());
        put(&j, 2, "c");
        ends.push(std::fs::metadata(&t.0).unwrap().len());
        j.settle(&[(1, a)]);
        drop(j); // writes the buffered settlement
        ends.push(std::fs::metadata(&t.0).unwrap().len());
        ends
    }

    #[test]
    fn unsettled_writes_come_back_last_per_key_in_order() {
        let t = Temp::new();
        sample(&t);
        let (j, recovered) = open(&t).unwrap();
        assert_eq!(recovered, vec![(2, Some("c".to_string()))]);
        // Numbers go on after the ones in the file.
        let d = j.append(&3, None).unwrap();
        assert_eq!(d, 4);
        drop(j);
        let (_, recovered) = open(&t).unwrap();
        assert_eq!(recovered, vec![(2, Some("c".into())), (3, None)]);
    }

    #[test]
    fn a_torn_tail_is_cut_off() {
        let t = Temp::new();
        let ends = sample(&t);
        // The crash came in the middle of the third write.
        let f = OpenOptions::new().write(true).open(&t.0).unwrap();
        f.set_len(ends[3] - 3).unwrap();
        drop(f);
        let (_, recovered) = open(&t).unwrap();
        assert_eq!(
            recovered,
            vec![(1, Some("a".into())), (2, Some("b".into()))],
            "the torn write is gone, the whole ones are back"
        );
        assert_eq!(
            std::fs::metadata(&t.0).unwrap().len(),
            ends[2],
            "cut at the tear"
        );
        // A header cut short at its length field is torn too.
        let f = OpenOptions::new().write(true).open(&t.0).unwrap();
        f.set_len(ends[2] + 3).unwrap();
        drop(f);
        assert_eq!(open(&t).unwrap().1.len(), 2);
    }

    #[test]
    fn a_tail_of_zeros_is_cut_off() {
        let t = Temp::new();
        let ends = sample(&t);
        let f = OpenOptions::new().write(true).open(&t.0).unwrap();
        f.set_len(ends[4] + 4096).unwrap();
        drop(f);
        assert_eq!(open(&t).unwrap().1, vec![(2, Some("c".into()))]);
        assert_eq!(std::fs::metadata(&t.0).unwrap().len(), ends[4]);
    }

    fn flip(t: &Temp, at: u64) {
        let mut bytes = std::fs::read(&t.0).unwrap();
        bytes[at as usize] ^= 0x10;
        std::fs::write(&t.0, bytes).unwrap();
    }

    #[test]
    fn a_flipped_bit_is_an_error_naming_the_file_and_the_offset() {
        for (record, name) in [(1, "a middle record"), (4, "the last record")] {
            let t = Temp::new();
            let ends = sample(&t);
            let start = ends[record - 1];
            flip(&t, start + RECORD_HEADER as u64 + 1);
            let err = open(&t).err().unwrap_or_else(|| panic!("{name}: no error"));
            assert!(
                err.contains(&t.0.display().to_string())
                    && err.contains(&format!("offset {start}")),
                "{name}: {err}"
            );
        }
        // In a length field: the record claims more than it has, inside the file.
        let t = Temp::new();
        let ends = sample(&t);
        flip(&t, ends[1]);
        assert!(open(&t).is_err());
    }

    #[test]
    fn a_zero_length_file_is_a_new_journal() {
        let t = Temp::new();
        std::fs::write(&t.0, b"").unwrap();
        let (j, recovered) = open(&t).unwrap();
        assert!(recovered.is_empty());
        put(&j, 1, "a");
        drop(j);
        assert_eq!(open(&t).unwrap().1.len(), 1);
    }

    #[test]
    fn a_newer_format_or_another_file_is_refused() {
        let t = Temp::new();
        sample(&t);
        let mut bytes = std::fs::read(&t.0).unwrap();
        bytes[8..12].copy_from_slice(&(JOURNAL_FORMAT_VERSION + 1).to_le_bytes());
        std::fs::write(&t.0, &bytes).unwrap();
        let err = open(&t).err().unwrap();
        assert!(err.contains("format version 2"), "{err}");
        std::fs::write(&t.0, b"{\"not\": \"a journal\"}").unwrap();
        assert!(
            open(&t)
                .err()
                .unwrap()
                .contains("not a stratacache journal")
        );
    }

    #[test]
    fn one_policy_at_a_time() {
        let t = Temp::new();
        let (_j, _) = open(&t).unwrap();
        assert!(open(&t).err().unwrap().contains("in use"));
    }

    #[test]
    fn compaction_keeps_the_file_bounded_by_the_live_writes() {
        let t = Temp::new();
        let (j, _) = open(&t).unwrap();
        let big = "x".repeat(1000);
        let mut peak = 0;
        for round in 0..5_000u32 {
            let k = round % 10;
            let jid = j.append(&k, Some(&big)).unwrap();
            if round % 3 != 0 {
                j.settle(&[(k, jid)]);
            }
            peak = peak.max(std::fs::metadata(&t.0).unwrap().len());
        }
        assert!(peak < 2 * COMPACT_MIN, "the file grew to {peak} bytes");
        // The last write of each key whose last write was not settled is still there.
        let expected: Vec<u32> = (4_990..5_000u32)
            .filter(|r| r % 3 == 0)
            .map(|r| r % 10)
            .collect();
        drop(j);
        let (_, recovered) = open(&t).unwrap();
        let mut keys: Vec<u32> = recovered.iter().map(|(k, _)| *k).collect();
        keys.sort_unstable();
        let mut want = expected;
        want.sort_unstable();
        assert_eq!(keys, want);
    }

    #[test]
    fn concurrent_writers_share_syncs() {
        let t = Temp::new();
        let (j, _) = open(&t).unwrap();
        std::thread::scope(|s| {
            for w in 0..8u32 {
                let j = &j;
                s.spawn(move || {
                    for i in 0..200u32 {
                        j.append(&(w * 1000 + i), Some(&"v".to_string())).unwrap();
                    }
                });
            }
        });
        drop(j);
        assert_eq!(open(&t).unwrap().1.len(), 1600);
    }
}
