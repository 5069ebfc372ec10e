//! Container output and commands run inside containers: the `logs` and
//! `exec` container imports. Both act only on containers the calling
//! adapter owns on this host.

use std::time::Duration;

use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use bollard::query_parameters::LogsOptionsBuilder;
use futures_util::StreamExt;
use tracing::{info, instrument};

use super::{ContainerError, ContainerHost, log_outcome};
use crate::ids::AdapterName;

/// Maximum length of a line returned by `logs`, in bytes. Longer lines are cut.
pub const MAX_LOG_LINE_BYTES: usize = 16 * 1024;

/// Output of `exec` kept, in bytes; the rest is dropped and reported as
/// truncated.
pub const MAX_EXEC_OUTPUT_BYTES: usize = 64 * 1024;

/// Arguments `exec` accepts in one command.
const MAX_EXEC_ARGS: usize = 256;

/// What a command run with [`ContainerHost::exec`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecOutput {
    /// Exit code; -1 when the engine reported none.
    pub exit_code: i64,
    /// Standard output and standard error, interleaved as written.
    pub output: String,
    /// Whether output past [`MAX_EXEC_OUTPUT_BYTES`] was dropped.
    pub truncated: bool,
}

impl ContainerHost {
    /// Returns the last `tail` lines a container wrote to stdout and
    /// stderr, oldest first, each cut at [`MAX_LOG_LINE_BYTES`].
    ///
    /// # Errors
    ///
    /// `NotFound` for an unknown container, `Denied` (rule `ownership`) for a
    /// container of another host or adapter, and engine failures.
    #[instrument(
        name = "container.logs",
        skip_all,
        fields(adapter = %adapter, container = %container, tail, environment = tracing::field::Empty)
    )]
    pub async fn logs(
        &self,
        adapter: &AdapterName,
        container: &str,
        tail: u32,
    ) -> Result<Vec<String>, ContainerError> {
        let result = async {
            let id = self.owned_id(adapter, container).await?;
            if tail == 0 {
                return Ok(Vec::new());
            }
            let options = LogsOptionsBuilder::new()
                .stdout(true)
                .stderr(true)
                .tail(&tail.to_string())
                .build();
            let mut stream = self.inner.docker.logs(&id, Some(options));
            let mut bytes = Vec::new();
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|err| {
                    ContainerError::from_engine(
                        format!("failed to read logs of container `{container}`"),
                        err,
                    )
                })?;
                bytes.extend_from_slice(chunk.as_ref());
            }
            Ok(split_lines(&bytes, tail as usize))
        };
        log_outcome("logs", result.await)
    }

    /// Runs `command` (no shell) in a running container and waits up to
    /// `timeout` for it to exit.
    ///
    /// # Errors
    ///
    /// `InvalidRequest` for an empty or oversized command, `Conflict` when
    /// the container is not running, `Unavailable` when the command does
    /// not finish within `timeout`, plus the errors of
    /// [`ContainerHost::logs`].
    #[instrument(
        name = "container.exec",
        skip_all,
        fields(adapter = %adapter, container = %container, program, environment = tracing::field::Empty)
    )]
    pub async fn exec(
        &self,
        adapter: &AdapterName,
        container: &str,
        command: Vec<String>,
        timeout: Duration,
    ) -> Result<ExecOutput, ContainerError> {
        let result = async {
            check_command(&command)?;
            tracing::Span::current().record("program", command[0].as_str());
            let response = self.owned(adapter, container).await?;
            let running = response
                .state
                .as_ref()
                .and_then(|state| state.running)
                .unwrap_or(false);
            if !running {
                return Err(ContainerError::Conflict(format!(
                    "container `{container}` is not running: commands run only in running \
                     containers"
                )));
            }
            let id = response.id.unwrap_or_default();

            let run = self.run_exec(&id, container, command);
            let output = tokio::time::timeout(timeout, run).await.map_err(|_| {
                ContainerError::Unavailable(format!(
                    "command in container `{container}` did not finish within {timeout:?}; it \
                     may still be running"
                ))
            })??;
            info!(exit_code = output.exit_code, "command finished");
            Ok(output)
        };
        log_outcome("exec", result.await)
    }

    async fn run_exec(
        &self,
        id: &str,
        container: &str,
        command: Vec<String>,
    ) -> Result<ExecOutput, ContainerError> {
        let engine_error = |err| {
            ContainerError::from_engine(format!("failed to run a command in `{container}`"), err)
        };
        let options = CreateExecOptions {
            cmd: Some(command),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            privileged: Some(false),
            ..CreateExecOptions::default()
        };
        let exec = self
            .inner
            .docker
            .create_exec(id, options)
            .await
            .map_err(engine_error)?;

        let started = self
            .inner
            .docker
            .start_exec(&exec.id, None::<StartExecOptions>)
            .await
            .map_err(engine_error)?;
        let mut kept = Vec::new();
        let mut truncated = false;
        if let StartExecResults::Attached { mut output, .. } = started {
            while let Some(chunk) = output.next().await {
                let chunk = chunk.map_err(engine_error)?;
                let bytes = chunk.as_ref();
                let room = MAX_EXEC_OUTPUT_BYTES.saturating_sub(kept.len());
                kept.extend_from_slice(&bytes[..room.min(bytes.len())]);
                truncated |= bytes.len() > room;
            }
        }

        let inspected = self
            .inner
            .docker
            .inspect_exec(&exec.id)
            .await
            .map_err(engine_error)?;
        Ok(ExecOutput {
            exit_code: inspected.exit_code.unwrap_or(-1),
            output: String::from_utf8_lossy(&kept).into_owned(),
            truncated,
        })
    }
}

fn check_command(command: &[String]) -> Result<(), ContainerError> {
    let Some(program) = command.first() else {
        return Err(ContainerError::InvalidRequest(
            "invalid command: expected a program and its arguments, got nothing".to_owned(),
        ));
    };
    if program.is_empty() {
        return Err(ContainerError::InvalidRequest(
            "invalid command: the program name is empty".to_owned(),
        ));
    }
    if command.len() > MAX_EXEC_ARGS {
        return Err(ContainerError::InvalidRequest(format!(
            "invalid command: {} arguments, at most {MAX_EXEC_ARGS} are allowed",
            command.len()
        )));
    }
    if let Some(arg) = command.iter().find(|arg| arg.contains('\0')) {
        return Err(ContainerError::InvalidRequest(format!(
            "invalid command argument {arg:?}: contains a NUL byte"
        )));
    }
    Ok(())
}

/// Splits log output into at most `tail` lines without their newlines, the
/// last ones kept, each cut at [`MAX_LOG_LINE_BYTES`].
fn split_lines(bytes: &[u8], tail: usize) -> Vec<String> {
    let text = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    if text.is_empty() {
        return Vec::new();
    }
    let lines: Vec<&[u8]> = text.split(|byte| *byte == b'\n').collect();
    let skip = lines.len().saturating_sub(tail);
    lines[skip..]
        .iter()
        .map(|line| {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let cut = &line[..line.len().min(MAX_LOG_LINE_BYTES)];
            String::from_utf8_lossy(cut).into_owned()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_lines_keeps_the_last_lines() {
        assert_eq!(split_lines(b"a\nb\r\nc\n", 2), ["b", "c"]);
        assert_eq!(split_lines(b"a\nb", 5), ["a", "b"]);
        assert!(split_lines(b"", 5).is_empty());
    }

    #[test]
    fn split_lines_cuts_long_lines() {
        let long = vec![b'x'; MAX_LOG_LINE_BYTES + 10];
        let lines = split_lines(&long, 1);
        assert_eq!(lines[0].len(), MAX_LOG_LINE_BYTES);
    }

    #[test]
    fn empty_command_is_invalid() {
        let err = check_command(&[]).unwrap_err();
        assert!(err.to_string().contains("got nothing"), "{err}");
        let err = check_command(&[String::new()]).unwrap_err();
        assert!(err.to_string().contains("empty"), "{err}");
    }
}
