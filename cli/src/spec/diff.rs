//! Structural comparison of two fragments; the rules are in the module documentation of `spec`.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value, json};

use super::derive::{DERIVATION, Derivation, operation};
use super::walk::{self, Ctx};
use super::{Change, Difference, Severity};

use Severity::{Additive, Breaking, Note};

/// Compares the current fragment with one derived from upstream, ignoring descriptions,
/// summaries, examples, `info` and key order. Breaking differences come first, then additive
/// ones, then notes (differences that change neither the wire nor the generated code).
///
/// ```
/// use authing_otp_cli::spec::{compare, Severity};
/// use serde_json::json;
///
/// let param = |values: &[&str]| json!({"openapi": "3.0.0", "paths": {"/u": {"get": {
///     "operationId": "getUser",
///     "parameters": [{"name": "userIdType", "in": "query", "required": false,
///                     "schema": {"type": "string", "enum": values}}],
///     "responses": {}
/// }}}});
/// let ours = param(&["user_id", "email"]);
/// let upstream = param(&["user_id", "email", "passkey"]);
/// let differences = compare(&ours, &upstream);
/// assert_eq!(differences.len(), 1);
/// assert_eq!(differences[0].severity, Severity::Additive);
/// assert_eq!(differences[0].to_string(), r#"GET /u param userIdType enum: + "passkey""#);
/// ```
pub fn compare(fragment: &Value, upstream_derived: &Value) -> Vec<Difference> {
    let docs = Derivation::read(fragment)
        .map(|d| d.doc_keys())
        .unwrap_or_else(|_| {
            walk::DEFAULT_OURS
                .iter()
                .filter(|k| **k != "info")
                .map(|k| k.to_string())
                .collect()
        });
    let mut differ = Differ {
        old: fragment,
        new: upstream_derived,
        renames: BTreeMap::new(),
        dir_old: directions(fragment, &|_, _| true),
        dir_new: directions(upstream_derived, &|_, _| true),
        // Schemas only removed operations used disappear with them: the removed path says it all.
        alive: directions(fragment, &|path, method| {
            operation(upstream_derived, path, method).is_some()
        }),
        docs,
        out: Vec::new(),
    };
    differ.renames = schema_renames(fragment, upstream_derived);
    differ.document();
    // Stable: within a severity, differences stay in document order.
    differ.out.sort_by_key(|d| d.severity);
    differ.out
}

/// Which way data described by a schema flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dir {
    /// Sent by the client: parameters and request bodies.
    In,
    /// Received: responses.
    Out,
    /// Both, or unknown: the stricter rules of each apply.
    Both,
}

impl Dir {
    fn merge(self, other: Option<Dir>) -> Dir {
        match other {
            None => self,
            Some(o) if o == self => self,
            Some(_) => Dir::Both,
        }
    }
    fn input(self) -> bool {
        self != Dir::Out
    }
    fn output(self) -> bool {
        self != Dir::In
    }
}

/// The direction of every component `$ref` the operations of `doc` that `keep` accepts reach.
fn directions(doc: &Value, keep: &dyn Fn(&str, &str) -> bool) -> HashMap<String, Dir> {
    let mut dirs: HashMap<String, Dir> = HashMap::new();
    let Some(paths) = doc.get("paths").and_then(Value::as_object) else {
        return dirs;
    };
    for (path, item) in paths.iter().filter_map(|(p, i)| Some((p, i.as_object()?))) {
        for (key, op) in item {
            let mut seeds: Vec<(Dir, &Value, Ctx)> = Vec::new();
            if key == "parameters" {
                seeds.push((Dir::In, op, Ctx::Node));
            } else if walk::METHODS.contains(&key.as_str()) && keep(path, key) {
                if let Some(v) = op.get("parameters") {
                    seeds.push((Dir::In, v, Ctx::Node));
                }
                if let Some(v) = op.get("requestBody") {
                    seeds.push((Dir::In, v, Ctx::Node));
                }
                if let Some(v) = op.get("responses") {
                    seeds.push((Dir::Out, v, Ctx::Names));
                }
            }
            for (dir, seed, ctx) in seeds {
                let mut queue = Vec::new();
                walk::for_each_ref(seed, ctx, &mut |r| queue.push(r.to_owned()));
                while let Some(r) = queue.pop() {
                    let known = dirs.get(&r).copied();
                    let merged = dir.merge(known);
                    if known == Some(merged) {
                        continue;
                    }
                    dirs.insert(r.clone(), merged);
                    if let Some(target) = r.strip_prefix('#').and_then(|p| doc.pointer(p)) {
                        walk::for_each_ref(target, Ctx::Node, &mut |r| queue.push(r.to_owned()));
                    }
                }
            }
        }
    }
    dirs
}

fn text(s: &str) -> Value {
    Value::String(s.to_owned())
}

fn schema_ref(name: &str) -> String {
    format!(
        "#/components/schemas/{}",
        name.replace('~', "~0").replace('/', "~1")
    )
}

/// `{allOf: [{$ref: X}], ...}` -> `X`: the way upstream wraps a reference to add a description.
fn wrapped_ref(m: &Map<String, Value>) -> Option<&str> {
    match m.get("allOf")?.as_array()?.as_slice() {
        [only] if only.as_object()?.len() == 1 => only.get("$ref")?.as_str(),
        _ => None,
    }
}

struct Differ<'a> {
    old: &'a Value,
    new: &'a Value,
    /// Schema refs renamed upstream: fragment's `#/components/schemas/A` -> upstream's `.../B`.
    renames: BTreeMap<String, String>,
    dir_old: HashMap<String, Dir>,
    dir_new: HashMap<String, Dir>,
    /// Refs still reached from the fragment's operations that upstream still has.
    alive: HashMap<String, Dir>,
    docs: Vec<String>,
    out: Vec<Difference>,
}

impl Differ<'_> {
    fn push(
        &mut self,
        severity: Severity,
        location: impl Into<String>,
        change: Change,
        note: Option<&str>,
    ) {
        self.out.push(Difference {
            severity,
            location: location.into(),
            change,
            note: note.map(str::to_owned),
        });
    }

    fn changed(
        &mut self,
        severity: Severity,
        location: impl Into<String>,
        from: &Value,
        to: &Value,
    ) {
        self.push(
            severity,
            location,
            Change::Changed {
                from: from.clone(),
                to: to.clone(),
            },
            None,
        );
    }

    fn is_doc(&self, key: &str) -> bool {
        self.docs.iter().any(|d| d == key)
    }

    fn map_ref(&self, r: &str) -> String {
        self.renames.get(r).cloned().unwrap_or_else(|| r.to_owned())
    }

    /// `v` without documentation and with renamed refs mapped: for "same shape" tests.
    fn shape(&self, v: &Value, from_old: bool) -> Value {
        let mut v = walk::strip_docs(v, &self.docs, Ctx::Node);
        if from_old && !self.renames.is_empty() {
            map_refs(&mut v, &self.renames);
        }
        v
    }

    // ---- the document ----------------------------------------------------------------------

    fn document(&mut self) {
        let (old, new) = (self.old, self.new);
        self.generic(
            "openapi",
            old.get("openapi"),
            new.get("openapi"),
            [Additive; 3],
        );
        self.generic(
            "servers",
            old.get("servers"),
            new.get("servers"),
            [Additive; 3],
        );
        self.generic(
            "security",
            old.get("security"),
            new.get("security"),
            [Breaking; 3],
        );
        self.upstream_operation_ids();
        self.paths();
        self.components();
    }

    fn upstream_operation_ids(&mut self) {
        let entries = |doc: &Value| -> Vec<Value> {
            doc.get(DERIVATION)
                .and_then(|d| d.get("operations"))
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        };
        let key = |e: &Value| {
            (
                e.get("method")
                    .and_then(Value::as_str)
                    .map(str::to_ascii_lowercase),
                e.get("path").cloned(),
            )
        };
        let new_entries = entries(self.new);
        for entry in entries(self.old) {
            let Some(other) = new_entries.iter().find(|e| key(e) == key(&entry)) else {
                continue;
            };
            let label = format!(
                "{} {}",
                entry["method"].as_str().unwrap_or_default().to_uppercase(),
                entry["path"].as_str().unwrap_or_default()
            );
            // The client is generated from the short operationIds; upstream's is a record only.
            self.generic(
                &format!("{label} upstream operationId"),
                entry.get("upstreamOperationId"),
                other.get("upstreamOperationId"),
                [Note; 3],
            );
        }
    }

    fn paths(&mut self) {
        let empty = Map::new();
        let old_paths = self
            .old
            .get("paths")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let new_paths = self
            .new
            .get("paths")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        for (path, item) in old_paths {
            let Some(item) = item.as_object() else {
                continue;
            };
            let other = new_paths.get(path).and_then(Value::as_object);
            for (key, value) in item {
                let label = format!("{} {path}", key.to_uppercase());
                if walk::METHODS.contains(&key.as_str()) {
                    match (
                        value.as_object(),
                        other.and_then(|o| o.get(key)).and_then(Value::as_object),
                    ) {
                        (Some(o), Some(n)) => self.operation(&label, o, n),
                        _ => self.push(
                            Breaking,
                            "paths",
                            Change::Removed {
                                value: text(&label),
                            },
                            None,
                        ),
                    }
                } else if key == "parameters" {
                    let n = other.and_then(|o| o.get(key));
                    self.parameters(path, Some(value), n);
                } else if !self.is_doc(key) {
                    self.generic(
                        &format!("{path} {key}"),
                        Some(value),
                        other.and_then(|o| o.get(key)),
                        [Additive; 3],
                    );
                }
            }
        }
        for (path, item) in new_paths {
            let Some(item) = item.as_object() else {
                continue;
            };
            for key in item.keys().filter(|k| walk::METHODS.contains(&k.as_str())) {
                if operation(self.old, path, key).is_none() {
                    self.push(
                        Additive,
                        "paths",
                        Change::Added {
                            value: text(&format!("{} {path}", key.to_uppercase())),
                        },
                        None,
                    );
                }
            }
        }
    }

    fn operation(&mut self, label: &str, o: &Map<String, Value>, n: &Map<String, Value>) {
        for key in union(o, n) {
            let (a, b) = (o.get(&key), n.get(&key));
            match key.as_str() {
                k if self.is_doc(k) => {}
                "operationId" => self.generic(&format!("{label} operationId"), a, b, [Breaking; 3]),
                "parameters" => self.parameters(label, a, b),
                "requestBody" => self.request_body(label, a, b),
                "responses" => self.responses(label, a, b),
                "security" => self.generic(&format!("{label} security"), a, b, [Breaking; 3]),
                // progenitor merges tags (its default style) and reads no externalDocs.
                "tags" | "externalDocs" => self.generic(&format!("{label} {key}"), a, b, [Note; 3]),
                _ => self.generic(&format!("{label} {key}"), a, b, [Additive; 3]),
            }
        }
    }

    // ---- parameters ------------------------------------------------------------------------

    fn resolve<'v>(&self, doc: &'v Value, v: &'v Value) -> &'v Value {
        match v.get("$ref").and_then(Value::as_str) {
            Some(r) => r
                .strip_prefix('#')
                .and_then(|p| doc.pointer(p))
                .unwrap_or(v),
            None => v,
        }
    }

    fn parameters(&mut self, label: &str, a: Option<&Value>, b: Option<&Value>) {
        let list = |doc: &Value, v: Option<&Value>| -> Vec<Value> {
            v.and_then(Value::as_array)
                .map(|items| items.iter().map(|i| self.resolve(doc, i).clone()).collect())
                .unwrap_or_default()
        };
        let (old, new) = (list(self.old, a), list(self.new, b));
        let key = |p: &Value| {
            walk::param_key(p)
                .map(|(n, i)| (n.to_owned(), i.to_owned()))
                .unwrap_or_default()
        };
        let find = |list: &[Value], k: &(String, String)| list.iter().position(|p| &key(p) == k);
        let removed: Vec<usize> = (0..old.len())
            .filter(|&i| find(&new, &key(&old[i])).is_none())
            .collect();
        let added: Vec<usize> = (0..new.len())
            .filter(|&i| find(&old, &key(&new[i])).is_none())
            .collect();
        // Same shape apart from the name: a rename.
        let without_name = |p: &Value, from_old: bool| {
            let mut s = self.shape(p, from_old);
            if let Some(m) = s.as_object_mut() {
                m.shift_remove("name");
            }
            s
        };
        let renamed = pair_up(&removed, &added, |i, j| {
            without_name(&old[i], true) == without_name(&new[j], false)
        });
        let required = |p: &Value| p.get("required").and_then(Value::as_bool).unwrap_or(false);
        let list_loc = format!("{label} params");
        for (i, p) in old.iter().enumerate() {
            let (name, place) = key(p);
            let loc = param_loc(label, &name, &place);
            if let Some(j) = find(&new, &key(p)) {
                self.parameter(&loc, p, &new[j]);
            } else if let Some(&j) = renamed.get(&i) {
                let (new_name, _) = key(&new[j]);
                self.changed(Breaking, list_loc.as_str(), &text(&name), &text(&new_name));
            } else {
                let note = (place != "query").then_some(place.as_str());
                self.push(
                    Breaking,
                    list_loc.as_str(),
                    Change::Removed { value: text(&name) },
                    note,
                );
            }
        }
        for &j in added.iter().filter(|j| !renamed.values().any(|v| v == *j)) {
            let (name, place) = key(&new[j]);
            let req = required(&new[j]);
            let note = match (place.as_str(), req) {
                ("query", true) => Some("required".to_owned()),
                ("query", false) => None,
                (p, true) => Some(format!("{p}, required")),
                (p, false) => Some(p.to_owned()),
            };
            let severity = if req { Breaking } else { Additive };
            self.push(
                severity,
                list_loc.as_str(),
                Change::Added { value: text(&name) },
                note.as_deref(),
            );
        }
    }

    fn parameter(&mut self, loc: &str, o: &Value, n: &Value) {
        let (Some(om), Some(nm)) = (o.as_object(), n.as_object()) else {
            return;
        };
        for key in union(om, nm) {
            let (a, b) = (om.get(&key), nm.get(&key));
            match key.as_str() {
                k if self.is_doc(k) => {}
                "name" | "in" => {}
                "required" => {
                    let (a, b) = (
                        a.and_then(Value::as_bool).unwrap_or(false),
                        b.and_then(Value::as_bool).unwrap_or(false),
                    );
                    if a != b {
                        self.changed(
                            if b { Breaking } else { Additive },
                            format!("{loc} required"),
                            &json!(a),
                            &json!(b),
                        );
                    }
                }
                "schema" => match (a, b) {
                    (Some(a), Some(b)) => self.schema(loc, a, b, Dir::In),
                    _ => self.generic(&format!("{loc} schema"), a, b, [Breaking; 3]),
                },
                "deprecated" => self.generic(&format!("{loc} deprecated"), a, b, [Additive; 3]),
                // Serialization (`style`, `explode`, `content`, ...) changes what goes on the wire.
                _ => self.generic(
                    &format!("{loc} {key}"),
                    a,
                    b,
                    [Breaking, Additive, Breaking],
                ),
            }
        }
    }

    // ---- bodies and responses --------------------------------------------------------------

    fn request_body(&mut self, label: &str, a: Option<&Value>, b: Option<&Value>) {
        let loc = format!("{label} request body");
        let required = |v: &Value| v.get("required").and_then(Value::as_bool).unwrap_or(false);
        match (a, b) {
            (None, None) => {}
            (None, Some(b)) => {
                let b = self.resolve(self.new, b);
                let severity = if required(b) { Breaking } else { Additive };
                let value = self.shape(b, false);
                self.push(severity, loc, Change::Added { value }, None);
            }
            (Some(a), None) => {
                let value = self.shape(self.resolve(self.old, a), true);
                self.push(Breaking, loc, Change::Removed { value }, None);
            }
            (Some(a), Some(b)) => {
                let (a, b) = (self.resolve(self.old, a), self.resolve(self.new, b));
                let (Some(om), Some(nm)) = (a.as_object(), b.as_object()) else {
                    return;
                };
                for key in union(om, nm) {
                    let (x, y) = (om.get(&key), nm.get(&key));
                    match key.as_str() {
                        k if self.is_doc(k) => {}
                        "required" => {
                            let (x, y) = (required(a), required(b));
                            if x != y {
                                self.changed(
                                    if y { Breaking } else { Additive },
                                    format!("{loc} required"),
                                    &json!(x),
                                    &json!(y),
                                );
                            }
                        }
                        "content" => self.content(&loc, x, y, Dir::In),
                        _ => self.generic(&format!("{loc} {key}"), x, y, [Additive; 3]),
                    }
                }
            }
        }
    }

    fn responses(&mut self, label: &str, a: Option<&Value>, b: Option<&Value>) {
        let empty = Map::new();
        let om = a.and_then(Value::as_object).unwrap_or(&empty);
        let nm = b.and_then(Value::as_object).unwrap_or(&empty);
        for code in union(om, nm) {
            let loc = format!("{label} response {code}");
            match (om.get(&code), nm.get(&code)) {
                (Some(_), None) => self.push(
                    Breaking,
                    format!("{label} responses"),
                    Change::Removed { value: text(&code) },
                    None,
                ),
                (None, Some(_)) => self.push(
                    Additive,
                    format!("{label} responses"),
                    Change::Added { value: text(&code) },
                    None,
                ),
                (Some(x), Some(y)) => {
                    let (x, y) = (self.resolve(self.old, x), self.resolve(self.new, y));
                    let (Some(xm), Some(ym)) = (x.as_object(), y.as_object()) else {
                        continue;
                    };
                    for key in union(xm, ym) {
                        let (p, q) = (xm.get(&key), ym.get(&key));
                        match key.as_str() {
                            k if self.is_doc(k) => {}
                            "content" => self.content(&loc, p, q, Dir::Out),
                            _ => self.generic(&format!("{loc} {key}"), p, q, [Additive; 3]),
                        }
                    }
                }
                (None, None) => {}
            }
        }
    }

    fn content(&mut self, loc: &str, a: Option<&Value>, b: Option<&Value>, dir: Dir) {
        let empty = Map::new();
        let om = a.and_then(Value::as_object).unwrap_or(&empty);
        let nm = b.and_then(Value::as_object).unwrap_or(&empty);
        for media in union(om, nm) {
            let (x, y) = (om.get(&media), nm.get(&media));
            let (Some(x), Some(y)) = (x, y) else {
                let change = if x.is_some() {
                    Change::Removed {
                        value: text(&media),
                    }
                } else {
                    Change::Added {
                        value: text(&media),
                    }
                };
                let severity = if x.is_some() { Breaking } else { Additive };
                self.push(severity, format!("{loc} content"), change, None);
                continue;
            };
            // JSON is the norm here; only other media types are named.
            let loc = if media == "application/json" {
                loc.to_owned()
            } else {
                format!("{loc} {media}")
            };
            let (Some(xm), Some(ym)) = (x.as_object(), y.as_object()) else {
                continue;
            };
            for key in union(xm, ym) {
                let (p, q) = (xm.get(&key), ym.get(&key));
                match (key.as_str(), p, q) {
                    (k, _, _) if self.is_doc(k) => {}
                    ("schema", Some(p), Some(q)) => self.schema(&loc, p, q, dir),
                    ("schema", _, _) => self.generic(&format!("{loc} schema"), p, q, [Breaking; 3]),
                    _ => self.generic(&format!("{loc} {key}"), p, q, [Additive; 3]),
                }
            }
        }
    }

    // ---- components ------------------------------------------------------------------------

    fn components(&mut self) {
        let empty = Map::new();
        let oc = self
            .old
            .get("components")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let nc = self
            .new
            .get("components")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        for kind in union(oc, nc) {
            let om = oc.get(&kind).and_then(Value::as_object).unwrap_or(&empty);
            let nm = nc.get(&kind).and_then(Value::as_object).unwrap_or(&empty);
            if kind == "schemas" {
                self.named_schemas(om, nm);
                continue;
            }
            let singular = match kind.as_str() {
                "securitySchemes" => "security scheme".to_owned(),
                k => k.trim_end_matches('s').to_owned(),
            };
            for name in union(om, nm) {
                match (om.get(&name), nm.get(&name)) {
                    (Some(_), None) => self.push(
                        Breaking,
                        kind.as_str(),
                        Change::Removed { value: text(&name) },
                        None,
                    ),
                    (None, Some(_)) => self.push(
                        Additive,
                        kind.as_str(),
                        Change::Added { value: text(&name) },
                        None,
                    ),
                    (a, b) => self.generic(&format!("{singular} {name}"), a, b, [Breaking; 3]),
                }
            }
        }
    }

    fn named_schemas(&mut self, om: &Map<String, Value>, nm: &Map<String, Value>) {
        let renamed_to: BTreeMap<String, String> = self
            .renames
            .iter()
            .filter_map(|(a, b)| Some((walk::component_of(a)?.1, walk::component_of(b)?.1)))
            .collect();
        for (name, schema) in om {
            let old_ref = schema_ref(name);
            let new_name = renamed_to.get(name).unwrap_or(name);
            let Some(other) = nm.get(new_name) else {
                if !self.alive.contains_key(&old_ref) {
                    continue;
                }
                self.push(
                    Breaking,
                    "schemas",
                    Change::Removed { value: text(name) },
                    None,
                );
                continue;
            };
            if new_name != name {
                self.changed(Breaking, "schemas", &text(name), &text(new_name));
            }
            let dir = self.dir_old.get(&old_ref).copied().unwrap_or(Dir::Both);
            let dir = dir.merge(self.dir_new.get(&schema_ref(new_name)).copied());
            self.schema(&format!("schema {name}"), schema, other, dir);
        }
        for name in nm.keys() {
            if !om.contains_key(name) && !renamed_to.values().any(|v| v == name) {
                self.push(
                    Additive,
                    "schemas",
                    Change::Added { value: text(name) },
                    None,
                );
            }
        }
    }

    // ---- schemas ---------------------------------------------------------------------------

    fn schema(&mut self, loc: &str, o: &Value, n: &Value, dir: Dir) {
        let (Some(om), Some(nm)) = (o.as_object(), n.as_object()) else {
            if o != n {
                self.changed(Breaking, loc, o, n);
            }
            return;
        };
        // `allOf: [{$ref: X}]` and `$ref: X` describe the same data; report the wrapping once and
        // compare the targets.
        let (wo, wn) = (wrapped_ref(om), wrapped_ref(nm));
        let (mut om, mut nm) = (om.clone(), nm.clone());
        if wo.is_some() != wn.is_some() {
            let describe = |m: &Map<String, Value>, w: Option<&str>| match w {
                Some(r) => json!({"allOf": [{"$ref": r}]}),
                None => m
                    .get("$ref")
                    .cloned()
                    .map_or(Value::Null, |r| json!({"$ref": r})),
            };
            let (from, to) = (describe(&om, wo), describe(&nm, wn));
            self.changed(Additive, format!("{loc} allOf wrapping"), &from, &to);
            for (m, w) in [(&mut om, wo), (&mut nm, wn)] {
                if let Some(r) = w {
                    let r = text(r);
                    m.shift_remove("allOf");
                    m.insert("$ref".into(), r);
                }
            }
        }
        let has_props = om.contains_key("properties")
            || nm.contains_key("properties")
            || om.contains_key("required")
            || nm.contains_key("required");
        for key in union(&om, &nm) {
            let (a, b) = (om.get(&key), nm.get(&key));
            let kloc = format!("{loc} {key}");
            match key.as_str() {
                k if self.is_doc(k) => {}
                "$ref" => {
                    let mapped = a.and_then(Value::as_str).map(|r| text(&self.map_ref(r)));
                    if mapped.as_ref() != b {
                        self.generic(&kloc, a, b, [Breaking; 3]);
                    }
                }
                "type" | "format" => self.generic(&kloc, a, b, [Breaking; 3]),
                "enum" => self.enumeration(&kloc, a, b, dir),
                "properties" => {}
                "required" if has_props => {}
                "items" | "not" | "additionalProperties" => match (a, b) {
                    (Some(x), Some(y)) if x.is_object() && y.is_object() => {
                        self.schema(&kloc, x, y, dir)
                    }
                    _ => self.generic(&kloc, a, b, [Breaking; 3]),
                },
                "allOf" | "oneOf" | "anyOf" => {
                    let (x, y) = (a.and_then(Value::as_array), b.and_then(Value::as_array));
                    match (x, y) {
                        (Some(x), Some(y)) if x.len() == y.len() => {
                            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                                self.schema(&format!("{loc} {key}[{i}]"), p, q, dir);
                            }
                        }
                        _ => {
                            let (x, y) = (
                                a.map(|v| self.shape(v, true)),
                                b.map(|v| self.shape(v, false)),
                            );
                            self.generic(&kloc, x.as_ref(), y.as_ref(), [Breaking; 3]);
                        }
                    }
                }
                "nullable" => {
                    let (x, y) = (
                        a.and_then(Value::as_bool).unwrap_or(false),
                        b.and_then(Value::as_bool).unwrap_or(false),
                    );
                    if x != y {
                        let breaking = if y { dir.output() } else { dir.input() };
                        self.changed(
                            if breaking { Breaking } else { Additive },
                            kloc,
                            &json!(x),
                            &json!(y),
                        );
                    }
                }
                "default" => {
                    let severity = if dir.input() { Breaking } else { Additive };
                    self.generic(&kloc, a, b, [severity; 3]);
                }
                "deprecated" | "readOnly" | "writeOnly" | "title" => {
                    self.generic(&kloc, a, b, [Additive; 3]);
                }
                // Neither typify nor progenitor reads these (and the client speaks JSON only).
                "externalDocs" | "xml" => self.generic(&kloc, a, b, [Note; 3]),
                k if k.starts_with("x-") => self.generic(&kloc, a, b, [Additive; 3]),
                // Constraints (`maxItems`, `pattern`, ...): the server rejects tighter input.
                _ => {
                    let severity = if dir.input() { Breaking } else { Additive };
                    self.generic(&kloc, a, b, [severity, Additive, severity]);
                }
            }
        }
        if has_props {
            self.properties(loc, &om, &nm, dir);
        }
    }

    fn enumeration(&mut self, loc: &str, a: Option<&Value>, b: Option<&Value>, dir: Dir) {
        let (Some(x), Some(y)) = (a.and_then(Value::as_array), b.and_then(Value::as_array)) else {
            // An enum appearing or disappearing changes the generated type.
            self.generic(loc, a, b, [Breaking; 3]);
            return;
        };
        for v in x.iter().filter(|v| !y.contains(v)) {
            let severity = if dir.input() { Breaking } else { Additive };
            self.push(severity, loc, Change::Removed { value: v.clone() }, None);
        }
        for v in y.iter().filter(|v| !x.contains(v)) {
            let severity = if dir.output() { Breaking } else { Additive };
            self.push(severity, loc, Change::Added { value: v.clone() }, None);
        }
    }

    fn properties(
        &mut self,
        loc: &str,
        om: &Map<String, Value>,
        nm: &Map<String, Value>,
        dir: Dir,
    ) {
        let empty = Map::new();
        let op = om
            .get("properties")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let np = nm
            .get("properties")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let names = |m: &Map<String, Value>| -> Vec<String> {
            m.get("required")
                .and_then(Value::as_array)
                .map(|r| {
                    r.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        };
        let (old_req, new_req) = (names(om), names(nm));
        let old_names: Vec<&String> = op.keys().collect();
        let new_names: Vec<&String> = np.keys().collect();
        let removed: Vec<usize> = (0..old_names.len())
            .filter(|&i| !np.contains_key(old_names[i]))
            .collect();
        let added: Vec<usize> = (0..new_names.len())
            .filter(|&j| !op.contains_key(new_names[j]))
            .collect();
        let renamed = pair_up(&removed, &added, |i, j| {
            self.shape(&op[old_names[i]], true) == self.shape(&np[new_names[j]], false)
                && old_req.contains(old_names[i]) == new_req.contains(new_names[j])
        });
        let list_loc = format!("{loc} properties");
        for (i, name) in old_names.iter().enumerate() {
            let ploc = format!("{loc} property {name}");
            if let Some(other) = np.get(*name) {
                self.schema(&ploc, &op[*name], other, dir);
            } else if let Some(&j) = renamed.get(&i) {
                self.changed(
                    Breaking,
                    list_loc.as_str(),
                    &text(name),
                    &text(new_names[j]),
                );
            } else {
                self.push(
                    Breaking,
                    list_loc.as_str(),
                    Change::Removed { value: text(name) },
                    None,
                );
            }
        }
        for &j in added.iter().filter(|j| !renamed.values().any(|v| v == *j)) {
            let name = new_names[j];
            let req = new_req.contains(name);
            let severity = if req && dir.input() {
                Breaking
            } else {
                Additive
            };
            self.push(
                severity,
                list_loc.as_str(),
                Change::Added { value: text(name) },
                req.then_some("required"),
            );
        }
        // `required` element-wise, leaving out what the property lines already said.
        let renamed_names: BTreeMap<&str, &str> = renamed
            .iter()
            .map(|(&i, &j)| (old_names[i].as_str(), new_names[j].as_str()))
            .collect();
        let mapped_old: Vec<&str> = old_req
            .iter()
            .map(|r| *renamed_names.get(r.as_str()).unwrap_or(&r.as_str()))
            .collect();
        let req_loc = format!("{loc} required");
        for (r, original) in mapped_old.iter().zip(&old_req) {
            let gone = op.contains_key(original) && !np.contains_key(*r);
            if !gone && !new_req.iter().any(|n| n == r) {
                let severity = if dir.output() { Breaking } else { Additive };
                self.push(
                    severity,
                    req_loc.as_str(),
                    Change::Removed { value: text(r) },
                    None,
                );
            }
        }
        for r in &new_req {
            let is_new = np.contains_key(r)
                && !op.contains_key(r)
                && !renamed_names.values().any(|v| v == r);
            if !is_new && !mapped_old.contains(&r.as_str()) {
                let severity = if dir.input() { Breaking } else { Additive };
                self.push(
                    severity,
                    req_loc.as_str(),
                    Change::Added { value: text(r) },
                    None,
                );
            }
        }
    }

    // ---- anything else ---------------------------------------------------------------------

    /// Compares two optional values key by key (objects) or as a whole; `severity` is for
    /// `[added, removed, changed]`.
    fn generic(
        &mut self,
        loc: &str,
        a: Option<&Value>,
        b: Option<&Value>,
        severity: [Severity; 3],
    ) {
        match (a, b) {
            (None, None) => {}
            (None, Some(b)) => self.push(
                severity[0],
                loc,
                Change::Added {
                    value: self.shape(b, false),
                },
                None,
            ),
            (Some(a), None) => self.push(
                severity[1],
                loc,
                Change::Removed {
                    value: self.shape(a, true),
                },
                None,
            ),
            (Some(Value::Object(x)), Some(Value::Object(y))) => {
                for key in union(x, y) {
                    if !self.is_doc(&key) {
                        self.generic(&format!("{loc} {key}"), x.get(&key), y.get(&key), severity);
                    }
                }
            }
            (Some(a), Some(b)) => {
                let (x, y) = (self.shape(a, true), self.shape(b, false));
                if x != y {
                    self.changed(severity[2], loc, &x, &y);
                }
            }
        }
    }
}

/// Keys of `a` in order, then the keys only `b` has.
fn union(a: &Map<String, Value>, b: &Map<String, Value>) -> Vec<String> {
    a.keys()
        .chain(b.keys().filter(|k| !a.contains_key(*k)))
        .cloned()
        .collect()
}

/// Pairs removed index `i` with added index `j` when `same(i, j)` holds for exactly that pair.
fn pair_up(
    removed: &[usize],
    added: &[usize],
    same: impl Fn(usize, usize) -> bool,
) -> BTreeMap<usize, usize> {
    let matches: Vec<(usize, usize)> = removed
        .iter()
        .flat_map(|&i| added.iter().map(move |&j| (i, j)))
        .filter(|&(i, j)| same(i, j))
        .collect();
    matches
        .iter()
        .filter(|(i, j)| matches.iter().filter(|(x, y)| x == i || y == j).count() == 1)
        .copied()
        .collect()
}

fn param_loc(label: &str, name: &str, place: &str) -> String {
    if place == "query" {
        format!("{label} param {name}")
    } else {
        format!("{label} {place} param {name}")
    }
}

/// Rewrites renamed schema refs in place.
fn map_refs(v: &mut Value, renames: &BTreeMap<String, String>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m.iter_mut() {
                match child {
                    Value::String(s) if k == "$ref" => {
                        if let Some(to) = renames.get(s.as_str()) {
                            *s = to.clone();
                        }
                    }
                    _ => map_refs(child, renames),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| map_refs(i, renames)),
        _ => {}
    }
}

/// Collects `($ref in a, $ref in b)` pairs found at the same place of two structures.
fn ref_pairs(a: &Value, b: &Value, ctx: Ctx, out: &mut Vec<(String, String)>) {
    match (a, b, ctx) {
        (_, _, Ctx::Opaque) => {}
        (Value::Object(x), Value::Object(y), _) => {
            let (rx, ry) = (
                x.get("$ref")
                    .and_then(Value::as_str)
                    .or_else(|| wrapped_ref(x)),
                y.get("$ref")
                    .and_then(Value::as_str)
                    .or_else(|| wrapped_ref(y)),
            );
            if ctx == Ctx::Node
                && let (Some(rx), Some(ry)) = (rx, ry)
                && rx != ry
            {
                out.push((rx.to_owned(), ry.to_owned()));
            }
            for (k, child) in x {
                if let Some(other) = y.get(k) {
                    let next = if ctx == Ctx::Names {
                        Ctx::Node
                    } else {
                        walk::child_ctx(k)
                    };
                    ref_pairs(child, other, next, out);
                }
            }
        }
        (Value::Array(x), Value::Array(y), _) => {
            if walk::all_params(x) {
                for p in x {
                    if let Some(q) = y.iter().find(|q| walk::param_key(q) == walk::param_key(p)) {
                        ref_pairs(p, q, Ctx::Node, out);
                    }
                }
            } else {
                for (p, q) in x.iter().zip(y) {
                    ref_pairs(p, q, Ctx::Node, out);
                }
            }
        }
        _ => {}
    }
}

/// Schemas upstream renamed, as full refs (`#/components/schemas/A` -> `.../B`): places that
/// refer to `A` in `old` and to `B` in `new`, where `A` is gone from `new` and `B` is new.
pub(crate) fn schema_renames(old: &Value, new: &Value) -> BTreeMap<String, String> {
    fn schemas(doc: &Value) -> Option<&Map<String, Value>> {
        doc.get("components")?.get("schemas")?.as_object()
    }
    let old_schemas = schemas(old);
    let new_schemas = schemas(new);
    let exists = |m: Option<&Map<String, Value>>, r: &str| {
        walk::component_of(r).is_some_and(|(kind, name)| {
            kind == "schemas" && m.is_some_and(|m| m.contains_key(&name))
        })
    };
    let mut found: BTreeMap<String, String> = BTreeMap::new();
    loop {
        let mut pairs: Vec<(String, String)> = Vec::new();
        // Operations present on both sides.
        if let Some(paths) = old.get("paths").and_then(Value::as_object) {
            for (path, item) in paths {
                if let (Some(o), Some(n)) = (Some(item), new.get("paths").and_then(|p| p.get(path)))
                {
                    ref_pairs(o, n, Ctx::Node, &mut pairs);
                }
            }
        }
        // Schemas with the same name, and pairs already recognised.
        if let (Some(o), Some(n)) = (old_schemas, new_schemas) {
            for (name, schema) in o {
                if let Some(other) = n.get(name) {
                    ref_pairs(schema, other, Ctx::Node, &mut pairs);
                }
            }
            for (a, b) in &found {
                let name = |r: &str| walk::component_of(r).map(|(_, n)| n).unwrap_or_default();
                if let (Some(x), Some(y)) = (o.get(&name(a)), n.get(&name(b))) {
                    ref_pairs(x, y, Ctx::Node, &mut pairs);
                }
            }
        }
        let candidates: Vec<(String, String)> = pairs
            .into_iter()
            .filter(|(a, b)| {
                !exists(new_schemas, a)
                    && !exists(old_schemas, b)
                    && exists(old_schemas, a)
                    && exists(new_schemas, b)
            })
            .collect();
        let mut next = found.clone();
        for (a, b) in &candidates {
            // One-to-one only: anything ambiguous is reported as removal plus addition.
            let unique = candidates.iter().all(|(x, y)| (x == a) == (y == b));
            if unique {
                next.insert(a.clone(), b.clone());
            }
        }
        if next == found {
            return found;
        }
        found = next;
    }
}
