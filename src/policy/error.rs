//! [`PolicyError`]: the one error type of the write policies.

use std::any::Any;
use std::error::Error;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// What went wrong in a policy call; see [`PolicyError::kind`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The store returned an error ([`Error::source`] is the store's error).
    Store,
    /// The store (or a loader) panicked; the panic was caught.
    Panicked,
    /// The store did not answer within the policy's timeout.
    Timeout,
    /// The write-behind queue was full and the policy is set to `WhenFull::Error`.
    QueueFull,
    /// The write-behind policy was shut down.
    Closed,
    /// Writes accepted by write-behind failed after every retry (reported by `flush`).
    WriteFailed,
    /// Write-behind's journal could not make the write durable (an I/O error, or a key or value
    /// that does not encode); the write was not taken, and the cache is unchanged.
    Journal,
}

/// The error of a policy call: its kind, and the store's error as its source where there is one.
/// Cheap to clone, so that one failed load can be handed to every caller that waited for it.
///
/// # Examples
///
/// ```
/// use stratacache::{Cache, CacheAside, ErrorKind, MemoryStore};
/// let store = MemoryStore::<u32, u32>::new();
/// store.set_down(true);
/// let policy = CacheAside::new(Cache::new(10), store);
/// let err = policy.get(&1).unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::Store);
/// assert!(err.to_string().contains("injected failure"));
/// ```
#[derive(Clone)]
pub struct PolicyError {
    kind: ErrorKind,
    detail: Arc<str>,
    source: Option<Arc<dyn Error + Send + Sync>>,
}

impl PolicyError {
    pub(crate) fn new(kind: ErrorKind, detail: impl Into<Arc<str>>) -> Self {
        PolicyError {
            kind,
            detail: detail.into(),
            source: None,
        }
    }

    pub(crate) fn store(e: impl Error + Send + Sync + 'static) -> Self {
        PolicyError {
            kind: ErrorKind::Store,
            detail: e.to_string().into(),
            source: Some(Arc::new(e)),
        }
    }

    pub(crate) fn panicked(payload: &(dyn Any + Send)) -> Self {
        let msg = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a non-string panic payload".to_owned());
        PolicyError::new(ErrorKind::Panicked, msg)
    }

    pub(crate) fn timeout(after: Duration) -> Self {
        PolicyError::new(ErrorKind::Timeout, format!("{after:?}"))
    }

    /// What went wrong.
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The store's error, if this is one of type `E`.
    #[must_use]
    pub fn store_error<E: Error + 'static>(&self) -> Option<&E> {
        self.source.as_deref()?.downcast_ref::<E>()
    }
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = &self.detail;
        match self.kind {
            ErrorKind::Store => write!(f, "store error: {d}"),
            ErrorKind::Panicked => write!(f, "the store or loader panicked: {d}"),
            ErrorKind::Timeout => write!(f, "the store did not answer within {d}"),
            ErrorKind::QueueFull => {
                write!(f, "the write-behind queue is full ({d} pending writes)")
            }
            ErrorKind::Closed => write!(f, "the write-behind policy is shut down"),
            ErrorKind::WriteFailed => {
                write!(f, "write-behind writes failed after every retry: {d}")
            }
            ErrorKind::Journal => write!(f, "the write-behind journal refused the write: {d}"),
        }
    }
}

impl fmt::Debug for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PolicyError")
            .field("kind", &self.kind)
            .field("detail", &self.detail)
            .finish()
    }
}

impl Error for PolicyError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn Error + 'static))
    }
}
