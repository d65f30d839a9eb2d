//! # sealpost-sqlite
//!
//! A [`Store`] for [`sealpost`] on SQLite: the local identity, prekeys, per-peer session
//! records and sender-key records, each sealed under a [`StorageKey`] and written with
//! compare-and-swap on its revision. Several processes (gateways) can share one database file:
//! a write that started from a stale revision fails with [`StoreError::Conflict`] instead of
//! overwriting, so no two processes ever advance one session from the same revision (which
//! would reuse message keys).
//!
//! One table holds everything:
//!
//! ```sql
//! CREATE TABLE sealpost_records (
//!     kind     INTEGER NOT NULL,  -- record kind (identity, prekeys, session, sender keys)
//!     key      BLOB    NOT NULL,  -- peer identity, group id || sender, or empty
//!     revision INTEGER NOT NULL,
//!     bytes    BLOB    NOT NULL,  -- sealed record
//!     PRIMARY KEY (kind, key)
//! ) WITHOUT ROWID;
//! ```
//!
//! A write is `UPDATE ... SET bytes = ?, revision = ? WHERE kind = ? AND key = ? AND
//! revision = ?` (an `INSERT` that must not find the key for a new record), and succeeds only
//! if it changed exactly one row. A batch (a session and the prekeys after a prekey message)
//! runs in one `BEGIN IMMEDIATE` transaction. The database runs in WAL mode with
//! `synchronous = FULL`, so a write that returned `Ok` survives a power loss: a session record
//! that rolled back would make the next send reuse message keys.
//!
//! ```
//! use sealpost::store::{Store, StoreError};
//! use sealpost::{IdentityKeyPair, PreKeys, StorageKey};
//! use sealpost_sqlite::SqliteStore;
//!
//! let mut rng = rand::rng();
//! let dir = tempfile::tempdir()?;
//! let key = StorageKey::generate(&mut rng);
//! let me = IdentityKeyPair::generate(&mut rng);
//! let mut prekeys = PreKeys::new();
//! prekeys.generate_signed_prekey(&me, 0, &mut rng)?;
//! {
//!     let store = SqliteStore::open(dir.path().join("keys.db"), key.clone())?;
//!     store.create_identity(&me)?;
//!     store.put_prekeys(None, &prekeys)?;
//! }
//! // After a restart, everything is there; a stale write is refused.
//! let store = SqliteStore::open(dir.path().join("keys.db"), key)?;
//! assert_eq!(store.load_identity()?.ok_or("missing")?.public_key(), me.public_key());
//! let mut fresh = store.load_prekeys()?.ok_or("missing")?;
//! fresh.generate_one_time_prekeys(3, &mut rng)?;
//! store.put_prekeys(Some(prekeys.revision()), &fresh)?;
//! assert!(matches!(
//!     store.put_prekeys(Some(prekeys.revision()), &fresh),
//!     Err(StoreError::Conflict { .. })
//! ));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs, unreachable_pub)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use sealpost::StorageKey;
use sealpost::store::{SealedEntry, Slot, SlotWrite, Store, StoreError};

pub use sealpost::store;

/// Schema version kept in `PRAGMA user_version`.
const SCHEMA_VERSION: i64 = 1;

/// How long a writer waits for another connection's transaction before failing.
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS sealpost_records (
    kind     INTEGER NOT NULL,
    key      BLOB    NOT NULL,
    revision INTEGER NOT NULL,
    bytes    BLOB    NOT NULL,
    PRIMARY KEY (kind, key)
) WITHOUT ROWID";

const SELECT: &str = "SELECT revision, bytes FROM sealpost_records WHERE kind = ?1 AND key = ?2";
const SELECT_REVISION: &str = "SELECT revision FROM sealpost_records WHERE kind = ?1 AND key = ?2";
const INSERT: &str = "INSERT INTO sealpost_records (kind, key, revision, bytes)
    VALUES (?1, ?2, ?3, ?4) ON CONFLICT (kind, key) DO NOTHING";
const UPDATE: &str = "UPDATE sealpost_records SET bytes = ?1, revision = ?2
    WHERE kind = ?3 AND key = ?4 AND revision = ?5";

fn backend<E: std::error::Error + Send + Sync + 'static>(e: E) -> StoreError {
    StoreError::Backend(Box::new(e))
}

/// Revisions are `u64` in sealpost and `INTEGER` (`i64`) in SQLite.
fn to_sql(revision: u64) -> Result<i64, StoreError> {
    i64::try_from(revision)
        .map_err(|_| StoreError::Backend("revision exceeds SQLite's INTEGER range".into()))
}

/// A negative revision can only come from an edit outside the store.
fn from_sql(revision: i64) -> Result<u64, StoreError> {
    u64::try_from(revision).map_err(|_| StoreError::Mismatch)
}

/// A [`Store`] on one SQLite database file, shareable between threads (one connection behind
/// a mutex) and between processes (one `SqliteStore` each, on the same file).
pub struct SqliteStore {
    key: StorageKey,
    path: Option<PathBuf>,
    conn: Mutex<Connection>,
}

impl SqliteStore {
    /// Opens (or creates) the database at `path`, switches it to WAL mode and creates the
    /// table if needed. Records are sealed under `key`.
    ///
    /// # Errors
    /// [`StoreError::Backend`] if the file cannot be opened, or holds a schema version this
    /// crate does not know.
    pub fn open(path: impl AsRef<Path>, key: StorageKey) -> Result<Self, StoreError> {
        let path = path.as_ref();
        let conn = Connection::open(path).map_err(backend)?;
        Self::init(conn, key, Some(path.to_path_buf()))
    }

    /// A private in-memory database (for tests): nothing survives the store.
    ///
    /// # Errors
    /// [`StoreError::Backend`].
    pub fn open_in_memory(key: StorageKey) -> Result<Self, StoreError> {
        let conn = Connection::open_in_memory().map_err(backend)?;
        Self::init(conn, key, None)
    }

    fn init(
        mut conn: Connection,
        key: StorageKey,
        path: Option<PathBuf>,
    ) -> Result<Self, StoreError> {
        conn.busy_timeout(DEFAULT_BUSY_TIMEOUT).map_err(backend)?;
        // "memory" for in-memory databases, which have no WAL.
        let _mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(backend)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(backend)?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(backend)?;
        let version: i64 = tx
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(backend)?;
        match version {
            0 => {
                tx.execute_batch(SCHEMA).map_err(backend)?;
                tx.pragma_update(None, "user_version", SCHEMA_VERSION)
                    .map_err(backend)?;
            }
            SCHEMA_VERSION => {}
            other => {
                return Err(StoreError::Backend(
                    format!("unknown sealpost-sqlite schema version {other}").into(),
                ));
            }
        }
        tx.commit().map_err(backend)?;
        Ok(SqliteStore {
            key,
            path,
            conn: Mutex::new(conn),
        })
    }

    /// How long a write waits for another connection's transaction before it fails with
    /// [`StoreError::Backend`] (default [`DEFAULT_BUSY_TIMEOUT`]).
    ///
    /// # Errors
    /// [`StoreError::Backend`].
    pub fn set_busy_timeout(&self, timeout: Duration) -> Result<(), StoreError> {
        self.lock().busy_timeout(timeout).map_err(backend)
    }

    /// The database file, or `None` for an in-memory store.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Number of stored records of every kind.
    ///
    /// # Errors
    /// [`StoreError::Backend`].
    pub fn count(&self) -> Result<u64, StoreError> {
        let n: i64 = self
            .lock()
            .query_row("SELECT COUNT(*) FROM sealpost_records", [], |r| r.get(0))
            .map_err(backend)?;
        from_sql(n)
    }

    /// The connection, even if a thread panicked while holding it: an unfinished transaction
    /// rolls back when it is dropped, so the connection is left consistent.
    fn lock(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Store for SqliteStore {
    fn storage_key(&self) -> &StorageKey {
        &self.key
    }

    fn load_sealed(&self, slot: &Slot<'_>) -> Result<Option<SealedEntry>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached(SELECT).map_err(backend)?;
        let row = stmt
            .query_row(params![slot.kind(), &*slot.key()], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))
            })
            .optional()
            .map_err(backend)?;
        row.map(|(revision, sealed)| {
            Ok(SealedEntry {
                revision: from_sql(revision)?,
                sealed,
            })
        })
        .transpose()
    }

    fn swap_sealed(&self, writes: &[SlotWrite<'_>]) -> Result<(), StoreError> {
        let mut conn = self.lock();
        // IMMEDIATE takes the write lock up front: two writers never both read and then
        // deadlock upgrading, and the busy timeout applies while waiting for it.
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(backend)?;
        for w in writes {
            let kind = w.slot.kind();
            let key = w.slot.key();
            let revision = to_sql(w.entry.revision)?;
            let changed = match w.expected {
                None => tx
                    .prepare_cached(INSERT)
                    .and_then(|mut s| s.execute(params![kind, &*key, revision, &w.entry.sealed]))
                    .map_err(backend)?,
                Some(expected) => tx
                    .prepare_cached(UPDATE)
                    .and_then(|mut s| {
                        s.execute(params![
                            &w.entry.sealed,
                            revision,
                            kind,
                            &*key,
                            to_sql(expected).unwrap_or(-1)
                        ])
                    })
                    .map_err(backend)?,
            };
            if changed != 1 {
                let current: Option<i64> = tx
                    .prepare_cached(SELECT_REVISION)
                    .and_then(|mut s| s.query_row(params![kind, &*key], |r| r.get(0)).optional())
                    .map_err(backend)?;
                // Dropping `tx` rolls back the writes before this one.
                return Err(StoreError::Conflict {
                    current: current.map(from_sql).transpose()?,
                });
            }
        }
        tx.commit().map_err(backend)
    }
}
