//! Reading documents from files and URLs, and writing them back.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use super::{DocumentFormat, SpecError};

/// A 2 MB document over a slow link still fits; a hung server does not hang CI forever.
const FETCH_TIMEOUT: Duration = Duration::from_secs(120);

/// Reads an OpenAPI 3.0.x document from a file path or an `https://` (or `http://`) URL.
///
/// JSON and YAML are both accepted; see [`parse_document`].
///
/// ```no_run
/// # async fn demo() -> Result<(), authing_otp_cli::spec::SpecError> {
/// let upstream = authing_otp_cli::spec::load_document(
///     "https://raw.githubusercontent.com/Authing/authing-docs-factory/master/management-openapi.json",
/// )
/// .await?;
/// assert!(upstream["paths"].is_object());
/// # Ok(())
/// # }
/// ```
pub async fn load_document(source: &str) -> Result<Value, SpecError> {
    if source.starts_with("https://") || source.starts_with("http://") {
        let text = fetch(source).await?;
        parse_document(&text, source)
    } else {
        read_document(Path::new(source))
    }
}

/// Reads an OpenAPI 3.0.x document (JSON or YAML) from a file.
///
/// ```no_run
/// let fragment = authing_otp_cli::spec::read_document("openapi/authing-otp.json".as_ref())?;
/// # Ok::<(), authing_otp_cli::spec::SpecError>(())
/// ```
pub fn read_document(path: &Path) -> Result<Value, SpecError> {
    let text = std::fs::read_to_string(path).map_err(|source| SpecError::Io {
        action: "reading",
        path: path.to_owned(),
        source,
    })?;
    parse_document(&text, &path.display().to_string())
}

/// Parses `text` as JSON when it starts with `{` or `[`, as YAML otherwise, and checks that it is
/// OpenAPI 3.0.x. `origin` (a path or URL) only appears in error messages.
///
/// ```
/// use authing_otp_cli::spec::{parse_document, SpecError};
///
/// let doc = parse_document("openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths: {}\n", "inline")?;
/// assert_eq!(doc["openapi"], "3.0.3");
///
/// let err = parse_document(r#"{"swagger": "2.0", "paths": {}}"#, "old.json").unwrap_err();
/// assert!(matches!(err, SpecError::Invalid { .. }));
/// # Ok::<(), SpecError>(())
/// ```
pub fn parse_document(text: &str, origin: &str) -> Result<Value, SpecError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let doc: Value = if text.trim_start().starts_with(['{', '[']) {
        serde_json::from_str(text).map_err(|e| SpecError::Parse {
            origin: origin.to_owned(),
            format: DocumentFormat::Json,
            line: Some(e.line()),
            column: Some(e.column()),
            source: Box::new(e),
        })?
    } else {
        serde_yaml_ng::from_str(text).map_err(|e| SpecError::Parse {
            origin: origin.to_owned(),
            format: DocumentFormat::Yaml,
            line: e.location().map(|l| l.line()),
            column: e.location().map(|l| l.column()),
            source: Box::new(e),
        })?
    };
    check_version(&doc, origin)?;
    Ok(doc)
}

/// Checks that `doc` is an OpenAPI 3.0.x document with a `paths` object.
///
/// ```
/// let doc = serde_json::json!({"openapi": "3.1.0", "paths": {}});
/// let err = authing_otp_cli::spec::check_version(&doc, "new.json").unwrap_err();
/// assert!(err.to_string().contains("3.1.0"));
/// ```
pub fn check_version(doc: &Value, origin: &str) -> Result<(), SpecError> {
    let Some(map) = doc.as_object() else {
        return Err(SpecError::invalid(origin, "the top level is not an object"));
    };
    match map.get("openapi") {
        Some(Value::String(v)) if v.starts_with("3.0.") => {}
        Some(v) => {
            let shown = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
            return Err(SpecError::invalid(
                origin,
                format!("it declares openapi {shown}; only OpenAPI 3.0.x is supported"),
            ));
        }
        None if map.contains_key("swagger") => {
            return Err(SpecError::invalid(
                origin,
                "it is Swagger 2.0; only OpenAPI 3.0.x is supported",
            ));
        }
        None => return Err(SpecError::invalid(origin, "no `openapi` version field")),
    }
    if !map.get("paths").is_some_and(Value::is_object) {
        return Err(SpecError::invalid(origin, "no `paths` object"));
    }
    Ok(())
}

/// Writes a document the way the fragment is stored: pretty JSON, two-space indent, a final newline.
///
/// ```
/// let text = authing_otp_cli::spec::to_json_text(&serde_json::json!({"openapi": "3.0.0"}));
/// assert_eq!(text, "{\n  \"openapi\": \"3.0.0\"\n}\n");
/// ```
pub fn to_json_text(doc: &Value) -> String {
    let mut text =
        serde_json::to_string_pretty(doc).expect("a serde_json::Value always serializes");
    text.push('\n');
    text
}

async fn fetch(url: &str) -> Result<String, SpecError> {
    let network = |source| SpecError::Network {
        url: url.to_owned(),
        source,
    };
    // The client crate's TLS set-up: its crypto provider, never a process-wide one.
    let builder = authing_otp::tls::http_client_builder().map_err(|source| SpecError::Setup {
        url: url.to_owned(),
        source,
    })?;
    let client = builder.timeout(FETCH_TIMEOUT).build().map_err(network)?;
    let response = client.get(url).send().await.map_err(network)?;
    response
        .error_for_status()
        .map_err(network)?
        .text()
        .await
        .map_err(network)
}
