//! Keeping `openapi/authing-otp.json` in step with the vendor's OpenAPI document.
//!
//! The fragment the client is generated from is a mechanical extract of the upstream Authing V3
//! management document. Its top-level `x-authing-otp-derivation` object says how it was made:
//! which operations to take (by method and path, so an upstream operationId rename does not lose
//! them), under which short operationId, which operation fields to drop (`dropOperationFields`),
//! which fields to drop from every schema (`dropSchemaFields`: `format`, so that dates stay
//! strings rather than chrono types), and which fields (`info`, `description`, `summary`,
//! `example`) are the crate's own rather than upstream's.
//!
//! - [`load_document`] / [`parse_document`] read an upstream document (JSON or YAML, file or
//!   URL) and insist on OpenAPI 3.0.x.
//! - [`derive_fragment`] applies that derivation to an upstream document. Deriving from the
//!   document the fragment came from gives the fragment back byte for byte (via [`to_json_text`]).
//! - [`compare`] reports the structural [`Difference`]s between the fragment and a freshly derived
//!   one; [`drift`] does both steps. `authing-otp spec check` and `spec sync` are thin wrappers.
//!
//! # What the derivation produces
//!
//! Top-level keys in this order: `openapi`, `info`, `x-authing-otp-derivation`, `servers`,
//! (`security` if upstream has one), `paths`, `components`. Paths follow the order of the
//! derivation's `operations` list; inside every object upstream's key order is kept, and a field
//! only we have (say, a `description` upstream lacks) comes last. `components` keeps upstream's
//! `securitySchemes` whole and, of every other kind, only what the selected operations reach
//! through `$ref` (transitively), sorted by name so that upstream reshuffling its 800 schemas
//! does not move ours. Where our fragment has a `description`, `summary` or `example` at the same
//! place (parameters matched by name and location, other arrays by index), ours wins; where it
//! has none (an operation just added to the list, and the schemas it brings), upstream's is
//! taken: write ours in the fragment afterwards, and later syncs keep them. Schema fields listed
//! in `dropSchemaFields` are removed wherever a schema is (components, parameters, media types,
//! nested properties and items), so upstream changing them is not reported either. Each
//! `operations` entry records upstream's operationId as `upstreamOperationId`, so a rename
//! upstream is reported (as a note) and recorded by a sync.
//!
//! # How differences are classified
//!
//! [`compare`] ignores descriptions, summaries, examples, `info` and key order. Every other
//! difference gets one of three [`Severity`]s:
//!
//! - [`Severity::Breaking`]: code built from the current fragment could stop working against the
//!   server, or stop compiling after a sync.
//! - [`Severity::Additive`]: a compatible change to what goes on the wire or to the generated
//!   types: something new, or something relaxed.
//! - [`Severity::Note`]: nothing on the wire or in the generated code changes, but the fragment
//!   records it, so `spec sync` rewrites the file. `spec check` lists notes and never fails on
//!   them; `--fail-on additive` (the default) fails on breaking and additive differences,
//!   `--fail-on breaking` on breaking ones only.
//!
//! Whether a schema is input (reached from parameters or a request body) or output (reached from
//! a response) decides the direction-dependent rows; a schema used both ways takes the stricter.
//!
//! | change | input | output |
//! |---|---|---|
//! | operation (method + path) gone, or its (short) operationId changed | breaking | breaking |
//! | schema, property or parameter removed or renamed | breaking | breaking |
//! | `type`, `format`, `$ref` target or `security` changed | breaking | breaking |
//! | `enum` added or dropped as a whole | breaking | breaking |
//! | response code or media type removed | breaking | breaking |
//! | new property or parameter | breaking if required, else additive | additive |
//! | existing property or parameter becomes required | breaking | additive |
//! | property becomes optional | additive | breaking |
//! | enum value added | additive | breaking (1) |
//! | enum value removed | breaking | additive |
//! | becomes `nullable` | additive | breaking |
//! | stops being `nullable` | breaking | additive |
//! | `default` changed | breaking (2) | additive |
//! | other keyword (`maxItems`, `pattern`, ...) added or changed | breaking | additive |
//! | other keyword removed | additive | additive |
//! | `allOf: [{$ref}]` wrapping added or removed around the same target | additive | additive |
//! | new response code or media type | additive | additive |
//! | `deprecated`, `servers`, `openapi` version | additive | additive |
//! | upstream's operationId (`upstreamOperationId`) changed, added or removed | note | note |
//! | operation `tags` or `externalDocs`; schema `externalDocs` or `xml` | note | note |
//!
//! (1) Generated enums are closed: decoding the new value fails. (2) Omitting the field now means
//! something else.
//!
//! Notes cover what the fragment records but the generator does not read: the client's methods
//! are named after the short operationIds, so upstream's own operationId is bookkeeping;
//! progenitor merges all tags into one `Client` (its default tag style, which `build.rs` keeps),
//! reads no `externalDocs`, and speaks JSON only, so `xml` is never used. (The derivation drops
//! `tags` from operations anyway, so tag notes only appear if `dropOperationFields` stops
//! listing them.)
//!
//! Renames are recognised rather than shown as a removal plus an addition: a schema is renamed
//! when the same place refers to `A` in the fragment and to `B` upstream, `A` no longer exists
//! upstream and `B` did not exist before; a property or parameter is renamed when exactly one
//! removed and one added entry have the same shape. A new property that is also required is one
//! difference, with the note `required`.

mod derive;
mod diff;
mod load;
mod walk;
mod yaml_depth;

use std::borrow::Cow;
use std::fmt;
use std::fmt::Write as _;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use derive::{derive_fragment, missing_operations};
pub use diff::compare;
pub use load::{
    MAX_DOCUMENT_BYTES, check_version, load_document, parse_document, read_document, read_text,
    to_json_text,
};
pub use yaml_depth::MAX_YAML_DEPTH;

/// Whether printing `c` could act on a terminal rather than show: control characters (C0, DEL,
/// C1: escape sequences start with them) and the bidirectional overrides and isolates
/// (U+202A-U+202E, U+2066-U+2069), which reorder how the rest of a line is shown.
fn acts_on_terminal(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `text` safe to print on a terminal: every character that could act on the terminal (see
/// below) written as a Rust escape, `\u{1b}`; borrowed when there is none.
///
/// Names, values and error messages that come from a document (or a URL, or a path) go through
/// this before they are printed: control characters (line breaks and tabs included, so that a
/// name cannot forge lines of a report) and the bidirectional overrides and isolates U+202A to
/// U+202E and U+2066 to U+2069. Backslashes are left as they are.
///
/// ```
/// use authing_otp_cli::spec::printable;
///
/// assert_eq!(printable("schema \u{1b}[2Jevil\u{202e}txt\n"), r"schema \u{1b}[2Jevil\u{202e}txt\u{a}");
/// assert!(matches!(printable("GET /api/v3/get-otp"), std::borrow::Cow::Borrowed(_)));
/// ```
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(acts_on_terminal) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if acts_on_terminal(c) {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// JSON text (as serde_json writes it) with the characters [`printable`] escapes and serde_json
/// does not (DEL, C1 controls, bidirectional overrides) written as JSON escapes, `\u009b`: the
/// same JSON, safe to print. serde_json already escapes the other control characters in strings;
/// outside strings there are only the line breaks and spaces of pretty printing, kept.
///
/// ```
/// use authing_otp_cli::spec::printable_json;
///
/// let name = "a\u{1b}b\u{7f}\u{9b}c\u{2066}";
/// let text = serde_json::to_string(&serde_json::json!({ "name": name })).unwrap();
/// let safe = printable_json(&text);
/// assert_eq!(safe, r#"{"name":"a\u001bb\u007f\u009bc\u2066"}"#);
/// assert_eq!(serde_json::from_str::<serde_json::Value>(&safe).unwrap()["name"], name);
/// ```
pub fn printable_json(text: &str) -> Cow<'_, str> {
    // Not C0 (below a space): escaped in strings by serde_json, and pretty printing's outside.
    let escaped = |c: char| acts_on_terminal(c) && c > ' ';
    if !text.chars().any(escaped) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if escaped(c) {
            let _ = write!(out, "\\u{:04x}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Derives a fragment from `upstream` with the derivation of `fragment`, and compares.
///
/// An empty list means the fragment matches upstream structurally.
///
/// ```no_run
/// # async fn demo() -> Result<(), authing_otp_cli::spec::SpecError> {
/// use authing_otp_cli::spec;
///
/// let upstream = spec::load_document("management-openapi.json").await?;
/// let fragment = spec::read_document("openapi/authing-otp.json".as_ref())?;
/// for difference in spec::drift(&upstream, &fragment)? {
///     println!("{difference}");
/// }
/// # Ok(())
/// # }
/// ```
pub fn drift(upstream: &Value, fragment: &Value) -> Result<Vec<Difference>, SpecError> {
    let derived = derive_fragment(upstream, fragment)?;
    Ok(compare(fragment, &derived))
}

/// One structural difference between the fragment and upstream.
///
/// Renders on one line as `<location>: <change>[ (<note>)]`, for example
/// `GET /api/v3/get-otp-secret-by-user param userIdType enum: + "passkey"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Difference {
    /// Whether code built from the current fragment is affected, or only the fragment's records.
    pub severity: Severity,
    /// Where, readable: `POST /api/v3/import-otp request body`, `schema X property y type`.
    pub location: String,
    /// What changed, from the fragment's value to upstream's.
    pub change: Change,
    /// Extra context, such as `required` for a new property.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// How much a [`Difference`] matters; see the module documentation for the rules.
///
/// Ordered from most to least serious (`Breaking < Additive < Note`), which is the order
/// [`compare`] lists differences in. More classes may be added: match with a wildcard arm, or use
/// [`Severity::reaches_client`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Severity {
    /// Code built from the current fragment may fail against the server or after a sync.
    Breaking,
    /// Compatible: something new, or something relaxed, on the wire or in the generated types.
    Additive,
    /// Nothing on the wire or in the generated code changes (upstream's operationId, tags, ...);
    /// the fragment records it, so `spec sync` still rewrites the file.
    Note,
}

impl Severity {
    /// Whether the difference changes what goes on the wire or the generated code: true for
    /// [`Breaking`](Severity::Breaking) and [`Additive`](Severity::Additive), false for a
    /// [`Note`](Severity::Note).
    ///
    /// ```
    /// use authing_otp_cli::spec::Severity;
    ///
    /// assert!(Severity::Additive.reaches_client());
    /// assert!(!Severity::Note.reaches_client());
    /// assert_eq!(Severity::Note.to_string(), "note");
    /// ```
    pub fn reaches_client(self) -> bool {
        self != Severity::Note
    }
}

/// A change at one location, from the fragment's side (`from`) to upstream's (`to`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    /// Upstream has a value the fragment lacks (an enum value, a property name, ...).
    Added {
        /// The new value.
        value: Value,
    },
    /// The fragment has a value upstream lacks.
    Removed {
        /// The value that is gone.
        value: Value,
    },
    /// The value differs, or a name was changed.
    Changed {
        /// The fragment's value.
        from: Value,
        /// Upstream's value.
        to: Value,
    },
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Breaking => "breaking",
            Severity::Additive => "additive",
            Severity::Note => "note",
        })
    }
}

/// Values are written as compact JSON so strings keep their quotes (`"string" -> "number"`),
/// and [`printable`]: what comes from a document is never printed raw.
impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Change::Added { value } => format!("+ {value}"),
            Change::Removed { value } => format!("- {value}"),
            Change::Changed { from, to } => format!("{from} -> {to}"),
        };
        f.write_str(&printable(&text))
    }
}

/// One line, [`printable`]: names from the document cannot act on a terminal nor forge lines.
///
/// ```
/// use authing_otp_cli::spec::{Change, Difference, Severity};
///
/// let difference = Difference {
///     severity: Severity::Additive,
///     location: "schema Evil\u{1b}[2J\nbreaking: fake".into(),
///     change: Change::Added { value: "\u{202e}txt".into() },
///     note: None,
/// };
/// assert_eq!(
///     difference.to_string(),
///     r#"schema Evil\u{1b}[2J\u{a}breaking: fake: + "\u{202e}txt""#
/// );
/// ```
impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", printable(&self.location), self.change)?;
        if let Some(note) = &self.note {
            write!(f, " ({})", printable(note))?;
        }
        Ok(())
    }
}

/// The syntax a document was parsed as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocumentFormat {
    /// JSON (the document starts with `{` or `[`).
    Json,
    /// YAML (anything else).
    Yaml,
}

impl fmt::Display for DocumentFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DocumentFormat::Json => "JSON",
            DocumentFormat::Yaml => "YAML",
        })
    }
}

/// Everything that can go wrong reading, deriving or writing a document.
///
/// Messages are [`printable`]: what they quote of a document, path or URL cannot act on a
/// terminal.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpecError {
    /// A file could not be read or written.
    #[error("I/O error {action} {}: {source}", printable(&path.display().to_string()))]
    Io {
        /// What was being done: `reading` or `writing`.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A document could not be fetched.
    #[error("network error fetching {}: {}", printable(url), printable(&error_chain(.source)))]
    Network {
        /// The URL asked for.
        url: String,
        /// The underlying error (connection, TLS, timeout or HTTP status).
        #[source]
        source: reqwest::Error,
    },
    /// The HTTPS client could not be set up (its TLS configuration).
    #[error("cannot set up HTTPS to fetch {}: {source}", printable(url))]
    Setup {
        /// The URL asked for.
        url: String,
        /// The client crate's configuration error.
        #[source]
        source: authing_otp::Error,
    },
    /// A document is not well-formed JSON or YAML.
    #[error("cannot parse {} as {format}: {}", printable(origin), printable(&source.to_string()))]
    Parse {
        /// The file path or URL.
        origin: String,
        /// What it was parsed as.
        format: DocumentFormat,
        /// 1-based line of the error, when known.
        line: Option<usize>,
        /// 1-based column of the error, when known.
        column: Option<usize>,
        /// The parser's message (it names the position too).
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A document parsed but is not something we can use.
    #[error(
        "{} is not a usable OpenAPI 3.0 document: {}",
        printable(origin),
        printable(problem)
    )]
    Invalid {
        /// The file path or URL, or `upstream` / `fragment` when comparing in memory.
        origin: String,
        /// What is missing or wrong.
        problem: String,
    },
    /// A document is larger than [`MAX_DOCUMENT_BYTES`]; it was not read whole.
    #[error(
        "{} is {}larger than the {} MiB limit for an OpenAPI document (upstream's is a few MB); \
         refused unread",
        printable(origin),
        size.map_or_else(String::new, |n| format!("{n} bytes, ")),
        limit / (1024 * 1024)
    )]
    TooLarge {
        /// The file path or URL.
        origin: String,
        /// Its size, when it was announced (file metadata, `Content-Length`).
        size: Option<u64>,
        /// The limit, [`MAX_DOCUMENT_BYTES`].
        limit: u64,
    },
    /// A YAML document nests collections deeper than [`MAX_YAML_DEPTH`]; it was not parsed.
    #[error(
        "cannot parse {} as YAML: nested deeper than {limit} levels at line {line}; refused \
         before parsing",
        printable(origin)
    )]
    TooDeep {
        /// The file path or URL.
        origin: String,
        /// The 1-based line where it first nests too deeply.
        line: usize,
        /// The limit, [`MAX_YAML_DEPTH`].
        limit: usize,
    },
    /// The server answered a URL with a status other than 2xx: the body is not read. A
    /// redirect is not followed (it is shown with the origin it points to only, as its path
    /// and query may carry tokens).
    #[error(
        "fetching {}: the server answered {status}{}",
        printable(url),
        redirect.as_ref().map_or_else(
            String::new,
            |to| format!(", a redirect to {} (not followed: give the URL it points to)", printable(to))
        )
    )]
    Status {
        /// The URL asked for.
        url: String,
        /// The status, with its reason (`404 Not Found`).
        status: String,
        /// For a redirect (3xx with a `Location`), the scheme, host and port it points to
        /// (`<not a URL>` when it cannot be read as one).
        redirect: Option<String>,
    },
}

/// `error: cause: cause of cause`, since reqwest's own message leaves the causes out.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

impl SpecError {
    pub(crate) fn invalid(origin: &str, problem: impl Into<String>) -> Self {
        SpecError::Invalid {
            origin: origin.to_owned(),
            problem: problem.into(),
        }
    }
}
