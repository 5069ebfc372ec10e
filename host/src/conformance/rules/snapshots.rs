//! The `snapshots-round-trip` rule, for adapters that export `snapshots`.

use super::{Outcome, Run, TTL_MS, create_request};
use crate::adapters::SnapshotOutput;
use crate::ids::EnvironmentId;

/// Snapshot name the rule creates.
const SNAPSHOT_NAME: &str = "conformance";

impl Run<'_> {
    pub(super) async fn snapshots(&mut self) {
        const RULE: &str = "snapshots-round-trip";
        if !self.adapter.capabilities().supports_snapshots {
            self.outcomes.insert(
                RULE,
                Outcome::Skip("the adapter does not export `snapshots`".to_owned()),
            );
            return;
        }

        let id = EnvironmentId::mint();
        self.created.push(id.clone());
        if let Err(err) = self
            .adapter
            .create(&id, &create_request(), TTL_MS, None)
            .await
        {
            let err = self.note("create", err);
            self.outcomes.insert(
                RULE,
                Outcome::Fail(format!("create of `{id}` to snapshot failed: {err}")),
            );
            return;
        }
        let outcome = match self.round_trip(&id).await {
            Ok(pass) => Outcome::Pass(pass),
            Err(failure) => Outcome::Fail(failure),
        };
        self.outcomes.insert(RULE, outcome);
        if let Err(err) = self.adapter.destroy(&id, Some("conformance")).await {
            self.note("destroy", err);
        }
    }

    async fn round_trip(&mut self, id: &EnvironmentId) -> Result<String, String> {
        let snapshot = self
            .adapter
            .create_snapshot(id, SNAPSHOT_NAME)
            .await
            .map_err(|err| {
                let err = self.note("create-snapshot", err);
                format!("create-snapshot of `{id}` failed: {err}")
            })?;
        if snapshot.name != SNAPSHOT_NAME {
            return Err(format!(
                "create-snapshot returned name `{}`, expected `{SNAPSHOT_NAME}`",
                snapshot.name
            ));
        }

        let listed = self.list(id).await?;
        if !listed.iter().any(|listed| listed.id == snapshot.id) {
            return Err(format!(
                "list-snapshots does not show snapshot `{}` right after create-snapshot",
                snapshot.id
            ));
        }

        for attempt in ["first", "second"] {
            if let Err(err) = self.adapter.delete_snapshot(id, &snapshot.id).await {
                let err = self.note("delete-snapshot", err);
                return Err(format!(
                    "{attempt} delete-snapshot of `{}` failed: {err}",
                    snapshot.id
                ));
            }
        }

        let listed = self.list(id).await?;
        if listed.iter().any(|listed| listed.id == snapshot.id) {
            return Err(format!(
                "list-snapshots still shows snapshot `{}` after delete-snapshot",
                snapshot.id
            ));
        }
        Ok(format!(
            "created `{}` ({}), listed, deleted twice, gone from the list",
            snapshot.id, snapshot.image
        ))
    }

    async fn list(&mut self, id: &EnvironmentId) -> Result<Vec<SnapshotOutput>, String> {
        self.adapter.list_snapshots(id).await.map_err(|err| {
            let err = self.note("list-snapshots", err);
            format!("list-snapshots of `{id}` failed: {err}")
        })
    }
}
