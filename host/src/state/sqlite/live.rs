//! An in-memory copy of the live records, so that reading one costs no I/O.
//!
//! A live record is one whose status is not terminal: what the service reads
//! on every status call, renewal and destroy. The copy is filled when the
//! store opens. The writer thread changes it after each commit, before it
//! sends the writers their outcomes, so a caller that saw its write
//! acknowledged reads it back. It stays complete because this process is the database's only
//! writer (the host holds a lock file on it). Terminal records are not kept:
//! they are read rarely and would make memory grow with the tombstone
//! retention.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

use crate::ids::EnvironmentId;
use crate::state::{EnvironmentRecord, Write};

/// Live records by id.
#[derive(Default)]
pub(super) struct LiveRecords {
    records: RwLock<HashMap<EnvironmentId, EnvironmentRecord>>,
}

impl LiveRecords {
    /// Adds `records`, read from the database when it opened.
    pub(super) fn fill(&self, records: Vec<EnvironmentRecord>) {
        let mut map = self.records.write().unwrap_or_else(PoisonError::into_inner);
        for record in records {
            map.insert(record.id.clone(), record);
        }
    }

    /// Returns the live record with that id. `None` means it is terminal or
    /// absent, and only the database can tell which.
    pub(super) fn get(&self, id: &EnvironmentId) -> Option<EnvironmentRecord> {
        self.records
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
            .cloned()
    }

    /// Applies committed writes, in commit order.
    pub(super) fn committed<'a>(&self, writes: impl IntoIterator<Item = &'a Write>) {
        let mut map = self.records.write().unwrap_or_else(PoisonError::into_inner);
        for write in writes {
            match write {
                Write::Insert(record) | Write::Update(record) => {
                    if record.status.is_terminal() {
                        map.remove(&record.id);
                    } else {
                        map.insert(record.id.clone(), record.clone());
                    }
                }
                Write::Delete(id) => {
                    map.remove(id);
                }
            }
        }
    }
}
