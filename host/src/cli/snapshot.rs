//! `envhost env snapshot create|list|delete`.

use clap::Subcommand;
use reqwest::Method;

use super::client::{ApiClient, CliError, decode};
use super::output::render_table;
use super::{ClientOptions, parse_environment_id};
use crate::environments::{CreateSnapshotRequest, Snapshot, SnapshotList};
use crate::ids::EnvironmentId;

/// `envhost env snapshot` subcommands.
#[derive(Debug, Subcommand)]
pub enum SnapshotCommand {
    /// Save an environment's file system as an image, named
    /// `envhost-snapshot/<id>:<name>` by the Docker adapter.
    Create {
        /// Environment id.
        #[arg(value_parser = parse_environment_id)]
        id: EnvironmentId,
        /// Snapshot name: 1 to 64 of `a-z`, `0-9`, `_`, `.` and `-`,
        /// starting with a letter or digit.
        name: String,
    },
    /// List an environment's snapshots, oldest first.
    List {
        /// Environment id.
        #[arg(value_parser = parse_environment_id)]
        id: EnvironmentId,
    },
    /// Delete a snapshot; deleting one that is gone succeeds.
    Delete {
        /// Environment id.
        #[arg(value_parser = parse_environment_id)]
        id: EnvironmentId,
        /// Snapshot id, as `list` prints it.
        snapshot_id: String,
    },
}

/// Runs one snapshot subcommand and prints its result.
pub(crate) async fn run(
    client: &ApiClient,
    options: &ClientOptions,
    command: SnapshotCommand,
) -> Result<(), CliError> {
    match command {
        SnapshotCommand::Create { id, name } => {
            let url = client.url(&["v1", "environments", id.as_str(), "snapshots"]);
            let request = CreateSnapshotRequest { name };
            let response = client
                .send(Method::POST, url.clone(), Some(&request))
                .await?;
            if options.json {
                println!("{}", response.body);
                return Ok(());
            }
            let snapshot: Snapshot = decode(&url, &response)?;
            print!("{}", render_snapshots(std::slice::from_ref(&snapshot)));
        }
        SnapshotCommand::List { id } => {
            let url = client.url(&["v1", "environments", id.as_str(), "snapshots"]);
            let response = client.send::<()>(Method::GET, url.clone(), None).await?;
            if options.json {
                println!("{}", response.body);
                return Ok(());
            }
            let list: SnapshotList = decode(&url, &response)?;
            print!("{}", render_snapshots(&list.snapshots));
        }
        SnapshotCommand::Delete { id, snapshot_id } => {
            let url = client.url(&[
                "v1",
                "environments",
                id.as_str(),
                "snapshots",
                snapshot_id.as_str(),
            ]);
            client.send::<()>(Method::DELETE, url, None).await?;
            if !options.json {
                println!(
                    "snapshot {snapshot_id} of environment {id} is gone (deleted now or before)"
                );
            }
        }
    }
    Ok(())
}

fn render_snapshots(snapshots: &[Snapshot]) -> String {
    let rows: Vec<Vec<String>> = snapshots
        .iter()
        .map(|snapshot| {
            vec![
                snapshot.id.clone(),
                snapshot.image.clone(),
                snapshot
                    .created_at
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                snapshot
                    .size_bytes
                    .map_or_else(|| "-".to_owned(), |size| size.to_string()),
            ]
        })
        .collect();
    render_table(&["ID", "IMAGE", "CREATED", "SIZE (BYTES)"], &rows)
}
