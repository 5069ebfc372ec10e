//! The SQLite state store: round trips, filters, purging, reopening and
//! schema versions.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, TimeZone, Utc};
use envhost::ids::{AdapterName, EnvironmentId};
use envhost::model::{Endpoint, JsonObject, Lease, ListFilter, Protocol, Status};
use envhost::state::{Durability, EnvironmentRecord, RecordKind, SqliteStore, StateError, Store};
use serde_json::json;
use tempfile::TempDir;

fn temp_db() -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state").join("envhost.db");
    (dir, path)
}

fn at(seconds: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + seconds, 0).unwrap()
}

/// Builds a record with only the required fields set, created at `at(created)`.
fn record(id: &str, created: i64) -> EnvironmentRecord {
    EnvironmentRecord {
        id: EnvironmentId::parse(id).unwrap(),
        adapter: AdapterName::parse("docker").unwrap(),
        kind: RecordKind::Environment,
        status: Status::Ready,
        reason: None,
        tenant_id: None,
        namespace: None,
        run_id: None,
        request: json!({}),
        request_digest: "sha256:00".to_owned(),
        start_request: None,
        reservation: None,
        endpoints: Vec::new(),
        metadata: JsonObject::new(),
        lease: Lease {
            lease_id: format!("lease-{id}"),
            acquired_at: at(created),
            expires_at: at(created + 900),
            owner: None,
        },
        created_at: at(created),
        updated_at: at(created),
    }
}

/// Builds a record with every optional field set and timestamps with nanoseconds.
fn full_record() -> EnvironmentRecord {
    let mut metadata = JsonObject::new();
    metadata.insert("team".to_owned(), json!("infra"));
    metadata.insert("nested".to_owned(), json!({"a": [1, 2.5, null, true]}));
    let precise = Utc.timestamp_opt(1_800_000_000, 123_456_789).unwrap();

    EnvironmentRecord {
        id: EnvironmentId::parse("env-full_1").unwrap(),
        adapter: AdapterName::parse("my-adapter_2").unwrap(),
        kind: RecordKind::Reservation,
        status: Status::Degraded,
        reason: Some("health check failing".to_owned()),
        tenant_id: Some("tenant-a".to_owned()),
        namespace: Some("ns-1".to_owned()),
        run_id: Some("run-42".to_owned()),
        request: json!({"namespace": "ns-1", "ttlMs": 60000, "metadata": {"x": "ü"}}),
        request_digest: "sha256:abcdef".to_owned(),
        start_request: Some(json!({"image": "envhost/busybox:test", "env": {"A": "1"}})),
        reservation: Some(json!({"network": "envhost-net-1"})),
        endpoints: vec![
            Endpoint {
                name: "web".to_owned(),
                protocol: Protocol::Http,
                host: "127.0.0.1".to_owned(),
                port: 32768,
                path: Some("/health".to_owned()),
            },
            Endpoint {
                name: "ssh".to_owned(),
                protocol: Protocol::Tcp,
                host: "::1".to_owned(),
                port: 2222,
                path: None,
            },
        ],
        metadata,
        lease: Lease {
            lease_id: "lease-1".to_owned(),
            acquired_at: precise,
            expires_at: precise + Duration::minutes(15),
            owner: Some("scheduler".to_owned()),
        },
        created_at: precise,
        updated_at: precise + Duration::milliseconds(1),
    }
}

fn ids(records: &[EnvironmentRecord]) -> Vec<&str> {
    records.iter().map(|record| record.id.as_str()).collect()
}

fn set_user_version(path: &Path, version: i64) {
    let connection = rusqlite::Connection::open(path).unwrap();
    connection
        .pragma_update(None, "user_version", version)
        .unwrap();
}

#[test]
fn every_field_round_trips() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).unwrap();
    let record = full_record();

    store.insert(&record).unwrap();
    assert_eq!(store.get(&record.id).unwrap(), Some(record));
}

#[test]
fn minimal_record_round_trips() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).unwrap();
    let record = record("env-1", 0);

    store.insert(&record).unwrap();
    assert_eq!(store.get(&record.id).unwrap(), Some(record));
}

#[test]
fn get_of_unknown_id_is_none() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).unwrap();
    let id = EnvironmentId::parse("never-seen").unwrap();
    assert_eq!(store.get(&id).unwrap(), None);
}

#[test]
fn insert_twice_is_already_exists() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).unwrap();
    let first = record("env-1", 0);
    let mut second = record("env-1", 5);
    second.status = Status::Failed;

    store.insert(&first).unwrap();
    let err = store.insert(&second).unwrap_err();
    assert!(
        matches!(&err, StateError::AlreadyExists { id } if id.as_str() == "env-1"),
        "{err:?}"
    );
    assert_eq!(store.get(&first.id).unwrap(), Some(first));
}

#[test]
fn update_replaces_every_field() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).unwrap();
    let mut record = record("env-full_1", 0);
    store.insert(&record).unwrap();

    let mut changed = full_record();
    changed.id = record.id.clone();
    store.update(&changed).unwrap();
    assert_eq!(store.get(&record.id).unwrap(), Some(changed));

    record.status = Status::Terminated;
    record.reason = Some("requested".to_owned());
    store.update(&record).unwrap();
    assert_eq!(store.get(&record.id).unwrap(), Some(record));
}

#[test]
fn update_of_unknown_id_is_not_found() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).unwrap();

    let err = store.update(&record("env-1", 0)).unwrap_err();
    assert!(
        matches!(&err, StateError::NotFound { id } if id.as_str() == "env-1"),
        "{err:?}"
    );
    assert_eq!(
        store.get(&EnvironmentId::parse("env-1").unwrap()).unwrap(),
        None
    );
}

#[test]
fn delete_removes_record_and_tolerates_absent_id() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).unwrap();
    let record = record("env-1", 0);
    store.insert(&record).unwrap();

    store.delete(&record.id).unwrap();
    assert_eq!(store.get(&record.id).unwrap(), None);
    store.delete(&record.id).unwrap();
}

#[test]
fn list_returns_oldest_first() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).unwrap();
    store.insert(&record("c", 30)).unwrap();
    store.insert(&record("a", 10)).unwrap();
    store.insert(&record("b", 20)).unwrap();
    // Same creation time as `a`: insertion order breaks the tie.
    store.insert(&record("0", 10)).unwrap();

    let all = store.list(&ListFilter::default()).unwrap();
    assert_eq!(ids(&all), ["a", "0", "b", "c"]);
}

#[test]
fn list_filters_on_every_present_field() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).unwrap();
    let fields = [
        ("e1", "t1", "n1", "r1", Status::Ready),
        ("e2", "t1", "n2", "r1", Status::Pending),
        ("e3", "t2", "n1", "r2", Status::Ready),
        ("e4", "t2", "n2", "r2", Status::Terminated),
    ];
    for (index, (id, tenant, namespace, run, status)) in fields.into_iter().enumerate() {
        let mut record = record(id, index as i64);
        record.tenant_id = Some(tenant.to_owned());
        record.namespace = Some(namespace.to_owned());
        record.run_id = Some(run.to_owned());
        record.status = status;
        store.insert(&record).unwrap();
    }
    store.insert(&record("e5", 10)).unwrap();

    let list = |filter: ListFilter| ids(&store.list(&filter).unwrap()).join(",");
    let text = |value: &str| Some(value.to_owned());

    assert_eq!(list(ListFilter::default()), "e1,e2,e3,e4,e5");
    assert_eq!(
        list(ListFilter {
            tenant_id: text("t1"),
            ..ListFilter::default()
        }),
        "e1,e2"
    );
    assert_eq!(
        list(ListFilter {
            namespace: text("n1"),
            ..ListFilter::default()
        }),
        "e1,e3"
    );
    assert_eq!(
        list(ListFilter {
            run_id: text("r2"),
            ..ListFilter::default()
        }),
        "e3,e4"
    );
    assert_eq!(
        list(ListFilter {
            status: Some(Status::Ready),
            ..ListFilter::default()
        }),
        "e1,e3,e5"
    );
    assert_eq!(
        list(ListFilter {
            tenant_id: text("t2"),
            namespace: text("n2"),
            run_id: text("r2"),
            status: Some(Status::Terminated),
        }),
        "e4"
    );
    assert_eq!(
        list(ListFilter {
            tenant_id: text("t1"),
            run_id: text("r2"),
            ..ListFilter::default()
        }),
        ""
    );
}

#[test]
fn list_live_skips_terminal_records() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).unwrap();
    for (index, status) in Status::ALL.into_iter().enumerate() {
        let mut record = record(status.as_str(), index as i64);
        record.status = status;
        store.insert(&record).unwrap();
    }

    let live = store.list_live().unwrap();
    assert_eq!(
        ids(&live),
        [
            "pending",
            "provisioning",
            "ready",
            "degraded",
            "terminating",
            "failed"
        ]
    );
}

#[test]
fn purge_deletes_only_old_terminated_records() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).unwrap();
    let cases = [
        ("old-terminated", Status::Terminated, 0),
        ("old-failed", Status::Failed, 0),
        ("old-ready", Status::Ready, 0),
        ("old-terminating", Status::Terminating, 0),
        ("new-terminated", Status::Terminated, 100),
        ("at-cutoff-failed", Status::Failed, 50),
    ];
    for (id, status, updated) in cases {
        let mut record = record(id, 0);
        record.status = status;
        record.updated_at = at(updated);
        store.insert(&record).unwrap();
    }

    assert_eq!(store.purge_terminal_before(at(50)).unwrap(), 1);
    let left = store.list(&ListFilter::default()).unwrap();
    assert_eq!(
        ids(&left),
        [
            "old-failed",
            "old-ready",
            "old-terminating",
            "new-terminated",
            "at-cutoff-failed"
        ]
    );
    assert_eq!(store.purge_terminal_before(at(50)).unwrap(), 0);
}

#[test]
fn purge_compares_times_below_a_second() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).unwrap();
    let mut record = record("env-1", 0);
    record.status = Status::Terminated;
    record.updated_at = at(0) + Duration::milliseconds(900);
    store.insert(&record).unwrap();

    assert_eq!(
        store
            .purge_terminal_before(at(0) + Duration::milliseconds(899))
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .purge_terminal_before(at(0) + Duration::milliseconds(901))
            .unwrap(),
        1
    );
}

#[test]
fn host_id_is_stable_across_reopen() {
    let (_dir, path) = temp_db();
    let first = {
        let store = SqliteStore::open(&path).unwrap();
        let id = store.host_id().unwrap();
        assert_eq!(store.host_id().unwrap(), id);
        id
    };

    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.host_id().unwrap(), first);
}

#[test]
fn host_ids_differ_between_databases() {
    let (_dir_a, path_a) = temp_db();
    let (_dir_b, path_b) = temp_db();
    let a = SqliteStore::open(&path_a).unwrap().host_id().unwrap();
    let b = SqliteStore::open(&path_b).unwrap().host_id().unwrap();
    assert_ne!(a, b);
}

#[test]
fn data_survives_reopen() {
    let (_dir, path) = temp_db();
    let record = full_record();
    {
        let store = SqliteStore::open(&path).unwrap();
        store.insert(&record).unwrap();
    }

    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.get(&record.id).unwrap(), Some(record));
}

#[test]
fn open_sets_wal_and_schema_version() {
    let (_dir, path) = temp_db();
    drop(SqliteStore::open(&path).unwrap());

    let connection = rusqlite::Connection::open(&path).unwrap();
    let mode: String = connection
        .pragma_query_value(None, "journal_mode", |row| row.get(0))
        .unwrap();
    let version: i64 = connection
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    assert_eq!(version, 1);
}

#[test]
fn open_creates_parent_directories() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a").join("b").join("envhost.db");

    let store = SqliteStore::open(&path).unwrap();
    assert!(path.is_file());
    assert_eq!(store.path(), path);
}

#[test]
fn open_migrates_an_empty_file() {
    let (_dir, path) = temp_db();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::File::create(&path).unwrap();

    let store = SqliteStore::open(&path).unwrap();
    store.insert(&record("env-1", 0)).unwrap();
    assert_eq!(store.list(&ListFilter::default()).unwrap().len(), 1);
}

#[test]
fn newer_schema_version_is_a_clear_error() {
    let (_dir, path) = temp_db();
    drop(SqliteStore::open(&path).unwrap());
    set_user_version(&path, 99);

    let err = SqliteStore::open(&path).err().expect("open must fail");
    match &err {
        StateError::UnsupportedSchema {
            found, supported, ..
        } => {
            assert_eq!(*found, 99);
            assert_eq!(*supported, 1);
        }
        other => panic!("expected an unsupported schema error, got {other:?}"),
    }
    let message = err.to_string();
    assert!(message.contains("schema version 99"), "{message}");
    assert!(message.contains(&*path.to_string_lossy()), "{message}");
}

#[test]
fn negative_schema_version_is_rejected() {
    let (_dir, path) = temp_db();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    set_user_version(&path, -1);

    let err = SqliteStore::open(&path).err().expect("open must fail");
    assert!(
        matches!(err, StateError::UnsupportedSchema { found: -1, .. }),
        "{err:?}"
    );
}

#[test]
fn open_of_non_database_fails() {
    let (_dir, path) = temp_db();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(
        &path,
        "this is not a SQLite file, but it is long enough to have a header",
    )
    .unwrap();

    let err = SqliteStore::open(&path).err().expect("open must fail");
    assert!(matches!(err, StateError::Database { .. }), "{err:?}");
    assert!(err.to_string().contains(&*path.to_string_lossy()), "{err}");
}

#[test]
fn corrupt_row_names_id_and_column() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).unwrap();
    store.insert(&record("env-1", 0)).unwrap();
    store.insert(&record("env-2", 1)).unwrap();
    drop(store);
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute(
            "UPDATE environments SET status = 'exploded' WHERE id = 'env-1'",
            [],
        )
        .unwrap();

    // One corrupt record does not keep the store from opening or from
    // serving the others.
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(
        store.get(&EnvironmentId::parse("env-2").unwrap()).unwrap(),
        Some(record("env-2", 1))
    );
    let err = store
        .get(&EnvironmentId::parse("env-1").unwrap())
        .unwrap_err();
    match &err {
        StateError::Corrupt { id, column, .. } => {
            assert_eq!(id, "env-1");
            assert_eq!(*column, "status");
        }
        other => panic!("expected a corrupt record error, got {other:?}"),
    }
    assert!(err.to_string().contains("exploded"), "{err}");
}

#[test]
fn concurrent_inserts_all_land() {
    let (_dir, path) = temp_db();
    let store: std::sync::Arc<dyn Store> = std::sync::Arc::new(SqliteStore::open(&path).unwrap());

    let handles: Vec<_> = (0..4)
        .map(|thread| {
            let store = store.clone();
            std::thread::spawn(move || {
                for index in 0..25 {
                    store
                        .insert(&record(&format!("t{thread}-{index}"), index))
                        .unwrap();
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    assert_eq!(store.list(&ListFilter::default()).unwrap().len(), 100);
}

/// Runs `per_thread` writes on each of `threads` threads at once, the ids
/// `t<thread>-<index>`, and returns each write's outcome.
fn write_concurrently(
    store: &std::sync::Arc<SqliteStore>,
    threads: usize,
    per_thread: usize,
    write: fn(&SqliteStore, EnvironmentRecord) -> Result<(), StateError>,
) -> Vec<Result<(), StateError>> {
    let start = std::sync::Arc::new(std::sync::Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|thread| {
            let store = std::sync::Arc::clone(store);
            let start = std::sync::Arc::clone(&start);
            std::thread::spawn(move || {
                start.wait();
                (0..per_thread)
                    .map(|index| {
                        let record = record(&format!("t{thread}-{index}"), index as i64);
                        write(&store, record)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    handles
        .into_iter()
        .flat_map(|handle| handle.join().unwrap())
        .collect()
}

#[test]
fn concurrent_writes_share_commits() {
    let (_dir, path) = temp_db();
    let store = std::sync::Arc::new(SqliteStore::open(&path).unwrap());

    let outcomes = write_concurrently(&store, 16, 20, |store, record| store.insert(&record));
    assert!(outcomes.iter().all(Result::is_ok), "{outcomes:?}");
    let outcomes = write_concurrently(&store, 16, 20, |store, mut record| {
        record.status = Status::Terminated;
        store.update(&record)
    });
    assert!(outcomes.iter().all(Result::is_ok), "{outcomes:?}");

    let stats = store.write_stats();
    assert_eq!(stats.writes, 640);
    // Each writer waits for a commit before its next write, so the queue is
    // empty only by chance. One commit per write would mean no batching.
    assert!(
        stats.commits < stats.writes / 2,
        "expected shared commits, got {stats:?}"
    );
    drop(store);
    let reopened = SqliteStore::open(&path).unwrap();
    let filter = ListFilter {
        status: Some(Status::Terminated),
        ..ListFilter::default()
    };
    assert_eq!(reopened.list(&filter).unwrap().len(), 320);
}

#[test]
fn batch_with_rejected_insert_commits_the_rest() {
    let (_dir, path) = temp_db();
    let store = std::sync::Arc::new(SqliteStore::open(&path).unwrap());
    // Half of the ids exist already, so their inserts are rejected, while the
    // inserts of the other half, batched with them, must land.
    for thread in (0..16).step_by(2) {
        for index in 0..10 {
            store
                .insert(&record(&format!("t{thread}-{index}"), 0))
                .unwrap();
        }
    }

    let outcomes = write_concurrently(&store, 16, 10, |store, mut record| {
        record.status = Status::Failed;
        store.insert(&record)
    });
    let rejected = outcomes
        .iter()
        .filter(|outcome| matches!(outcome, Err(StateError::AlreadyExists { .. })))
        .count();
    assert_eq!(rejected, 80, "{outcomes:?}");
    assert_eq!(
        outcomes.iter().filter(|outcome| outcome.is_ok()).count(),
        80
    );

    let failed = ListFilter {
        status: Some(Status::Failed),
        ..ListFilter::default()
    };
    assert_eq!(store.list(&failed).unwrap().len(), 80);
    assert_eq!(store.list(&ListFilter::default()).unwrap().len(), 160);
}

#[test]
fn reads_see_every_acknowledged_write() {
    let (_dir, path) = temp_db();
    let store = std::sync::Arc::new(SqliteStore::open(&path).unwrap());
    let outcomes = write_concurrently(&store, 8, 25, |store, record| {
        store.insert(&record)?;
        // A read on another connection right after the acknowledgement.
        let read = store.get(&record.id)?;
        assert_eq!(read.as_ref(), Some(&record));
        store.delete(&record.id)?;
        assert_eq!(store.get(&record.id)?, None);
        Ok(())
    });
    assert!(outcomes.iter().all(Result::is_ok), "{outcomes:?}");
}

#[test]
fn data_written_with_normal_durability_survives_reopen() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open_with(&path, Durability::Normal).unwrap();
    store.insert(&record("env-1", 0)).unwrap();
    drop(store);

    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(
        store.get(&record("env-1", 0).id).unwrap(),
        Some(record("env-1", 0))
    );
}
