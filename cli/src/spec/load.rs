//! Reading documents from files and URLs, and writing them back.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use super::yaml_depth::{self, MAX_YAML_DEPTH};
use super::{DocumentFormat, SpecError};

/// A 2 MB document over a slow link still fits; a hung server does not hang CI forever.
const FETCH_TIMEOUT: Duration = Duration::from_secs(120);

/// The largest document read, from a file or a URL: 64 MiB. Upstream's is about 2 MB; a larger
/// one is refused before it is read ([`SpecError::TooLarge`]), from its size when it is known
/// (file metadata, `Content-Length`), else once more than this has come.
pub const MAX_DOCUMENT_BYTES: u64 = 64 * 1024 * 1024;

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
    let text = read_text(path)?;
    parse_document(&text, &path.display().to_string())
}

/// Reads a file of UTF-8 text of at most [`MAX_DOCUMENT_BYTES`]: a larger one is refused from
/// its size, before it is read, and one whose size is not known beforehand (a pipe, a device)
/// once more than that has been read.
///
/// ```
/// use authing_otp_cli::spec::{read_text, SpecError};
///
/// let err = read_text("/dev/zero".as_ref()).unwrap_err();
/// assert!(matches!(err, SpecError::TooLarge { size: None, .. }));
/// assert_eq!(
///     err.to_string(),
///     "/dev/zero is larger than the 64 MiB limit for an OpenAPI document (upstream's is a few \
///      MB); refused unread"
/// );
/// ```
pub fn read_text(path: &Path) -> Result<String, SpecError> {
    let io = |source| SpecError::Io {
        action: "reading",
        path: path.to_owned(),
        source,
    };
    let too_large = |size| SpecError::TooLarge {
        origin: path.display().to_string(),
        size,
        limit: MAX_DOCUMENT_BYTES,
    };
    let file = File::open(path).map_err(io)?;
    let size = file.metadata().map_err(io)?.len();
    if size > MAX_DOCUMENT_BYTES {
        return Err(too_large(Some(size)));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    file.take(MAX_DOCUMENT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > MAX_DOCUMENT_BYTES {
        return Err(too_large(None));
    }
    String::from_utf8(bytes).map_err(|_| {
        io(io::Error::new(
            io::ErrorKind::InvalidData,
            "stream did not contain valid UTF-8",
        ))
    })
}

/// Parses `text` as JSON when it starts with `{` or `[`, as YAML otherwise, and checks that it is
/// OpenAPI 3.0.x. `origin` (a path or URL) only appears in error messages. Both parsers refuse
/// documents nested deeper than 128 levels; for YAML that is checked before parsing
/// ([`MAX_YAML_DEPTH`]).
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
        // libyaml takes time quadratic in the depth of flow collections: measured first.
        if let Some(line) = yaml_depth::too_deep(text, MAX_YAML_DEPTH) {
            return Err(SpecError::TooDeep {
                origin: origin.to_owned(),
                line,
                limit: MAX_YAML_DEPTH,
            });
        }
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
    let too_large = |size| SpecError::TooLarge {
        origin: url.to_owned(),
        size,
        limit: MAX_DOCUMENT_BYTES,
    };
    // The client crate's TLS set-up: its crypto provider, never a process-wide one. It never
    // follows a redirect.
    let builder = authing_otp::tls::http_client_builder().map_err(|source| SpecError::Setup {
        url: url.to_owned(),
        source,
    })?;
    let client = builder.timeout(FETCH_TIMEOUT).build().map_err(network)?;
    let mut response = client.get(url).send().await.map_err(network)?;
    let status = response.status();
    if !status.is_success() {
        // Where a redirect points, by origin only: its path and query may carry tokens.
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .filter(|_| status.is_redirection());
        let redirect = location.map(|l| match l.to_str().map(|l| response.url().join(l)) {
            Ok(Ok(to)) => to.origin().ascii_serialization(),
            _ => "<not a URL>".to_owned(),
        });
        return Err(SpecError::Status {
            url: url.to_owned(),
            status: status.to_string(),
            redirect,
        });
    }
    if let Some(size) = response.content_length()
        && size > MAX_DOCUMENT_BYTES
    {
        return Err(too_large(Some(size)));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(network)? {
        if (body.len() + chunk.len()) as u64 > MAX_DOCUMENT_BYTES {
            return Err(too_large(None));
        }
        body.extend_from_slice(&chunk);
    }
    String::from_utf8(body).map_err(|_| SpecError::invalid(url, "its body is not UTF-8 text"))
}
