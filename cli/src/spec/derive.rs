//! Deriving the fragment from an upstream document.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use super::walk::{self, Ctx};
use super::{SpecError, check_version};

/// The name of the fragment's top-level derivation object.
pub(crate) const DERIVATION: &str = "x-authing-otp-derivation";

/// One entry of the derivation's `operations` list.
#[derive(Debug, Clone)]
pub(crate) struct Selected {
    /// Lower case, as a path item key.
    pub method: String,
    pub path: String,
    pub operation_id: String,
}

impl Selected {
    pub(crate) fn label(&self) -> String {
        format!("{} {}", self.method.to_uppercase(), self.path)
    }
}

/// The derivation list of a fragment, read.
#[derive(Debug)]
pub(crate) struct Derivation {
    pub operations: Vec<Selected>,
    pub drop_fields: Vec<String>,
    /// Keys removed from every schema object (`format`: see [`drop_schema_fields`]).
    pub drop_schema_fields: Vec<String>,
    /// Keys kept from our fragment (`info`, `description`, ...).
    pub ours: Vec<String>,
}

impl Derivation {
    pub(crate) fn read(fragment: &Value) -> Result<Self, SpecError> {
        let bad =
            |problem: &str| SpecError::invalid("fragment", format!("{DERIVATION}: {problem}"));
        let d = fragment
            .get(DERIVATION)
            .and_then(Value::as_object)
            .ok_or_else(|| SpecError::invalid("fragment", format!("no `{DERIVATION}` object")))?;
        let strings = |key: &str, default: &[&str]| -> Result<Vec<String>, SpecError> {
            match d.get(key) {
                None => Ok(default.iter().map(|s| s.to_string()).collect()),
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|i| {
                        i.as_str()
                            .map(str::to_owned)
                            .ok_or_else(|| bad(&format!("`{key}` holds a non-string")))
                    })
                    .collect(),
                Some(_) => Err(bad(&format!("`{key}` is not a list"))),
            }
        };
        let entries = d
            .get("operations")
            .and_then(Value::as_array)
            .ok_or_else(|| bad("no `operations` list"))?;
        let mut operations = Vec::new();
        for (i, entry) in entries.iter().enumerate() {
            let field = |k: &str| {
                entry
                    .get(k)
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .ok_or_else(|| bad(&format!("operations[{i}] has no string `{k}`")))
            };
            operations.push(Selected {
                method: field("method")?.to_ascii_lowercase(),
                path: field("path")?,
                operation_id: field("operationId")?,
            });
        }
        Ok(Derivation {
            operations,
            drop_fields: strings("dropOperationFields", &[])?,
            drop_schema_fields: strings("dropSchemaFields", &[])?,
            ours: strings("oursNotUpstream", &walk::DEFAULT_OURS)?,
        })
    }

    /// The documentation keys (what [`super::compare`] ignores): `ours` without `info`.
    pub(crate) fn doc_keys(&self) -> Vec<String> {
        self.ours.iter().filter(|k| *k != "info").cloned().collect()
    }
}

/// The operation object at `path` and `method` of a document, if any.
pub(crate) fn operation<'a>(
    doc: &'a Value,
    path: &str,
    method: &str,
) -> Option<&'a Map<String, Value>> {
    doc.get("paths")?.get(path)?.get(method)?.as_object()
}

/// The selected operations (as `METHOD /path`) that `upstream` does not have.
///
/// [`derive_fragment`] leaves them out, so syncing would delete them from the client; `spec sync`
/// refuses to do that silently.
///
/// ```
/// let fragment = serde_json::json!({
///     "openapi": "3.0.0",
///     "paths": {},
///     "x-authing-otp-derivation": {"operations": [
///         {"method": "get", "path": "/a", "operationId": "a"}
///     ]}
/// });
/// let upstream = serde_json::json!({"openapi": "3.0.0", "paths": {}});
/// let missing = authing_otp_cli::spec::missing_operations(&upstream, &fragment)?;
/// assert_eq!(missing, ["GET /a"]);
/// # Ok::<(), authing_otp_cli::spec::SpecError>(())
/// ```
pub fn missing_operations(upstream: &Value, fragment: &Value) -> Result<Vec<String>, SpecError> {
    let d = Derivation::read(fragment)?;
    Ok(d.operations
        .iter()
        .filter(|op| operation(upstream, &op.path, &op.method).is_none())
        .map(Selected::label)
        .collect())
}

/// Applies the derivation list of `current_fragment` to `upstream` and returns the new fragment.
///
/// Operations are selected by method and path and renamed to their short operationId; the
/// `dropOperationFields` are removed; `components` keeps `securitySchemes` and what the
/// operations reach through `$ref`; the `dropSchemaFields` are removed from every schema object; our `info`, descriptions, summaries and examples are kept
/// where the same location exists in `current_fragment`. The `x-authing-otp-derivation` object is
/// copied, with each entry's `upstreamOperationId` set to upstream's. Selected operations that
/// upstream lacks are left out (see [`missing_operations`]). Write the result with
/// [`to_json_text`](super::to_json_text).
///
/// ```no_run
/// use authing_otp_cli::spec;
///
/// let upstream = spec::read_document("management-openapi.json".as_ref())?;
/// let current = spec::read_document("openapi/authing-otp.json".as_ref())?;
/// let derived = spec::derive_fragment(&upstream, &current)?;
/// std::fs::write("openapi/authing-otp.json", spec::to_json_text(&derived)).unwrap();
/// # Ok::<(), spec::SpecError>(())
/// ```
pub fn derive_fragment(upstream: &Value, current_fragment: &Value) -> Result<Value, SpecError> {
    check_version(upstream, "upstream")?;
    let d = Derivation::read(current_fragment)?;
    let up_paths = upstream
        .get("paths")
        .and_then(Value::as_object)
        .expect("checked by check_version");

    // Paths, in the order of the derivation list; each path item keeps upstream's key order.
    let mut paths = Map::new();
    for op in &d.operations {
        if paths.contains_key(&op.path) {
            continue;
        }
        let Some(item) = up_paths.get(&op.path).and_then(Value::as_object) else {
            continue;
        };
        let wanted: BTreeMap<&str, &Selected> = d
            .operations
            .iter()
            .filter(|o| o.path == op.path)
            .map(|o| (o.method.as_str(), o))
            .collect();
        let mut out = Map::new();
        for (key, value) in item {
            if let Some(sel) = wanted.get(key.as_str()) {
                let Some(up_op) = value.as_object() else {
                    continue;
                };
                let mut o = up_op.clone();
                o.retain(|k, _| !d.drop_fields.contains(k));
                o.insert(
                    "operationId".into(),
                    Value::String(sel.operation_id.clone()),
                );
                out.insert(key.clone(), Value::Object(o));
            } else if !walk::METHODS.contains(&key.as_str()) {
                // Path-level `parameters`, `servers`, `$ref` apply to the selected operations too.
                out.insert(key.clone(), value.clone());
            }
        }
        if out.keys().any(|k| wanted.contains_key(k.as_str())) {
            paths.insert(op.path.clone(), Value::Object(out));
        }
    }

    let components = reachable_components(upstream, &paths)?;

    let mut derivation = current_fragment[DERIVATION].clone();
    if let Some(entries) = derivation
        .get_mut("operations")
        .and_then(Value::as_array_mut)
    {
        for entry in entries.iter_mut().filter_map(Value::as_object_mut) {
            let method = entry
                .get("method")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_ascii_lowercase();
            let path = entry
                .get("path")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            // An operation gone upstream keeps the id we last saw.
            let Some(up_op) = operation(upstream, &path, &method) else {
                continue;
            };
            match up_op.get("operationId") {
                Some(id) => {
                    entry.insert("upstreamOperationId".into(), id.clone());
                }
                None => {
                    entry.shift_remove("upstreamOperationId");
                }
            }
        }
    }

    let mut out = Map::new();
    out.insert("openapi".into(), upstream["openapi"].clone());
    if let Some(info) = upstream.get("info") {
        out.insert("info".into(), info.clone());
    }
    out.insert(DERIVATION.into(), derivation);
    for key in ["servers", "security"] {
        if let Some(v) = upstream.get(key) {
            out.insert(key.into(), v.clone());
        }
    }
    out.insert("paths".into(), Value::Object(paths));
    out.insert("components".into(), Value::Object(components));

    let mut derived = Value::Object(out);
    if !d.drop_schema_fields.is_empty() {
        drop_schema_fields(&mut derived, &d.drop_schema_fields, Ctx::Node);
    }
    overlay(&mut derived, current_fragment, &d.ours, Ctx::Node);
    // A schema upstream renamed keeps our words too: overlay it from its old name.
    for (from, to) in super::diff::schema_renames(current_fragment, &derived) {
        let (Some(ours), Some(target)) = (
            current_fragment.pointer(&from[1..]),
            derived.pointer_mut(&to[1..]),
        ) else {
            continue;
        };
        overlay(target, ours, &d.ours, Ctx::Node);
    }
    Ok(derived)
}

/// Removes `keys` from every schema object below `v`, an OpenAPI object of kind `ctx`: the
/// component schemas, the `schema` of parameters, media types and headers, and the schemas
/// nested in those (`properties`, `items`, `allOf`, ...). Other objects keep their keys, and a
/// property that happens to be named like a key is a name, not a field: it stays.
///
/// The fragment drops `format`: typify turns `date-time` into chrono types, a dependency the
/// client does not have, and parses them strictly (upstream's own examples for such fields,
/// `2022-06-03` and `""`, would not decode). Without it those fields are plain strings.
fn drop_schema_fields(v: &mut Value, keys: &[String], ctx: Ctx) {
    match (v, ctx) {
        (_, Ctx::Opaque) => {}
        (Value::Object(m), Ctx::Node) => {
            for (k, child) in m.iter_mut() {
                match k.as_str() {
                    "schema" => drop_in_schema(child, keys),
                    "schemas" => child
                        .as_object_mut()
                        .into_iter()
                        .flat_map(|schemas| schemas.values_mut())
                        .for_each(|s| drop_in_schema(s, keys)),
                    _ => drop_schema_fields(child, keys, walk::child_ctx(k)),
                }
            }
        }
        (Value::Object(m), Ctx::Names) => m
            .values_mut()
            .for_each(|child| drop_schema_fields(child, keys, Ctx::Node)),
        (Value::Array(items), _) => items
            .iter_mut()
            .for_each(|i| drop_schema_fields(i, keys, Ctx::Node)),
        _ => {}
    }
}

/// [`drop_schema_fields`] for a schema object and the schemas inside it.
fn drop_in_schema(schema: &mut Value, keys: &[String]) {
    let Some(m) = schema.as_object_mut() else {
        return;
    };
    m.retain(|k, _| !keys.contains(k));
    for (k, child) in m.iter_mut() {
        match k.as_str() {
            "properties" | "patternProperties" => child
                .as_object_mut()
                .into_iter()
                .flat_map(|props| props.values_mut())
                .for_each(|s| drop_in_schema(s, keys)),
            "items" | "not" | "additionalProperties" => drop_in_schema(child, keys),
            "allOf" | "oneOf" | "anyOf" => child
                .as_array_mut()
                .into_iter()
                .flatten()
                .for_each(|s| drop_in_schema(s, keys)),
            // `example`, `default`, `enum`, extensions: values, not schemas.
            _ => {}
        }
    }
}

/// Upstream's `securitySchemes`, and every other component the paths reach, transitively.
fn reachable_components(
    upstream: &Value,
    paths: &Map<String, Value>,
) -> Result<Map<String, Value>, SpecError> {
    let mut reached: BTreeSet<(String, String)> = BTreeSet::new();
    let mut queue: Vec<String> = Vec::new();
    let mut bad_ref: Option<String> = None;
    let visit = |v: &Value, ctx: Ctx, queue: &mut Vec<String>| {
        walk::for_each_ref(v, ctx, &mut |r| queue.push(r.to_owned()));
    };
    for item in paths.values() {
        visit(item, Ctx::Node, &mut queue);
    }
    while let Some(reference) = queue.pop() {
        let Some((kind, name)) = walk::component_of(&reference) else {
            bad_ref.get_or_insert(format!(
                "`$ref: {reference}` is not a local #/components/<kind>/<name> reference"
            ));
            continue;
        };
        if !reached.insert((kind.clone(), name.clone())) {
            continue;
        }
        match upstream.pointer(&reference[1..]) {
            Some(target) => visit(target, Ctx::Node, &mut queue),
            None => {
                bad_ref.get_or_insert(format!("`$ref: {reference}` points at nothing"));
            }
        }
    }
    if let Some(problem) = bad_ref {
        return Err(SpecError::invalid("upstream", problem));
    }

    let mut out = Map::new();
    let Some(up) = upstream.get("components").and_then(Value::as_object) else {
        return Ok(out);
    };
    for (kind, entries) in up {
        if kind == "securitySchemes" {
            out.insert(kind.clone(), entries.clone());
            continue;
        }
        let Some(entries) = entries.as_object() else {
            continue;
        };
        // BTreeSet iteration sorts by name: stable however upstream orders its components.
        let kept: Map<String, Value> = reached
            .iter()
            .filter(|(k, _)| k == kind)
            .filter_map(|(_, name)| Some((name.clone(), entries.get(name)?.clone())))
            .collect();
        if !kept.is_empty() {
            out.insert(kind.clone(), Value::Object(kept));
        }
    }
    Ok(out)
}

/// Puts our `ours` fields (descriptions, ...) into `target` wherever `ours` has one at the same place.
fn overlay(target: &mut Value, ours: &Value, keys: &[String], ctx: Ctx) {
    match (target, ours, ctx) {
        (_, _, Ctx::Opaque) => {}
        (Value::Object(t), Value::Object(o), Ctx::Node) => {
            // `x-authing-otp-derivation` is copied from ours already and is free-form.
            for key in keys {
                if let Some(v) = o.get(key) {
                    // Replaces in place, or appends: a field only we have goes last.
                    t.insert(key.clone(), v.clone());
                }
            }
            for (k, child) in t.iter_mut() {
                if keys.contains(k) {
                    continue;
                }
                if let Some(theirs) = o.get(k) {
                    overlay(child, theirs, keys, walk::child_ctx(k));
                }
            }
        }
        (Value::Object(t), Value::Object(o), Ctx::Names) => {
            for (k, child) in t.iter_mut() {
                if let Some(theirs) = o.get(k) {
                    overlay(child, theirs, keys, Ctx::Node);
                }
            }
        }
        (Value::Array(t), Value::Array(o), _) => {
            if walk::all_params(t) {
                for item in t.iter_mut() {
                    let key = walk::param_key(item).map(|(n, i)| (n.to_owned(), i.to_owned()));
                    let theirs = o.iter().find(|p| {
                        walk::param_key(p).map(|(n, i)| (n.to_owned(), i.to_owned())) == key
                    });
                    if let Some(theirs) = theirs {
                        overlay(item, theirs, keys, Ctx::Node);
                    }
                }
            } else {
                for (item, theirs) in t.iter_mut().zip(o) {
                    overlay(item, theirs, keys, Ctx::Node);
                }
            }
        }
        _ => {}
    }
}
