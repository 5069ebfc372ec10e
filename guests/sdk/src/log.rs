//! Log lines from the adapter. The host routes them into its own log with the
//! adapter's name attached, and rate-limits them.

use crate::bindings::base::envhost::provider::log as host;

pub use host::Level;

/// Sends `message` to the host's log at `level`.
pub fn log(level: Level, message: &str) {
    host::log(level, message);
}

/// Sends `message` at trace level.
pub fn trace(message: &str) {
    log(Level::Trace, message);
}

/// Sends `message` at debug level.
pub fn debug(message: &str) {
    log(Level::Debug, message);
}

/// Sends `message` at info level.
pub fn info(message: &str) {
    log(Level::Info, message);
}

/// Sends `message` at warn level.
pub fn warn(message: &str) {
    log(Level::Warn, message);
}

/// Sends `message` at error level.
pub fn error(message: &str) {
    log(Level::Error, message);
}
