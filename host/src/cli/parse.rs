//! Parsers for command-line values that clap does not know.

use std::time::Duration;

/// Parses `KEY=VALUE`. The value may be empty or contain `=`; the key may not
/// be empty.
pub(crate) fn parse_key_value(input: &str) -> Result<(String, String), String> {
    let Some((key, value)) = input.split_once('=') else {
        return Err(format!("invalid `{input}`: expected KEY=VALUE"));
    };
    if key.is_empty() {
        return Err(format!("invalid `{input}`: the key before `=` is empty"));
    }
    Ok((key.to_owned(), value.to_owned()))
}

/// Parses a lease length such as `30m`, `1h30m` or `90s` into milliseconds.
pub(crate) fn parse_ttl_ms(input: &str) -> Result<u64, String> {
    let duration = humantime::parse_duration(input)
        .map_err(|err| format!("invalid ttl `{input}`: {err} (expected e.g. `30m` or `2h`)"))?;
    if duration < Duration::from_millis(1) {
        return Err(format!("invalid ttl `{input}`: must be at least 1ms"));
    }
    u64::try_from(duration.as_millis()).map_err(|_| format!("invalid ttl `{input}`: too long"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_value_splits_at_first_equals() {
        let parsed = parse_key_value("URL=http://x/?a=b").unwrap();
        assert_eq!(parsed, ("URL".to_owned(), "http://x/?a=b".to_owned()));
    }

    #[test]
    fn key_value_allows_empty_value() {
        assert_eq!(
            parse_key_value("EMPTY=").unwrap(),
            ("EMPTY".to_owned(), String::new())
        );
    }

    #[test]
    fn key_value_without_equals_is_rejected() {
        let err = parse_key_value("FOO").unwrap_err();
        assert!(err.contains("`FOO`"), "{err}");
        assert!(err.contains("KEY=VALUE"), "{err}");
    }

    #[test]
    fn key_value_with_empty_key_is_rejected() {
        let err = parse_key_value("=bar").unwrap_err();
        assert!(err.contains("`=bar`"), "{err}");
        assert!(err.contains("key"), "{err}");
    }

    #[test]
    fn ttl_thirty_minutes_is_1800000_ms() {
        assert_eq!(parse_ttl_ms("30m").unwrap(), 1_800_000);
    }

    #[test]
    fn ttl_accepts_compound_durations() {
        assert_eq!(parse_ttl_ms("1h 30m").unwrap(), 5_400_000);
        assert_eq!(parse_ttl_ms("250ms").unwrap(), 250);
    }

    #[test]
    fn ttl_rejects_zero_and_garbage() {
        let zero = parse_ttl_ms("0s").unwrap_err();
        assert!(zero.contains("`0s`"), "{zero}");
        let garbage = parse_ttl_ms("soon").unwrap_err();
        assert!(garbage.contains("`soon`"), "{garbage}");
        let bare_number = parse_ttl_ms("30").unwrap_err();
        assert!(bare_number.contains("`30`"), "{bare_number}");
    }
}
