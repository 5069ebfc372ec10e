//! Adapter options: the operator's `[adapters.<name>.options]` table, which
//! the host passes to `init` as a JSON object.

use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// Deserializes the options JSON into `T`. An empty string counts as `{}`.
///
/// Give `T` `#[serde(deny_unknown_fields)]` so that a misspelt key fails the
/// load instead of being ignored, and `#[serde(default)]` for optional keys.
///
/// # Errors
///
/// `invalid-request` when the text is not JSON, is not an object, or does
/// not fit `T`. The message names the key by its path, such as
/// `templates.web.ports[0]`.
pub fn parse<T: DeserializeOwned>(json: &str) -> Result<T> {
    let json = if json.trim().is_empty() { "{}" } else { json };
    let value: serde_json::Value = serde_json::from_str(json)
        .map_err(|err| Error::invalid_request(format!("invalid adapter options JSON: {err}")))?;
    if !value.is_object() {
        return Err(Error::invalid_request(format!(
            "adapter options must be a JSON object, got `{value}`"
        )));
    }

    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        Error::invalid_request(format!("invalid adapter option `{path}`: {inner}"))
    })
}

/// Deserializes a JSON object that crosses the boundary as a string, such as
/// a request's `metadata` or a reservation's `data`. An empty string counts
/// as `{}`.
///
/// # Errors
///
/// `invalid-request` naming `field` when the text is not JSON or does not fit
/// `T`.
pub fn parse_json_field<T: DeserializeOwned>(field: &str, json: &str) -> Result<T> {
    let json = if json.trim().is_empty() { "{}" } else { json };
    serde_json::from_str(json)
        .map_err(|err| Error::invalid_request(format!("invalid {field} `{json}`: {err}")))
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Default, PartialEq, Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields, default)]
    struct Options {
        default_image: Option<String>,
        nested: Nested,
    }

    #[derive(Debug, Default, PartialEq, Deserialize)]
    #[serde(deny_unknown_fields, default)]
    struct Nested {
        ports: Vec<u16>,
    }

    fn message(err: Error) -> String {
        assert_eq!(err.kind(), "invalid-request", "{err:?}");
        err.message().to_owned()
    }

    #[test]
    fn empty_text_is_an_empty_object() {
        assert_eq!(parse::<Options>("").unwrap(), Options::default());
        assert_eq!(parse::<Options>(" {} ").unwrap(), Options::default());
    }

    #[test]
    fn known_keys_parse() {
        let options: Options =
            parse(r#"{"defaultImage": "a:1", "nested": {"ports": [80]}}"#).unwrap();
        assert_eq!(options.default_image.as_deref(), Some("a:1"));
        assert_eq!(options.nested.ports, [80]);
    }

    #[test]
    fn unknown_nested_key_is_named_with_its_path() {
        let err = message(parse::<Options>(r#"{"nested": {"prots": []}}"#).unwrap_err());
        assert!(
            err.starts_with("invalid adapter option `nested.prots`"),
            "{err}"
        );
        assert!(err.contains("`prots`"), "{err}");
    }

    #[test]
    fn wrong_type_is_named_with_its_path() {
        let err = message(parse::<Options>(r#"{"nested": {"ports": ["x"]}}"#).unwrap_err());
        assert!(err.contains("`nested.ports[0]`"), "{err}");
    }

    #[test]
    fn options_that_are_not_an_object_are_rejected() {
        let err = message(parse::<Options>("[1]").unwrap_err());
        assert_eq!(err, "adapter options must be a JSON object, got `[1]`");
    }

    #[test]
    fn invalid_json_is_rejected() {
        let err = message(parse::<Options>("{").unwrap_err());
        assert!(err.starts_with("invalid adapter options JSON"), "{err}");
    }

    #[test]
    fn json_field_names_what_it_parses() {
        let err = message(parse_json_field::<Options>("reservation data", "[").unwrap_err());
        assert!(err.starts_with("invalid reservation data `[`"), "{err}");
        assert_eq!(
            parse_json_field::<Options>("metadata", "").unwrap(),
            Options::default()
        );
    }
}
