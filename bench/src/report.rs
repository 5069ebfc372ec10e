//! The report of a run: `bench/results/<date>.json`, a markdown table in
//! `bench/results/<date>.md`, and the same table in `latest.md`.

use std::fs;
use std::path::Path;

use serde_json::Value;

/// Writes `report` as JSON and as a markdown table under `dir`.
pub(crate) fn write(dir: &Path, report: &Value) -> Result<(), String> {
    fs::create_dir_all(dir)
        .map_err(|err| format!("failed to create `{}`: {err}", dir.display()))?;
    let date = report["startedAt"]
        .as_str()
        .unwrap_or("unknown")
        .replace(':', "-");
    let json = serde_json::to_string_pretty(report).expect("a JSON value always serializes");
    let table = markdown(report);
    for (name, text) in [
        (format!("{date}.json"), json),
        (format!("{date}.md"), table.clone()),
        ("latest.md".to_owned(), table),
    ] {
        let path = dir.join(name);
        fs::write(&path, text + "\n")
            .map_err(|err| format!("failed to write `{}`: {err}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

/// Renders the figures of a report as one markdown table.
pub(crate) fn markdown(report: &Value) -> String {
    let mut rows = vec![
        "| figure | measure | envhost | baseline | ratio | goal |".to_owned(),
        "| --- | --- | --- | --- | --- | --- |".to_owned(),
    ];
    let figures = &report["figures"];
    if let Some(docker) = figures.get("docker") {
        rows.push(format!(
            "| docker | create→ready→destroy median, {} rounds | {:.1} ms | {:.1} ms (bollard) | {:.3}× | ≤ 1.10× (aim 1.05×) |",
            docker["rounds"],
            number(&docker["envhost"]["medianMs"]),
            number(&docker["bollard"]["medianMs"]),
            number(&docker["medianRatio"]),
        ));
        rows.push(format!(
            "| docker | create→ready→destroy p90 | {:.1} ms | {:.1} ms (bollard) | {:.3}× | |",
            number(&docker["envhost"]["p90Ms"]),
            number(&docker["bollard"]["p90Ms"]),
            number(&docker["p90Ratio"]),
        ));
    }
    if let Some(calls) = figures.get("calls") {
        let rate = number(&calls["lifecyclesPerSecond"]);
        rows.push(format!(
            "| calls | create/status/destroy lifecycles per second, {} clients, HTTP | {rate:.0}/s | 5000/s (goal) | {:.2}× of goal | ≥ 5000/s |",
            calls["clients"],
            rate / 5000.0,
        ));
        let normal = number(&calls["lifecyclesPerSecondSyncNormal"]);
        rows.push(format!(
            "| calls | the same with `[state] sync = \"normal\"` (no fsync per commit) | {normal:.0}/s | 5000/s (goal) | {:.2}× of goal | ≥ 5000/s |",
            normal / 5000.0,
        ));
        let median = number(&calls["perCall"]["medianUs"]);
        rows.push(format!(
            "| calls | fresh instance + `init` + one call, in-process, median (p90 {:.1} µs) | {median:.1} µs | 20 µs (goal) | {:.2}× of goal | < 20 µs |",
            number(&calls["perCall"]["p90Us"]),
            median / 20.0,
        ));
    }
    if let Some(startup) = figures.get("startup") {
        let median = number(&startup["toHealthz"]["medianMs"]);
        rows.push(format!(
            "| startup | process start → `/healthz` ok, {} cached adapters, median (p90 {:.1} ms) | {median:.1} ms | 200 ms (goal) | {:.2}× of goal | < 200 ms |",
            startup["adapters"],
            number(&startup["toHealthz"]["p90Ms"]),
            median / 200.0,
        ));
        let resident = number(&startup["idleResidentMiB"]);
        rows.push(format!(
            "| startup | idle resident memory | {resident:.1} MiB | 40 MiB (goal) | {:.2}× of goal | < 40 MiB |",
            resident / 40.0,
        ));
    }
    if let Some(reload) = figures.get("reload") {
        let served = &reload["renameToServed"];
        rows.push(format!(
            "| reload | rename of a new Docker adapter → first request served by it (cold compile), p50 (p99 {:.1} ms), {} reloads | {:.1} ms | | | |",
            number(&served["p99Ms"]),
            reload["rounds"],
            number(&served["medianMs"]),
        ));
        let hit = &reload["cacheHitLoad"];
        let median = number(&hit["total"]["medianMs"]);
        rows.push(format!(
            "| reload | load of an unchanged file from the artifact cache, median (digest {:.2}, deserialize {:.2}, link {:.2}, probe {:.2} ms) | {median:.2} ms | 5 ms (goal) | {:.2}× of goal | < 5 ms |",
            number(&hit["digest"]["medianMs"]),
            number(&hit["deserialize"]["medianMs"]),
            number(&hit["link"]["medianMs"]),
            number(&hit["probe"]["medianMs"]),
            median / 5.0,
        ));
    }
    let mut text = format!(
        "# envhost benchmark, {}\n\n{}\n\nMachine: {}. Host: release build, log level `warn`.\n\n",
        report["startedAt"].as_str().unwrap_or("unknown"),
        report["command"].as_str().unwrap_or(""),
        report["machine"].as_str().unwrap_or("unknown"),
    );
    text.push_str(&rows.join("\n"));
    text
}

fn number(value: &Value) -> f64 {
    value.as_f64().unwrap_or(f64::NAN)
}
