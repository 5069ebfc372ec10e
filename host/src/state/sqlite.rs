//! The embedded state store: one SQLite file in write-ahead-log mode.

mod live;
mod writer;

use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{
    Connection, OptionalExtension, Row, TransactionBehavior, named_params, params_from_iter,
};

use self::live::LiveRecords;
use self::writer::{ApplyError, Writer};
use super::{Durability, EnvironmentRecord, StateError, Store, Write, WriteStats, WriteTicket};
use crate::ids::{AdapterName, EnvironmentId, HostId};
use crate::model::{Lease, ListFilter, Status};

/// Schema migrations, in order. Migration `n` (counting from 1) takes the
/// database from `PRAGMA user_version` `n - 1` to `n`. Released migrations
/// are never edited: a schema change is a new entry.
const MIGRATIONS: &[&str] = &[r#"
CREATE TABLE host (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    host_id TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE environments (
    id TEXT PRIMARY KEY NOT NULL,
    adapter TEXT NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    tenant_id TEXT,
    namespace TEXT,
    run_id TEXT,
    request TEXT NOT NULL,
    request_digest TEXT NOT NULL,
    start_request TEXT,
    reservation TEXT,
    endpoints TEXT NOT NULL,
    metadata TEXT NOT NULL,
    lease_id TEXT NOT NULL,
    lease_acquired_at TEXT NOT NULL,
    lease_expires_at TEXT NOT NULL,
    lease_owner TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE INDEX environments_by_created_at ON environments (created_at);
CREATE INDEX environments_by_status ON environments (status, updated_at);
"#];

/// How long a write waits for another connection to the same file (another
/// envhost process, or `sqlite3` in a shell) before it fails as busy.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Inserts a record; a taken id changes nothing.
static INSERT_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO environments ({COLUMNS}) VALUES ({}) ON CONFLICT (id) DO NOTHING",
        placeholders()
    )
});

/// Replaces every column of the record whose id is `?1`. `id` is column 1,
/// so assigning it is a no-op.
static UPDATE_SQL: LazyLock<String> = LazyLock::new(|| {
    let assignments = COLUMNS
        .split(", ")
        .enumerate()
        .map(|(index, column)| format!("{column} = ?{}", index + 1))
        .collect::<Vec<_>>()
        .join(", ");
    format!("UPDATE environments SET {assignments} WHERE id = ?1")
});

/// Read connections kept open between reads; more are opened when more
/// reads run at once, and closed after.
const MAX_IDLE_READERS: usize = 8;

/// Columns of `environments` in the order [`bind_record`] and
/// [`decode_record`] use.
const COLUMNS: &str = "id, adapter, kind, status, reason, tenant_id, namespace, run_id, \
     request, request_digest, start_request, reservation, endpoints, metadata, \
     lease_id, lease_acquired_at, lease_expires_at, lease_owner, created_at, updated_at";

/// [`Store`] in one SQLite file, for a single host.
///
/// The file is in WAL mode with `synchronous=FULL`, so every committed write
/// is on disk before its ticket resolves. A thread of its own writes records;
/// writes that arrive while a commit runs are committed together by the next
/// one (see [`writer`]). Live records are also kept in memory (see [`live`]),
/// so reading one costs no I/O. Other reads use connections of their own,
/// which in WAL mode do not wait for a commit's fsync. Other processes on the same file wait up
/// to 5 seconds for a lock.
pub struct SqliteStore {
    path: PathBuf,
    /// The connection of migrations, the host id and purges: rare writes
    /// that need their result, outside the writer thread.
    connection: Mutex<Connection>,
    writer: Writer,
    live: Arc<LiveRecords>,
    readers: Mutex<Vec<Connection>>,
    host_id: OnceLock<HostId>,
}

/// A read connection borrowed from the store's pool, returned on drop.
struct Reader<'a> {
    store: &'a SqliteStore,
    connection: Option<Connection>,
}

impl Deref for Reader<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        self.connection
            .as_ref()
            .expect("the connection is only taken on drop")
    }
}

impl Drop for Reader<'_> {
    fn drop(&mut self) {
        if let Some(connection) = self.connection.take() {
            let mut readers = self
                .store
                .readers
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if readers.len() < MAX_IDLE_READERS {
                readers.push(connection);
            }
        }
    }
}

impl SqliteStore {
    /// Opens the database at `path`, creating it and its directory when
    /// missing, and applies the migrations it lacks.
    ///
    /// # Errors
    ///
    /// Fails when the directory can not be created, the file is not a SQLite
    /// database, WAL mode is not available, the file's schema is newer than
    /// this build supports (`StateError::UnsupportedSchema`), or a migration
    /// fails.
    pub fn open(path: &Path) -> Result<Self, StateError> {
        Self::open_with(path, Durability::Full)
    }

    /// Opens the database at `path` like [`open`](Self::open), with commits
    /// as durable as `durability` requests.
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open).
    pub fn open_with(path: &Path, durability: Durability) -> Result<Self, StateError> {
        if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|error| StateError::CreateDir {
                path: dir.to_owned(),
                error,
            })?;
        }

        let database_error = |operation: &str| {
            let path = path.to_owned();
            let operation = operation.to_owned();
            move |error| StateError::Database {
                path,
                operation,
                error,
            }
        };
        let mut connection = Connection::open(path).map_err(database_error("open"))?;
        connection
            .busy_timeout(BUSY_TIMEOUT)
            .map_err(database_error("set the busy timeout"))?;
        configure_durability(&connection, path, durability)?;
        migrate(&mut connection, path)?;

        let writing = Connection::open(path).map_err(database_error("open"))?;
        writing
            .busy_timeout(BUSY_TIMEOUT)
            .map_err(database_error("set the busy timeout"))?;
        configure_durability(&writing, path, durability)?;
        let live = Arc::new(LiveRecords::default());
        let writer =
            Writer::start(writing, path.to_owned(), apply, Arc::clone(&live)).map_err(|error| {
                StateError::WriterThread {
                    path: path.to_owned(),
                    error,
                }
            })?;

        let store = Self {
            path: path.to_owned(),
            connection: Mutex::new(connection),
            writer,
            live,
            readers: Mutex::new(Vec::new()),
            host_id: OnceLock::new(),
        };
        // Nothing writes before `open` returns, so the copy starts complete. A
        // corrupt row stays out of it: reading that id fails with the reason,
        // and the other environments are served.
        let live = store.query_records_with(
            "load live environments",
            &live_records_sql(),
            [],
            |err| {
                tracing::error!(error = %err, "corrupt record in the state store; it is not served");
                Ok(())
            },
        )?;
        store.live.fill(live);
        Ok(store)
    }

    /// Returns the path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves no half-done write behind,
        // because every write is one statement or a transaction that rolls
        // back on drop, so the connection is safe to keep using.
        self.connection
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Borrows a read connection: an idle one, or a new one.
    fn reader(&self) -> Result<Reader<'_>, StateError> {
        let idle = self
            .readers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .pop();
        let connection = match idle {
            Some(connection) => connection,
            None => self.open_reader()?,
        };
        Ok(Reader {
            store: self,
            connection: Some(connection),
        })
    }

    fn open_reader(&self) -> Result<Connection, StateError> {
        let operation = "open a read connection";
        let connection = Connection::open(&self.path).map_err(self.database_error(operation))?;
        connection
            .busy_timeout(BUSY_TIMEOUT)
            .map_err(self.database_error(operation))?;
        // A read connection that tried to write would bypass the writer.
        connection
            .pragma_update(None, "query_only", true)
            .map_err(self.database_error(operation))?;
        Ok(connection)
    }

    /// Returns how many writes this store applied since it was opened, and in
    /// how many commits.
    pub fn write_stats(&self) -> WriteStats {
        self.writer.stats()
    }

    fn database_error(
        &self,
        operation: impl Into<String>,
    ) -> impl FnOnce(rusqlite::Error) -> StateError {
        let path = self.path.clone();
        let operation = operation.into();
        move |error| StateError::Database {
            path,
            operation,
            error,
        }
    }

    fn query_records(
        &self,
        operation: &str,
        sql: &str,
        params: impl rusqlite::Params,
    ) -> Result<Vec<EnvironmentRecord>, StateError> {
        self.query_records_with(operation, sql, params, Err)
    }

    /// Runs a query of whole records; a row that does not decode goes to
    /// `corrupt`, which fails the query or skips the row.
    fn query_records_with(
        &self,
        operation: &str,
        sql: &str,
        params: impl rusqlite::Params,
        corrupt: fn(StateError) -> Result<(), StateError>,
    ) -> Result<Vec<EnvironmentRecord>, StateError> {
        let connection = self.reader()?;
        let mut statement = connection
            .prepare_cached(sql)
            .map_err(self.database_error(operation))?;
        let mut rows = statement
            .query(params)
            .map_err(self.database_error(operation))?;

        let mut records = Vec::new();
        while let Some(row) = rows.next().map_err(self.database_error(operation))? {
            match decode_record(row) {
                Ok(record) => records.push(record),
                Err(DecodeError::Corrupt(err)) => corrupt(err)?,
                Err(err) => return Err(self.decode_error(operation, err)),
            }
        }
        Ok(records)
    }

    fn decode_error(&self, operation: &str, err: DecodeError) -> StateError {
        match err {
            DecodeError::Sqlite(error) => self.database_error(operation)(error),
            DecodeError::Corrupt(err) => err,
        }
    }
}

impl Store for SqliteStore {
    fn host_id(&self) -> Result<HostId, StateError> {
        if let Some(id) = self.host_id.get() {
            return Ok(id.clone());
        }

        let operation = "read or create the host id";
        let mut connection = self.lock();
        // Immediate, so that two processes opening a new file at once can not
        // both insert a different id.
        let transaction = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(self.database_error(operation))?;
        let stored: Option<String> = transaction
            .query_row("SELECT host_id FROM host WHERE singleton = 1", [], |row| {
                row.get(0)
            })
            .optional()
            .map_err(self.database_error(operation))?;
        let id = match stored {
            Some(id) => HostId::from_stored(id),
            None => {
                let id = HostId::mint();
                transaction
                    .execute(
                        "INSERT INTO host (singleton, host_id, created_at) VALUES (1, ?1, ?2)",
                        (id.as_str(), encode_time(&Utc::now())),
                    )
                    .map_err(self.database_error(operation))?;
                tracing::info!(host_id = %id, path = %self.path.display(), "created host id");
                id
            }
        };
        transaction
            .commit()
            .map_err(self.database_error(operation))?;

        Ok(self.host_id.get_or_init(|| id).clone())
    }

    fn submit(&self, write: Write) -> WriteTicket {
        self.writer.submit(write)
    }

    fn barrier(&self) -> WriteTicket {
        self.writer.barrier()
    }

    fn get(&self, id: &EnvironmentId) -> Result<Option<EnvironmentRecord>, StateError> {
        if let Some(record) = self.live.get(id) {
            return Ok(Some(record));
        }
        let operation = format!("read environment `{id}`");
        let sql = format!("SELECT {COLUMNS} FROM environments WHERE id = ?1");
        let mut records = self.query_records(&operation, &sql, [id.as_str()])?;
        Ok(records.pop())
    }

    fn list(&self, filter: &ListFilter) -> Result<Vec<EnvironmentRecord>, StateError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM environments \
             WHERE (:tenant_id IS NULL OR tenant_id = :tenant_id) \
             AND (:namespace IS NULL OR namespace = :namespace) \
             AND (:run_id IS NULL OR run_id = :run_id) \
             AND (:status IS NULL OR status = :status) \
             ORDER BY created_at, rowid"
        );
        let params = named_params! {
            ":tenant_id": filter.tenant_id,
            ":namespace": filter.namespace,
            ":run_id": filter.run_id,
            ":status": filter.status.map(Status::as_str),
        };
        self.query_records("list environments", &sql, params)
    }

    fn list_live(&self) -> Result<Vec<EnvironmentRecord>, StateError> {
        self.query_records("list live environments", &live_records_sql(), [])
    }

    fn purge_terminal_before(&self, cutoff: DateTime<Utc>) -> Result<usize, StateError> {
        let sql = format!(
            "DELETE FROM environments WHERE status IN ({}) AND updated_at < ?1",
            terminal_statuses()
        );
        let purged = self
            .lock()
            .execute(&sql, [encode_time(&cutoff)])
            .map_err(self.database_error("purge terminal environments"))?;
        if purged > 0 {
            tracing::debug!(purged, %cutoff, "purged terminal environments");
        }
        Ok(purged)
    }
}

/// Applies one write on `connection`, for the writer thread.
fn apply(connection: &Connection, write: &Write) -> Result<(), ApplyError> {
    match write {
        Write::Insert(record) => {
            let inserted = connection
                .prepare_cached(&INSERT_SQL)?
                .execute(params_from_iter(bind_record(record)))?;
            if inserted == 0 {
                return Err(ApplyError::Rejected(StateError::AlreadyExists {
                    id: record.id.clone(),
                }));
            }
        }
        Write::Update(record) => {
            let updated = connection
                .prepare_cached(&UPDATE_SQL)?
                .execute(params_from_iter(bind_record(record)))?;
            if updated == 0 {
                return Err(ApplyError::Rejected(StateError::NotFound {
                    id: record.id.clone(),
                }));
            }
        }
        Write::Delete(id) => {
            connection
                .prepare_cached("DELETE FROM environments WHERE id = ?1")?
                .execute([id.as_str()])?;
        }
    }
    Ok(())
}

/// Turns on write-ahead logging and the fsync on commit `durability` requests
/// (`synchronous=FULL` or `NORMAL`), and enforces foreign keys for later
/// migrations.
fn configure_durability(
    connection: &Connection,
    path: &Path,
    durability: Durability,
) -> Result<(), StateError> {
    let database_error = |operation: &str| {
        let operation = operation.to_owned();
        move |error| StateError::Database {
            path: path.to_owned(),
            operation,
            error,
        }
    };

    let mode: String = connection
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .map_err(database_error("enable WAL journal mode"))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StateError::JournalMode {
            path: path.to_owned(),
            mode,
        });
    }
    connection
        .pragma_update(None, "synchronous", durability.as_str())
        .map_err(database_error("set synchronous"))?;
    connection
        .pragma_update(None, "foreign_keys", "ON")
        .map_err(database_error("enable foreign keys"))?;
    Ok(())
}

/// Applies the migrations the file lacks, all in one transaction, so a crash
/// half way leaves the file at its old version.
fn migrate(connection: &mut Connection, path: &Path) -> Result<(), StateError> {
    let database_error = |operation: String| {
        move |error| StateError::Database {
            path: path.to_owned(),
            operation,
            error,
        }
    };
    let supported = MIGRATIONS.len() as i64;

    // Immediate, so that a second process opening the same new file waits
    // instead of running the same migrations.
    let transaction = connection
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(database_error("begin the schema migration".to_owned()))?;
    let found: i64 = transaction
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(database_error("read the schema version".to_owned()))?;
    if !(0..=supported).contains(&found) {
        return Err(StateError::UnsupportedSchema {
            path: path.to_owned(),
            found,
            supported,
        });
    }
    if found == supported {
        return Ok(());
    }

    for (index, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let version = index as i64 + 1;
        transaction
            .execute_batch(sql)
            .map_err(database_error(format!(
                "migrate the schema to version {version}"
            )))?;
        transaction
            .pragma_update(None, "user_version", version)
            .map_err(database_error(format!(
                "set the schema version to {version}"
            )))?;
    }
    transaction
        .commit()
        .map_err(database_error("commit the schema migration".to_owned()))?;

    tracing::info!(
        path = %path.display(),
        from_version = found,
        to_version = supported,
        "migrated state database"
    );
    Ok(())
}

/// Selects the records whose status is not terminal, oldest first.
fn live_records_sql() -> String {
    format!(
        "SELECT {COLUMNS} FROM environments WHERE status NOT IN ({}) \
         ORDER BY created_at, rowid",
        terminal_statuses()
    )
}

/// Returns `?1, ?2, …` for every column.
fn placeholders() -> String {
    (1..=COLUMNS.split(", ").count())
        .map(|index| format!("?{index}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Returns the terminal statuses as a SQL list, such as `'terminated'`.
fn terminal_statuses() -> String {
    Status::ALL
        .into_iter()
        .filter(|status| status.is_terminal())
        .map(|status| format!("'{status}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Formats a timestamp as RFC 3339 with exactly nine fraction digits, so that
/// text order in SQL is time order and nanoseconds survive a round trip.
fn encode_time(time: &DateTime<Utc>) -> String {
    time.format("%Y-%m-%dT%H:%M:%S%.9fZ").to_string()
}

/// Returns the values of [`COLUMNS`] for `record`, in order.
fn bind_record(record: &EnvironmentRecord) -> Vec<Box<dyn rusqlite::ToSql>> {
    let json = |value: &serde_json::Value| value.to_string();
    let endpoints = serde_json::to_string(&record.endpoints)
        .expect("endpoints are strings and integers, which always serialize");
    vec![
        Box::new(record.id.as_str().to_owned()),
        Box::new(record.adapter.as_str().to_owned()),
        Box::new(record.kind.as_str()),
        Box::new(record.status.as_str()),
        Box::new(record.reason.clone()),
        Box::new(record.tenant_id.clone()),
        Box::new(record.namespace.clone()),
        Box::new(record.run_id.clone()),
        Box::new(json(&record.request)),
        Box::new(record.request_digest.clone()),
        Box::new(record.start_request.as_ref().map(json)),
        Box::new(record.reservation.as_ref().map(json)),
        Box::new(endpoints),
        Box::new(serde_json::Value::Object(record.metadata.clone()).to_string()),
        Box::new(record.lease.lease_id.clone()),
        Box::new(encode_time(&record.lease.acquired_at)),
        Box::new(encode_time(&record.lease.expires_at)),
        Box::new(record.lease.owner.clone()),
        Box::new(encode_time(&record.created_at)),
        Box::new(encode_time(&record.updated_at)),
    ]
}

/// Why a row did not decode: SQLite failed to read it, or its content is not
/// a valid record.
enum DecodeError {
    Sqlite(rusqlite::Error),
    Corrupt(StateError),
}

impl From<rusqlite::Error> for DecodeError {
    fn from(error: rusqlite::Error) -> Self {
        DecodeError::Sqlite(error)
    }
}

/// Decodes one row selected with [`COLUMNS`].
fn decode_record(row: &Row<'_>) -> Result<EnvironmentRecord, DecodeError> {
    let raw_id: String = row.get("id")?;
    let corrupt = |column: &'static str, reason: String| {
        DecodeError::Corrupt(StateError::Corrupt {
            id: raw_id.clone(),
            column,
            reason,
        })
    };
    let text = |column: &'static str| -> Result<String, DecodeError> { Ok(row.get(column)?) };
    let optional_text =
        |column: &'static str| -> Result<Option<String>, DecodeError> { Ok(row.get(column)?) };
    let time = |column: &'static str| -> Result<DateTime<Utc>, DecodeError> {
        let value = text(column)?;
        DateTime::parse_from_rfc3339(&value)
            .map(|time| time.with_timezone(&Utc))
            .map_err(|err| corrupt(column, format!("invalid timestamp `{value}`: {err}")))
    };
    let json = |column: &'static str, value: &str| -> Result<serde_json::Value, DecodeError> {
        serde_json::from_str(value).map_err(|err| corrupt(column, format!("invalid JSON: {err}")))
    };
    let optional_json = |column: &'static str| -> Result<Option<serde_json::Value>, DecodeError> {
        optional_text(column)?
            .map(|value| json(column, &value))
            .transpose()
    };

    let id = EnvironmentId::parse(&raw_id).map_err(|err| corrupt("id", err.to_string()))?;
    let adapter =
        AdapterName::parse(&text("adapter")?).map_err(|err| corrupt("adapter", err.to_string()))?;
    let kind = text("kind")?
        .parse()
        .map_err(|err: super::InvalidRecordKind| corrupt("kind", err.to_string()))?;
    let status = text("status")?
        .parse()
        .map_err(|err: crate::model::InvalidStatus| corrupt("status", err.to_string()))?;
    let endpoints = serde_json::from_str(&text("endpoints")?)
        .map_err(|err| corrupt("endpoints", format!("invalid endpoint list: {err}")))?;
    let metadata = match json("metadata", &text("metadata")?)? {
        serde_json::Value::Object(object) => object,
        other => {
            return Err(corrupt(
                "metadata",
                format!("expected a JSON object, found {other}"),
            ));
        }
    };

    Ok(EnvironmentRecord {
        id,
        adapter,
        kind,
        status,
        reason: optional_text("reason")?,
        tenant_id: optional_text("tenant_id")?,
        namespace: optional_text("namespace")?,
        run_id: optional_text("run_id")?,
        request: json("request", &text("request")?)?,
        request_digest: text("request_digest")?,
        start_request: optional_json("start_request")?,
        reservation: optional_json("reservation")?,
        endpoints,
        metadata,
        lease: Lease {
            lease_id: text("lease_id")?,
            acquired_at: time("lease_acquired_at")?,
            expires_at: time("lease_expires_at")?,
            owner: optional_text("lease_owner")?,
        },
        created_at: time("created_at")?,
        updated_at: time("updated_at")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_sets_full_sync_and_foreign_keys() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("envhost.db")).unwrap();
        let connection = store.lock();

        let pragma = |name: &str| -> i64 {
            connection
                .pragma_query_value(None, name, |row| row.get(0))
                .unwrap()
        };
        // `synchronous` reads back as a number: 2 is FULL.
        assert_eq!(pragma("synchronous"), 2);
        assert_eq!(pragma("foreign_keys"), 1);
    }

    #[test]
    fn normal_durability_sets_synchronous_normal() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            SqliteStore::open_with(&dir.path().join("envhost.db"), Durability::Normal).unwrap();
        let synchronous: i64 = store
            .lock()
            .pragma_query_value(None, "synchronous", |row| row.get(0))
            .unwrap();
        // 1 is NORMAL.
        assert_eq!(synchronous, 1);
    }

    #[test]
    fn terminal_statuses_match_status_is_terminal() {
        assert_eq!(terminal_statuses(), "'terminated'");
    }

    #[test]
    fn encoded_times_sort_as_text() {
        let earlier = DateTime::from_timestamp(1_000, 5).unwrap();
        let later = DateTime::from_timestamp(1_000, 400_000_000).unwrap();
        assert!(encode_time(&earlier) < encode_time(&later));
        assert_eq!(encode_time(&earlier), "1970-01-01T00:16:40.000000005Z");
    }
}
