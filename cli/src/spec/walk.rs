//! What kind of JSON object a key leads to, so that `description` the field is not confused
//! with `description` the property name.

use serde_json::{Map, Value};

/// The keys the derivation takes from our fragment when nothing says otherwise.
pub(crate) const DEFAULT_OURS: [&str; 4] = ["info", "description", "summary", "example"];

/// The kind of object found under a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ctx {
    /// An OpenAPI object: its keys are field names (`type`, `description`, ...).
    Node,
    /// A map from names to OpenAPI objects (`properties`, `schemas`, `responses`, ...).
    Names,
    /// Free-form data (`default`, `enum`, extensions, ...): never looked into.
    Opaque,
}

/// What the value under `key` of an OpenAPI object is.
pub(crate) fn child_ctx(key: &str) -> Ctx {
    match key {
        "paths" | "properties" | "schemas" | "securitySchemes" | "responses" | "content"
        | "headers" | "encoding" | "links" | "callbacks" | "examples" | "requestBodies"
        | "variables" | "patternProperties" | "definitions" => Ctx::Names,
        "default" | "enum" | "example" | "value" | "const" | "security" | "mapping"
        | "required" => Ctx::Opaque,
        k if k.starts_with("x-") => Ctx::Opaque,
        _ => Ctx::Node,
    }
}

/// The identity of a parameter object: `(name, in)`.
pub(crate) fn param_key(v: &Value) -> Option<(&str, &str)> {
    Some((v.get("name")?.as_str()?, v.get("in")?.as_str()?))
}

/// Whether every element of an array is a parameter object (matched by name and location).
pub(crate) fn all_params(items: &[Value]) -> bool {
    !items.is_empty() && items.iter().all(|v| param_key(v).is_some())
}

/// A copy of `v` without the documentation keys, for "same shape" tests.
pub(crate) fn strip_docs(v: &Value, docs: &[String], ctx: Ctx) -> Value {
    match (v, ctx) {
        (_, Ctx::Opaque) => v.clone(),
        (Value::Object(m), _) => {
            let mut out = Map::new();
            for (k, child) in m {
                if ctx == Ctx::Node && docs.iter().any(|d| d == k) {
                    continue;
                }
                let next = if ctx == Ctx::Names {
                    Ctx::Node
                } else {
                    child_ctx(k)
                };
                out.insert(k.clone(), strip_docs(child, docs, next));
            }
            Value::Object(out)
        }
        (Value::Array(items), _) => Value::Array(
            items
                .iter()
                .map(|i| strip_docs(i, docs, Ctx::Node))
                .collect(),
        ),
        _ => v.clone(),
    }
}

/// Calls `f` on every `$ref` string below `v`, skipping free-form values.
pub(crate) fn for_each_ref(v: &Value, ctx: Ctx, f: &mut dyn FnMut(&str)) {
    match (v, ctx) {
        (_, Ctx::Opaque) => {}
        (Value::Object(m), _) => {
            for (k, child) in m {
                if ctx == Ctx::Node && k == "$ref" {
                    if let Some(r) = child.as_str() {
                        f(r);
                    }
                    continue;
                }
                let next = if ctx == Ctx::Names {
                    Ctx::Node
                } else {
                    child_ctx(k)
                };
                for_each_ref(child, next, f);
            }
        }
        (Value::Array(items), _) => items.iter().for_each(|i| for_each_ref(i, Ctx::Node, f)),
        _ => {}
    }
}

/// The HTTP methods a path item may hold, in the order OpenAPI lists them.
pub(crate) const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// `#/components/schemas/Foo` -> `("schemas", "Foo")`, unescaping JSON pointer syntax.
pub(crate) fn component_of(reference: &str) -> Option<(String, String)> {
    let rest = reference.strip_prefix("#/components/")?;
    let (kind, name) = rest.split_once('/')?;
    if name.contains('/') {
        return None;
    }
    let unescape = |s: &str| s.replace("~1", "/").replace("~0", "~");
    Some((unescape(kind), unescape(name)))
}
