//! [`AsyncStore`], the async twin of [`Store`](crate::Store), and [`Blocking`], which makes any
//! sync store an async one without blocking the runtime's threads.

use crate::{Store, WriteOp};
use std::error::Error;
use std::fmt;
use std::future::Future;
use std::panic;
use std::sync::Arc;

/// The database behind an async policy (feature `tokio`): [`Store`](crate::Store) with `async`
/// methods. Delivery is at least once, as for `Store`: a store must accept a repeated write.
///
/// A store over a sync client wraps it in [`Blocking`]; a store over an async client (sqlx,
/// tokio-postgres, redis-rs's async connections) implements this trait directly.
///
/// # Examples
///
/// ```
/// use std::collections::HashMap;
/// use std::convert::Infallible;
/// use tokio::sync::Mutex;
/// use stratacache::future::AsyncStore;
///
/// struct Map(Mutex<HashMap<u32, String>>);
///
/// impl AsyncStore<u32, String> for Map {
///     type Error = Infallible;
///     async fn load(&self, key: &u32) -> Result<Option<String>, Infallible> {
///         Ok(self.0.lock().await.get(key).cloned())
///     }
///     async fn write(&self, key: &u32, value: &String) -> Result<(), Infallible> {
///         self.0.lock().await.insert(*key, value.clone());
///         Ok(())
///     }
///     async fn delete(&self, key: &u32) -> Result<(), Infallible> {
///         self.0.lock().await.remove(key);
///         Ok(())
///     }
/// }
/// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// # rt.block_on(async {
/// let store = Map(Mutex::new(HashMap::new()));
/// store.write(&1, &"one".to_string()).await.unwrap();
/// assert_eq!(store.load(&1).await.unwrap().as_deref(), Some("one"));
/// # });
/// ```
pub trait AsyncStore<K, V>: Send + Sync + 'static {
    /// What a failed call returns.
    type Error: Error + Send + Sync + 'static;

    /// The value stored under `key`, or `None`.
    fn load(&self, key: &K) -> impl Future<Output = Result<Option<V>, Self::Error>> + Send;

    /// Stores `value` under `key` (insert or replace).
    fn write(&self, key: &K, value: &V) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Removes `key`; removing an absent key succeeds.
    fn delete(&self, key: &K) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Applies `ops` in order. Default: one by one, stopping at the first error. A store that
    /// can do better (one transaction, one pipeline) should.
    fn write_batch(
        &self,
        ops: &[WriteOp<K, V>],
    ) -> impl Future<Output = Result<(), Self::Error>> + Send
    where
        K: Sync,
        V: Sync,
    {
        async move {
            for op in ops {
                match op {
                    WriteOp::Put(k, v) => self.write(k, v).await?,
                    WriteOp::Delete(k) => self.delete(k).await?,
                }
            }
            Ok(())
        }
    }
}

/// A shared store is a store.
impl<K, V, S: AsyncStore<K, V>> AsyncStore<K, V> for Arc<S> {
    type Error = S::Error;
    fn load(&self, key: &K) -> impl Future<Output = Result<Option<V>, Self::Error>> + Send {
        (**self).load(key)
    }
    fn write(&self, key: &K, value: &V) -> impl Future<Output = Result<(), Self::Error>> + Send {
        (**self).write(key, value)
    }
    fn delete(&self, key: &K) -> impl Future<Output = Result<(), Self::Error>> + Send {
        (**self).delete(key)
    }
    fn write_batch(
        &self,
        ops: &[WriteOp<K, V>],
    ) -> impl Future<Output = Result<(), Self::Error>> + Send
    where
        K: Sync,
        V: Sync,
    {
        (**self).write_batch(ops)
    }
}

/// A sync [`Store`] as an [`AsyncStore`] (feature `tokio`): each call runs on tokio's blocking
/// thread pool (`spawn_blocking`), so a slow or blocking store never holds a runtime thread. A
/// panic in the store is resumed in the calling task (the policies turn it into an error).
///
/// # Examples
///
/// ```
/// use stratacache::future::{AsyncStore, Blocking};
/// use stratacache::MemoryStore;
/// # let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// # rt.block_on(async {
/// let store = Blocking::new(MemoryStore::new());
/// store.write(&1, &"one").await.unwrap();
/// assert_eq!(store.load(&1).await.unwrap(), Some("one"));
/// assert_eq!(store.inner().loads(), 1);
/// # });
/// ```
pub struct Blocking<S> {
    store: Arc<S>,
}

impl<S> Blocking<S> {
    /// Wraps `store`.
    pub fn new(store: S) -> Self {
        Blocking {
            store: Arc::new(store),
        }
    }

    /// The sync store.
    pub fn inner(&self) -> &S {
        &self.store
    }
}

impl<S> fmt::Debug for Blocking<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Blocking").finish_non_exhaustive()
    }
}

/// The error of a [`Blocking`] store.
#[derive(Debug)]
#[non_exhaustive]
pub enum BlockingError<E> {
    /// The store's own error.
    Store(E),
    /// The runtime shut down before the call ran.
    Cancelled,
}

impl<E: fmt::Display> fmt::Display for BlockingError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlockingError::Store(e) => e.fmt(f),
            BlockingError::Cancelled => f.write_str("the runtime shut down before the call ran"),
        }
    }
}

impl<E: Error + 'static> Error for BlockingError<E> {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            BlockingError::Store(e) => Some(e),
            BlockingError::Cancelled => None,
        }
    }
}

/// Runs `f` on the blocking pool; resumes its panic here.
async fn blocking<R, E>(
    f: impl FnOnce() -> Result<R, E> + Send + 'static,
) -> Result<R, BlockingError<E>>
where
    R: Send + 'static,
    E: Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(BlockingError::Store),
        Err(e) if e.is_panic() => panic::resume_unwind(e.into_panic()),
        Err(_) => Err(BlockingError::Cancelled),
    }
}

impl<K, V, S> AsyncStore<K, V> for Blocking<S>
where
    K: Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: Store<K, V> + 'static,
{
    type Error = BlockingError<S::Error>;

    fn load(&self, key: &K) -> impl Future<Output = Result<Option<V>, Self::Error>> + Send {
        let (s, k) = (self.store.clone(), key.clone());
        blocking(move || s.load(&k))
    }

    fn write(&self, key: &K, value: &V) -> impl Future<Output = Result<(), Self::Error>> + Send {
        let (s, k, v) = (self.store.clone(), key.clone(), value.clone());
        blocking(move || s.write(&k, &v))
    }

    fn delete(&self, key: &K) -> impl Future<Output = Result<(), Self::Error>> + Send {
        let (s, k) = (self.store.clone(), key.clone());
        blocking(move || s.delete(&k))
    }

    fn write_batch(
        &self,
        ops: &[WriteOp<K, V>],
    ) -> impl Future<Output = Result<(), Self::Error>> + Send
    where
        K: Sync,
        V: Sync,
    {
        let (s, ops) = (self.store.clone(), ops.to_vec());
        blocking(move || s.write_batch(&ops))
    }
}
