//! [`Table`]: how a SQL store reads and writes a table of the user's: three statements and the
//! mapping between keys, values, statement parameters and rows. One type serves every SQL
//! driver (SQLite, PostgreSQL); a driver only names its parameter and row types.

use std::error::Error;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

/// What a mapping function may fail with (a type that does not fit a column, an encoding error).
pub type MapError = Box<dyn Error + Send + Sync>;

/// A SQL driver's parameter and row types (implemented by the crate's driver markers, `Sqlite`
/// and `Postgres`).
pub trait Driver: 'static {
    /// A statement parameter, boxed (`dyn ToSql`).
    type Param: ?Sized + Send + Sync;
    /// A result row.
    type Row<'a>;
}

/// The parameters of one statement, in order (`?1`, `?2`… in SQLite, `$1`, `$2`… in
/// PostgreSQL). A [`Table`]'s key function pushes the key's columns; its value function pushes
/// the value's columns after them.
pub struct Params<D: Driver>(pub(crate) Vec<Box<D::Param>>);

impl<D: Driver> Params<D> {
    pub(crate) fn new() -> Self {
        Params(Vec::new())
    }

    /// How many parameters are pushed.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether none is.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

type KeyFn<K, D> = dyn Fn(&K, &mut Params<D>) -> Result<(), MapError> + Send + Sync;
type ValueFn<V, D> = dyn Fn(&V, &mut Params<D>) -> Result<(), MapError> + Send + Sync;
type RowFn<V, D> = dyn for<'a> Fn(&<D as Driver>::Row<'a>) -> Result<V, MapError> + Send + Sync;

/// A table of the user's, as a SQL store reads and writes it: the statements that select a row
/// by key, upsert it and delete it, and the functions that turn a key into parameters, a value
/// into parameters, and a row into a value. The key's parameters come first in every
/// statement, the value's after them in the upsert.
///
/// `SqliteTable` and `PgTable` (features `sqlite`, `postgres`) name it for each driver; their
/// `kv` constructors describe the stores' own key-value layout with the same type.
pub struct Table<K, V, D: Driver> {
    pub(crate) select: String,
    pub(crate) upsert: String,
    pub(crate) delete: String,
    pub(crate) create: Option<String>,
    pub(crate) count: Option<String>,
    key: Arc<KeyFn<K, D>>,
    value: Arc<ValueFn<V, D>>,
    row: Arc<RowFn<V, D>>,
    _driver: PhantomData<fn() -> D>,
}

impl<K, V, D: Driver> Table<K, V, D> {
    /// A table read by `select` (key parameters; returns at most one row, which `row` turns
    /// into a value), written by `upsert` (key parameters, then value parameters) and deleted
    /// from by `delete` (key parameters). A `select` that returns more than one row is an
    /// error, not a silent pick.
    pub fn new(
        select: impl Into<String>,
        upsert: impl Into<String>,
        delete: impl Into<String>,
        key: impl Fn(&K, &mut Params<D>) -> Result<(), MapError> + Send + Sync + 'static,
        value: impl Fn(&V, &mut Params<D>) -> Result<(), MapError> + Send + Sync + 'static,
        row: impl for<'a> Fn(&D::Row<'a>) -> Result<V, MapError> + Send + Sync + 'static,
    ) -> Self {
        Table {
            select: select.into(),
            upsert: upsert.into(),
            delete: delete.into(),
            create: None,
            count: None,
            key: Arc::new(key),
            value: Arc::new(value),
            row: Arc::new(row),
            _driver: PhantomData,
        }
    }

    /// A statement run once when the store opens, on its first connection (`CREATE TABLE IF NOT
    /// EXISTS …`).
    #[must_use]
    pub fn create(mut self, statement: impl Into<String>) -> Self {
        self.create = Some(statement.into());
        self
    }

    /// A statement that counts the rows (`SELECT COUNT(*) FROM …`), for the store's `len`.
    #[must_use]
    pub fn count(mut self, statement: impl Into<String>) -> Self {
        self.count = Some(statement.into());
        self
    }

    pub(crate) fn key_params(&self, key: &K) -> Result<Params<D>, MapError> {
        let mut p = Params::new();
        (self.key)(key, &mut p)?;
        Ok(p)
    }

    pub(crate) fn upsert_params(&self, key: &K, value: &V) -> Result<Params<D>, MapError> {
        let mut p = self.key_params(key)?;
        (self.value)(value, &mut p)?;
        Ok(p)
    }

    pub(crate) fn value_of(&self, row: &D::Row<'_>) -> Result<V, MapError> {
        (self.row)(row)
    }
}

impl<K, V, D: Driver> Clone for Table<K, V, D> {
    fn clone(&self) -> Self {
        Table {
            select: self.select.clone(),
            upsert: self.upsert.clone(),
            delete: self.delete.clone(),
            create: self.create.clone(),
            count: self.count.clone(),
            key: Arc::clone(&self.key),
            value: Arc::clone(&self.value),
            row: Arc::clone(&self.row),
            _driver: PhantomData,
        }
    }
}

impl<K, V, D: Driver> fmt::Debug for Table<K, V, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Table")
            .field("select", &self.select)
            .field("upsert", &self.upsert)
            .field("delete", &self.delete)
            .finish_non_exhaustive()
    }
}

/// The stores' own key-value layout on one driver: the key and the value encoded with serde
/// through postcard, bound by `push` and read back from the row's first column by `bytes`.
/// `sql` holds the select, upsert, delete, create and count statements.
pub(crate) fn postcard_kv<K, V, D>(
    [select, upsert, delete, create, count]: [String; 5],
    push: fn(&mut Params<D>, Vec<u8>),
    bytes: for<'a> fn(&D::Row<'a>) -> Result<Vec<u8>, MapError>,
) -> Table<K, V, D>
where
    K: serde::Serialize + 'static,
    V: serde::Serialize + serde::de::DeserializeOwned + 'static,
    D: Driver,
{
    Table::new(
        select,
        upsert,
        delete,
        move |k: &K, p| {
            push(p, super::codec::encode(k)?);
            Ok(())
        },
        move |v: &V, p| {
            push(p, super::codec::encode(v)?);
            Ok(())
        },
        move |row| Ok(super::codec::decode(&bytes(row)?)?),
    )
    .create(create)
    .count(count)
}

/// Checks a table name the crate splices into its own statements (the `kv` layouts).
pub(crate) fn valid_name(table: &str) -> bool {
    table
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && table.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}
