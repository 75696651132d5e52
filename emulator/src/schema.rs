//! Request validation driven by the OpenAPI fragment the client is generated from.
//!
//! A small interpreter for the part of OpenAPI 3.0 the fragment uses: `type` (`object`,
//! `array`, `string`, `number`, `integer`, `boolean`), `properties`, `required`, `enum`,
//! `items`, `allOf`, `$ref`, `nullable`, `default`, the length/size/range bounds, and
//! operation `parameters` (`name`, `in`, `required`, `schema`) and `requestBody`. Annotations
//! (`description`, `example`, `format`, …) are ignored. A unit test fails when the fragment
//! starts using a keyword this interpreter does not know, so that a `spec sync` cannot silently
//! loosen the emulator's checks.
//!
//! Messages name the offending place as a path into the request (`list[2].otp.secret:
//! required`, `userIdType: must be one of …`) and never repeat a submitted value, so that no
//! secret ends up in a response.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use http::HeaderMap;
use serde_json::{Map, Number, Value};

use crate::echo::{PROBLEM_CHARS, SHOWN, clip};

/// The parsed fragment the client was generated from (the single source of truth for what a
/// request must look like), shared by every emulator in the process.
pub(crate) static SPEC: LazyLock<Spec> = LazyLock::new(|| {
    Spec::parse(authing_otp::OPENAPI_FRAGMENT).expect("the client's fragment is valid JSON")
});

/// Keywords of a schema object the interpreter checks.
#[cfg(test)]
const CHECKED: &[&str] = &[
    "$ref",
    "type",
    "properties",
    "required",
    "enum",
    "items",
    "allOf",
    "nullable",
    "default",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "minimum",
    "maximum",
];

/// Keywords of a schema object that do not constrain a value.
#[cfg(test)]
const ANNOTATIONS: &[&str] = &[
    "description",
    "example",
    "format",
    "title",
    "deprecated",
    "readOnly",
    "writeOnly",
];

/// Deepest `$ref`/`allOf`/`properties` nesting followed before giving up (guards against a
/// self-referencing schema).
const MAX_DEPTH: u32 = 64;

/// An OpenAPI document, kept as JSON.
pub(crate) struct Spec {
    doc: Value,
}

/// One operation of a [`Spec`].
pub(crate) struct OperationSpec<'a> {
    spec: &'a Spec,
    op: &'a Value,
}

/// Validation failures: the first [`SHOWN`] messages, in the order found, and how many there
/// were in all. A body of 100,000 broken items makes 200,000 problems; keeping only a few
/// keeps both the work and the answer small.
#[derive(Debug, Default)]
pub(crate) struct Problems {
    shown: Vec<String>,
    total: usize,
}

impl Problems {
    /// One problem.
    pub(crate) fn one(message: String) -> Self {
        let mut problems = Self::default();
        problems.push(message);
        problems
    }

    /// Records a problem; past the first [`SHOWN`], only counts it.
    pub(crate) fn push(&mut self, message: String) {
        if self.shown.len() < SHOWN {
            self.shown.push(clip(&message, PROBLEM_CHARS).into_owned());
        }
        self.total += 1;
    }

    /// Whether there are none.
    pub(crate) fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// How many there are, shown or not.
    pub(crate) fn total(&self) -> usize {
        self.total
    }

    /// The messages kept.
    #[cfg(test)]
    pub(crate) fn shown(&self) -> &[String] {
        &self.shown
    }

    /// The shown problems separated by `; `, then `; … and <n> more` when some were left out.
    pub(crate) fn message(&self) -> String {
        let mut message = self.shown.join("; ");
        let more = self.total - self.shown.len();
        if more > 0 {
            message.push_str(&format!("; … and {more} more"));
        }
        message
    }
}

/// In tests, problems equal a list of messages when that is all of them.
#[cfg(test)]
impl<const N: usize> PartialEq<[&str; N]> for Problems {
    fn eq(&self, other: &[&str; N]) -> bool {
        self.total == N && self.shown == other
    }
}

impl Spec {
    /// Parses a document.
    pub(crate) fn parse(text: &str) -> Result<Self, serde_json::Error> {
        Ok(Self {
            doc: serde_json::from_str(text)?,
        })
    }

    /// The operation at `method` (any case) and `path`, if the document has one.
    pub(crate) fn operation(&self, method: &str, path: &str) -> Option<OperationSpec<'_>> {
        let op = self
            .doc
            .get("paths")?
            .get(path)?
            .get(method.to_ascii_lowercase())?;
        Some(OperationSpec { spec: self, op })
    }

    /// Follows a local reference (`#/components/schemas/X`).
    fn resolve(&self, reference: &str) -> Option<&Value> {
        self.doc.pointer(reference.strip_prefix('#')?)
    }

    /// Follows `$ref` until reaching an object that is not a reference.
    fn deref<'a>(&'a self, mut value: &'a Value) -> Option<&'a Value> {
        for _ in 0..MAX_DEPTH {
            match value.get("$ref").and_then(Value::as_str) {
                Some(r) => value = self.resolve(r)?,
                None => return Some(value),
            }
        }
        None
    }

    /// Checks `value` against `schema`, appending one message per problem.
    fn check(
        &self,
        schema: &Value,
        value: &Value,
        path: &Path,
        problems: &mut Problems,
        depth: u32,
    ) {
        if depth > MAX_DEPTH {
            problems.push(format!("{path}: schema nesting too deep"));
            return;
        }
        let Some(obj) = schema.as_object() else {
            return;
        };
        if let Some(reference) = obj.get("$ref").and_then(Value::as_str) {
            // OpenAPI 3.0: a reference's siblings are ignored.
            match self.resolve(reference) {
                Some(target) => self.check(target, value, path, problems, depth + 1),
                None => problems.push(format!("{path}: unresolvable schema reference {reference}")),
            }
            return;
        }
        if value.is_null() && obj.get("nullable") == Some(&Value::Bool(true)) {
            return;
        }
        if let Some(all) = obj.get("allOf").and_then(Value::as_array) {
            for sub in all {
                self.check(sub, value, path, problems, depth + 1);
            }
        }
        if let Some(ty) = obj.get("type").and_then(Value::as_str)
            && !type_matches(ty, value)
        {
            problems.push(format!("{path}: expected {ty}, got {}", kind(value)));
            return;
        }
        if let Some(allowed) = obj.get("enum").and_then(Value::as_array)
            && !allowed.contains(value)
        {
            let names: Vec<String> = allowed
                .iter()
                .map(|v| match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect();
            problems.push(format!("{path}: must be one of {}", names.join(", ")));
        }
        match value {
            Value::Object(map) => self.check_object(obj, map, path, problems, depth),
            Value::Array(items) => {
                check_bound(obj, "minItems", items.len(), path, problems);
                check_bound(obj, "maxItems", items.len(), path, problems);
                if let Some(item_schema) = obj.get("items") {
                    for (i, item) in items.iter().enumerate() {
                        self.check(item_schema, item, &path.index(i), problems, depth + 1);
                    }
                }
            }
            Value::String(s) => {
                let len = s.chars().count();
                check_bound(obj, "minLength", len, path, problems);
                check_bound(obj, "maxLength", len, path, problems);
            }
            Value::Number(n) => {
                let x = n.as_f64().unwrap_or(f64::NAN);
                if let Some(min) = obj.get("minimum").and_then(Value::as_f64)
                    && x < min
                {
                    problems.push(format!("{path}: must be at least {min}"));
                }
                if let Some(max) = obj.get("maximum").and_then(Value::as_f64)
                    && x > max
                {
                    problems.push(format!("{path}: must be at most {max}"));
                }
            }
            Value::Null | Value::Bool(_) => {}
        }
    }

    fn check_object(
        &self,
        schema: &Map<String, Value>,
        map: &Map<String, Value>,
        path: &Path,
        problems: &mut Problems,
        depth: u32,
    ) {
        if let Some(required) = schema.get("required").and_then(Value::as_array) {
            for name in required.iter().filter_map(Value::as_str) {
                if !map.contains_key(name) {
                    problems.push(format!("{}: required", path.child(name)));
                }
            }
        }
        if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
            // Sorted by name, so messages come in the same order whatever serde_json's map is.
            let mut properties: Vec<_> = properties.iter().collect();
            properties.sort_unstable_by_key(|(name, _)| *name);
            for (name, sub) in properties {
                if let Some(v) = map.get(name) {
                    self.check(sub, v, &path.child(name), problems, depth + 1);
                }
            }
        }
    }

    /// Every schema or parameter keyword in the document's operations and components that the
    /// interpreter neither checks nor knows to be an annotation, as `where: keyword`.
    #[cfg(test)]
    pub(crate) fn unknown_keywords(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(schemas) = self
            .doc
            .pointer("/components/schemas")
            .and_then(Value::as_object)
        {
            for (name, schema) in schemas {
                walk_schema(schema, &format!("components.schemas.{name}"), &mut out);
            }
        }
        let paths = self.doc.get("paths").and_then(Value::as_object);
        for (path, item) in paths.into_iter().flatten() {
            for (method, op) in item.as_object().into_iter().flatten() {
                let here = format!("{method} {path}");
                for (i, p) in op
                    .get("parameters")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .enumerate()
                {
                    for key in p.as_object().into_iter().flatten().map(|(k, _)| k) {
                        if ![
                            "name",
                            "in",
                            "required",
                            "description",
                            "example",
                            "schema",
                            "deprecated",
                            "$ref",
                        ]
                        .contains(&key.as_str())
                        {
                            out.push(format!("{here} parameters[{i}]: {key}"));
                        }
                    }
                    if let Some(s) = p.get("schema") {
                        walk_schema(s, &format!("{here} parameters[{i}].schema"), &mut out);
                    }
                }
                if let Some(content) = op
                    .pointer("/requestBody/content")
                    .and_then(Value::as_object)
                {
                    for (media, m) in content {
                        if let Some(s) = m.get("schema") {
                            walk_schema(s, &format!("{here} requestBody {media}"), &mut out);
                        }
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
fn walk_schema(schema: &Value, here: &str, out: &mut Vec<String>) {
    let Some(obj) = schema.as_object() else {
        return;
    };
    for (key, v) in obj {
        if !CHECKED.contains(&key.as_str()) && !ANNOTATIONS.contains(&key.as_str()) {
            out.push(format!("{here}: {key}"));
        }
        match key.as_str() {
            "properties" => {
                for (name, sub) in v.as_object().into_iter().flatten() {
                    walk_schema(sub, &format!("{here}.{name}"), out);
                }
            }
            "items" => walk_schema(v, &format!("{here}[]"), out),
            "allOf" => {
                for (i, sub) in v.as_array().into_iter().flatten().enumerate() {
                    walk_schema(sub, &format!("{here}.allOf[{i}]"), out);
                }
            }
            _ => {}
        }
    }
}

impl OperationSpec<'_> {
    /// Checks the query string and header parameters the operation declares. Returns every
    /// declared parameter that is present or has a schema `default`, converted to its schema
    /// type. Undeclared parameters are ignored.
    pub(crate) fn check_parameters(
        &self,
        query: &[(String, String)],
        headers: &HeaderMap,
    ) -> Result<BTreeMap<String, Value>, Problems> {
        let mut values = BTreeMap::new();
        let mut problems = Problems::default();
        let params = self.op.get("parameters").and_then(Value::as_array);
        for param in params.into_iter().flatten() {
            let Some(param) = self.spec.deref(param) else {
                problems.push("operation: unresolvable parameter reference".to_owned());
                continue;
            };
            let Some(name) = param.get("name").and_then(Value::as_str) else {
                continue;
            };
            let required = param.get("required") == Some(&Value::Bool(true));
            let schema = param.get("schema").unwrap_or(&Value::Null);
            let given: Vec<&str> = match param.get("in").and_then(Value::as_str) {
                Some("query") => query
                    .iter()
                    .filter(|(k, _)| k == name)
                    .map(|(_, v)| v.as_str())
                    .collect(),
                Some("header") => headers
                    .get_all(name)
                    .iter()
                    .map(|v| v.to_str().unwrap_or("\u{fffd}"))
                    .collect(),
                // Path parameters are matched by the router; cookies are not used by this API.
                _ => continue,
            };
            let path = Path::root(name);
            let ty = self.spec.effective_type(schema);
            let value = if given.is_empty() {
                match self.spec.deref(schema).and_then(|s| s.get("default")) {
                    Some(default) => default.clone(),
                    None if required => {
                        problems.push(format!("{path}: required"));
                        continue;
                    }
                    None => continue,
                }
            } else if ty.as_deref() == Some("array") {
                let item_ty = self
                    .spec
                    .deref(schema)
                    .and_then(|s| s.get("items"))
                    .and_then(|items| self.spec.effective_type(items));
                Value::Array(
                    given
                        .iter()
                        .map(|raw| coerce(item_ty.as_deref(), raw))
                        .collect(),
                )
            } else if given.len() > 1 {
                problems.push(format!(
                    "{path}: expected a single value, given {}",
                    given.len()
                ));
                continue;
            } else {
                coerce(ty.as_deref(), given[0])
            };
            let before = problems.total();
            self.spec.check(schema, &value, &path, &mut problems, 0);
            if problems.total() == before {
                values.insert(name.to_owned(), value);
            }
        }
        if problems.is_empty() {
            Ok(values)
        } else {
            Err(problems)
        }
    }

    /// Checks a request body against the operation's `requestBody`. Returns the parsed body, or
    /// `None` when the operation takes none (or an optional one was not sent).
    pub(crate) fn check_body(
        &self,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<Option<Value>, Problems> {
        let Some(request_body) = self
            .op
            .get("requestBody")
            .and_then(|rb| self.spec.deref(rb))
        else {
            return Ok(None);
        };
        let required = request_body.get("required") == Some(&Value::Bool(true));
        if body.iter().all(u8::is_ascii_whitespace) {
            return if required {
                Err(Problems::one("body: required".to_owned()))
            } else {
                Ok(None)
            };
        }
        let content = request_body.get("content").and_then(Value::as_object);
        let essence = content_type
            .and_then(|ct| ct.split(';').next())
            .map(|ct| ct.trim().to_ascii_lowercase());
        let media = content.and_then(|c| {
            let essence = essence.as_deref()?;
            c.get(essence).or_else(|| {
                // `application/merge-patch+json` and friends are JSON too.
                essence
                    .ends_with("+json")
                    .then(|| c.get("application/json"))
                    .flatten()
            })
        });
        let Some(media) = media else {
            let accepted: Vec<&str> = content
                .into_iter()
                .flatten()
                .map(|(k, _)| k.as_str())
                .collect();
            return Err(Problems::one(format!(
                "content-type: expected {}",
                accepted.join(" or ")
            )));
        };
        let value: Value = serde_json::from_slice(body)
            .map_err(|e| Problems::one(format!("body: not valid JSON ({e})")))?;
        let mut problems = Problems::default();
        if let Some(schema) = media.get("schema") {
            self.spec
                .check(schema, &value, &Path::body(), &mut problems, 0);
        }
        if problems.is_empty() {
            Ok(Some(value))
        } else {
            Err(problems)
        }
    }

    /// Checks a response body against the operation's documented 200 response.
    #[cfg(test)]
    pub(crate) fn check_response(&self, value: &Value) -> Problems {
        let mut problems = Problems::default();
        if let Some(schema) = self
            .op
            .pointer("/responses/200/content/application~1json/schema")
        {
            self.spec
                .check(schema, value, &Path::body(), &mut problems, 0);
        } else {
            problems.push("no documented 200 response".to_owned());
        }
        problems
    }
}

impl Spec {
    /// The `type` of a schema after following `$ref` and `allOf` (first one found).
    fn effective_type(&self, schema: &Value) -> Option<String> {
        let schema = self.deref(schema)?;
        if let Some(t) = schema.get("type").and_then(Value::as_str) {
            return Some(t.to_owned());
        }
        schema
            .get("allOf")?
            .as_array()?
            .iter()
            .find_map(|s| self.effective_type(s))
    }
}

/// Converts a query or header value to a JSON value of the schema's type; values that do not
/// convert stay strings, so the type check reports them.
fn coerce(ty: Option<&str>, raw: &str) -> Value {
    match ty {
        Some("number") => raw
            .parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map_or_else(|| Value::String(raw.to_owned()), Value::Number),
        Some("integer") => raw.parse::<i64>().map_or_else(
            |_| Value::String(raw.to_owned()),
            |n| Value::Number(n.into()),
        ),
        Some("boolean") => match raw {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => Value::String(raw.to_owned()),
        },
        _ => Value::String(raw.to_owned()),
    }
}

fn type_matches(ty: &str, value: &Value) -> bool {
    match ty {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "number" => value.is_number(),
        "integer" => {
            value.is_i64() || value.is_u64() || value.as_f64().is_some_and(|f| f.fract() == 0.0)
        }
        "boolean" => value.is_boolean(),
        // An unknown type name constrains nothing (and the keyword test reports nothing: the
        // keyword itself is known). Upstream only uses the names above.
        _ => true,
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn check_bound(
    schema: &Map<String, Value>,
    keyword: &str,
    actual: usize,
    path: &Path,
    problems: &mut Problems,
) {
    let Some(limit) = schema.get(keyword).and_then(Value::as_u64) else {
        return;
    };
    let actual = actual as u64;
    let (ok, what) = match keyword {
        "minItems" => (actual >= limit, format!("at least {limit} items")),
        "maxItems" => (actual <= limit, format!("at most {limit} items")),
        "minLength" => (actual >= limit, format!("at least {limit} characters")),
        _ => (actual <= limit, format!("at most {limit} characters")),
    };
    if !ok {
        problems.push(format!("{path}: must have {what}"));
    }
}

/// Where a value sits in the request: `body`, `list[2].otp.secret`, `userId`.
#[derive(Clone)]
struct Path(String);

impl Path {
    fn body() -> Self {
        Self(String::new())
    }

    fn root(name: &str) -> Self {
        Self(name.to_owned())
    }

    fn child(&self, name: &str) -> Self {
        if self.0.is_empty() {
            Self(name.to_owned())
        } else {
            Self(format!("{}.{name}", self.0))
        }
    }

    fn index(&self, i: usize) -> Self {
        if self.0.is_empty() {
            Self(format!("body[{i}]"))
        } else {
            Self(format!("{}[{i}]", self.0))
        }
    }
}

impl std::fmt::Display for Path {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_empty() {
            f.write_str("body")
        } else {
            f.write_str(&self.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn import() -> OperationSpec<'static> {
        SPEC.operation("POST", "/api/v3/import-otp").unwrap()
    }

    fn body_problems(value: Value) -> Problems {
        import()
            .check_body(Some("application/json"), value.to_string().as_bytes())
            .unwrap_err()
    }

    #[test]
    fn the_interpreter_knows_every_keyword_the_fragment_uses() {
        assert_eq!(SPEC.unknown_keywords(), Vec::<String>::new());
    }

    #[test]
    fn the_emulated_operations_are_in_the_fragment() {
        for op in crate::operation::Operation::ALL {
            assert!(SPEC.operation(op.method(), op.path()).is_some(), "{op:?}");
        }
        assert!(
            SPEC.operation("post", "/api/v3/get-management-token")
                .is_some()
        );
        assert!(SPEC.operation("post", "/api/v3/import-otp").is_some());
        assert!(
            SPEC.operation("get", "/api/v3/get-otp-secret-by-user")
                .is_some()
        );
        assert!(SPEC.operation("get", "/api/v3/import-otp").is_none());
    }

    #[test]
    fn array_query_parameters_collect_repeated_keys() {
        let op = SPEC.operation("GET", "/api/v3/get-user-batch").unwrap();
        let q = |pairs: &[(&str, &str)]| {
            let pairs: Vec<(String, String)> = pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            op.check_parameters(&pairs, &HeaderMap::new())
        };
        let ok = q(&[("userIds", "a"), ("userIdType", "email"), ("userIds", "b")]).unwrap();
        assert_eq!(ok["userIds"], json!(["a", "b"]));
        assert_eq!(ok["userIdType"], "email");
        assert_eq!(ok["withIdentities"], false, "the schema default applies");
        assert_eq!(q(&[]).unwrap_err(), ["userIds: required"]);
        // Node's axios writes `userIds[]=a`: not the parameter the fragment declares.
        assert_eq!(q(&[("userIds[]", "a")]).unwrap_err(), ["userIds: required"]);
        let fifty_one: Vec<(&str, &str)> = (0..51).map(|_| ("userIds", "a")).collect();
        assert_eq!(
            q(&fifty_one).unwrap_err(),
            ["userIds: must have at most 50 items"]
        );
        assert!(q(&fifty_one[..50]).is_ok());
        assert_eq!(
            q(&[("userIds", "a"), ("withIdentities", "yes")]).unwrap_err(),
            ["withIdentities: expected boolean, got string"]
        );
    }

    #[test]
    fn nested_required_fields_and_types_are_reported_with_their_path() {
        let problems = body_problems(json!({"list": [
            {"userId": "a", "otp": {"secret": "S"}},
            {"userId": 5, "otp": {"secret": "S", "recoveryCode": 7}},
            {"userId": "c", "otp": {}},
            {"otp": "x"},
        ]}));
        assert_eq!(
            problems,
            [
                "list[1].otp.recoveryCode: expected string, got number",
                "list[1].userId: expected string, got number",
                "list[2].otp.secret: required",
                "list[3].userId: required",
                "list[3].otp: expected object, got string",
            ]
        );
    }

    #[test]
    fn body_level_problems() {
        assert_eq!(
            body_problems(json!([])),
            ["body: expected object, got array"]
        );
        assert_eq!(body_problems(json!({})), ["list: required"]);
        assert_eq!(
            body_problems(json!({"list": {}})),
            ["list: expected array, got object"]
        );
        let op = import();
        assert_eq!(
            op.check_body(Some("application/json"), b"").unwrap_err(),
            ["body: required"]
        );
        let not_json = op
            .check_body(Some("application/json"), b"{nope")
            .unwrap_err();
        assert!(
            not_json.shown()[0].starts_with("body: not valid JSON ("),
            "{not_json:?}"
        );
        assert_eq!(not_json.total(), 1);
        assert_eq!(
            op.check_body(Some("text/plain"), b"{}").unwrap_err(),
            ["content-type: expected application/json"]
        );
        assert_eq!(
            op.check_body(None, b"{}").unwrap_err(),
            ["content-type: expected application/json"]
        );
        assert!(
            op.check_body(Some("application/json; charset=utf-8"), br#"{"list":[]}"#)
                .is_ok()
        );
    }

    #[test]
    fn only_the_first_problems_are_kept_and_the_rest_counted() {
        let items: Vec<Value> = (0..15).map(|_| json!({})).collect();
        let problems = body_problems(json!({ "list": items }));
        assert_eq!(problems.total(), 30);
        assert_eq!(problems.shown().len(), SHOWN);
        assert_eq!(problems.shown()[0], "list[0].userId: required");
        assert_eq!(problems.shown()[19], "list[9].otp: required");
        assert!(
            problems
                .message()
                .ends_with("list[9].otp: required; … and 10 more"),
            "{}",
            problems.message()
        );
        assert_eq!(
            Problems::one("a".repeat(1000)).message(),
            format!("{}…", "a".repeat(PROBLEM_CHARS))
        );
    }

    #[test]
    fn messages_never_repeat_submitted_values() {
        let problems =
            body_problems(json!({"list": [{"userId": "u1", "otp": {"secret": 1234567}}]}));
        assert_eq!(
            problems,
            ["list[0].otp.secret: expected string, got number"]
        );
    }

    #[test]
    fn query_parameters() {
        let op = SPEC
            .operation("GET", "/api/v3/get-otp-secret-by-user")
            .unwrap();
        let q = |pairs: &[(&str, &str)]| {
            let pairs: Vec<(String, String)> = pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            op.check_parameters(&pairs, &HeaderMap::new())
        };
        let ok = q(&[("userId", "u1")]).unwrap();
        assert_eq!(ok["userId"], "u1");
        assert_eq!(ok["userIdType"], "user_id", "the schema default applies");
        assert_eq!(q(&[]).unwrap_err(), ["userId: required"]);
        assert_eq!(
            q(&[("userId", "u1"), ("userIdType", "nickname")]).unwrap_err(),
            [
                "userIdType: must be one of user_id, external_id, phone, email, username, identity, sync_relation, custom_field"
            ]
        );
        assert_eq!(
            q(&[("userId", "u1"), ("userId", "u2")]).unwrap_err(),
            ["userId: expected a single value, given 2"]
        );
    }

    #[test]
    fn response_schemas_are_checked_too() {
        let op = SPEC
            .operation("GET", "/api/v3/get-otp-secret-by-user")
            .unwrap();
        assert!(
            op.check_response(
                &json!({"statusCode": 200, "message": "success", "data": {"secret": "S"}})
            )
            .is_empty()
        );
        assert_eq!(
            op.check_response(&json!({"statusCode": "200", "message": "success"})),
            ["data: required", "statusCode: expected number, got string"]
        );
    }
}
