//! The `envhost env` client subcommands against a running host: what they
//! print and how they exit.

use envhost_e2e::{CliOutput, Host, containers_of_environment, unique_id};
use serde_json::Value;

/// Parses the JSON a `--json` subcommand printed, after checking it exited 0.
fn json_of(args: &[&str], output: &CliOutput) -> Value {
    assert!(
        output.status.success(),
        "`envhost {}` exited with {}: {}",
        args.join(" "),
        output.status,
        output.stderr
    );
    serde_json::from_str(&output.stdout).unwrap_or_else(|err| {
        panic!(
            "`envhost {}` printed invalid JSON ({err}): {}",
            args.join(" "),
            output.stdout
        )
    })
}

#[tokio::test]
async fn env_subcommands_create_get_list_destroy() {
    let host = Host::start().await;
    let workspace = host.workspace("cli");
    let workspace = workspace.to_str().expect("workspace path is UTF-8");

    let create = [
        "--json",
        "env",
        "create",
        "--template",
        "web",
        "--workspace",
        workspace,
        "--ttl",
        "10m",
    ];
    let created = json_of(&create, &host.cli(&create));
    assert_eq!(created["status"], "ready", "{created}");
    let id = created["environmentId"]
        .as_str()
        .unwrap_or_else(|| panic!("create printed no environmentId: {created}"))
        .to_owned();
    assert_eq!(containers_of_environment(&id).len(), 1);

    let get = ["--json", "env", "get", id.as_str()];
    let got = json_of(&get, &host.cli(&get));
    assert_eq!(got["environmentId"], id.as_str(), "{got}");
    assert_eq!(got["status"], "ready", "{got}");

    let list = ["--json", "env", "list", "--status", "ready"];
    let listed = json_of(&list, &host.cli(&list));
    let ids: Vec<&str> = listed
        .as_array()
        .unwrap_or_else(|| panic!("list printed no array: {listed}"))
        .iter()
        .filter_map(|item| item["environmentId"].as_str())
        .collect();
    assert_eq!(ids, vec![id.as_str()], "{listed}");

    let destroy = [
        "--json",
        "env",
        "destroy",
        id.as_str(),
        "--reason",
        "cli-test",
    ];
    let destroyed = json_of(&destroy, &host.cli(&destroy));
    assert_eq!(destroyed["status"], "terminated", "{destroyed}");
    assert_eq!(destroyed["reason"], "cli-test", "{destroyed}");
    assert_eq!(containers_of_environment(&id), Vec::<String>::new());
}

#[tokio::test]
async fn env_get_of_unknown_id_fails_with_detail() {
    let host = Host::start().await;
    let id = unique_id("never-created");

    let output = host.cli(&["env", "get", &id]);

    assert!(
        !output.status.success(),
        "`envhost env get {id}` succeeded: {}",
        output.stdout
    );
    assert!(
        output
            .stderr
            .contains(&format!("environment `{id}` not found")),
        "stderr lacks the problem detail: {}",
        output.stderr
    );
    assert!(
        output.stderr.contains("not-found"),
        "stderr lacks the problem code: {}",
        output.stderr
    );
    assert_eq!(output.stdout, "", "nothing belongs on stdout");
}

#[tokio::test]
async fn env_destroy_of_unknown_id_succeeds() {
    let host = Host::start().await;
    let id = unique_id("never-created");

    let output = host.cli(&["env", "destroy", &id]);

    assert!(
        output.status.success(),
        "`envhost env destroy {id}` exited with {}: {}",
        output.status,
        output.stderr
    );
    assert!(output.stdout.contains(&id), "stdout: {}", output.stdout);
}

#[tokio::test]
async fn env_table_output_shows_status() {
    let host = Host::start().await;
    let args = ["env", "create", "--", "sleep", "600"];

    let created = host.cli(&args);
    // The table does not go through the harness, so list over the API to
    // let it learn the id and remove the container afterwards.
    let listed = host.get("/v1/environments").await;

    assert_eq!(
        listed.body.as_array().map(Vec::len),
        Some(1),
        "{}",
        listed.text
    );
    assert!(
        created.status.success(),
        "`envhost {}` exited with {}: {}",
        args.join(" "),
        created.status,
        created.stderr
    );
    assert!(
        created.stdout.contains("ready"),
        "stdout: {}",
        created.stdout
    );
    let list = host.cli(&["env", "list"]);
    assert!(list.status.success(), "{}", list.stderr);
    assert!(list.stdout.contains("ready"), "stdout: {}", list.stdout);
}
