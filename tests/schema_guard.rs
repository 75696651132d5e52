//! The facade's public data types, and the hand-written replacements of the generated types
//! that carry secrets (`authing_otp::wire`), against the fragment they stand for, through their
//! JSON Schemas (schemars). A value added to `userIdType`, or a field renamed or newly required
//! upstream, fails here after `spec sync` even where the compiler would not notice.

use authing_otp::{OtpImport, UserIdType, UserRef, wire};
use serde_json::{Value, json};

fn fragment() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/authing-otp.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn ours<T: schemars::JsonSchema>() -> Value {
    serde_json::to_value(schemars::schema_for!(T)).unwrap()
}

/// Follows `$ref`s, in the fragment's `components/schemas` or schemars' `$defs`, and unwraps
/// upstream's single-element `allOf` wrappers.
fn resolve<'a>(root: &'a Value, mut schema: &'a Value) -> &'a Value {
    loop {
        if let Some(target) = schema.get("$ref").and_then(Value::as_str) {
            let pointer = target.trim_start_matches('#');
            schema = root
                .pointer(pointer)
                .unwrap_or_else(|| panic!("dangling {target}"));
        } else if let Some([only]) = schema
            .get("allOf")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
        {
            schema = only;
        } else {
            return schema;
        }
    }
}

/// The values of a string enum, written either as `enum` or as `oneOf` of `const`s.
fn enum_values(schema: &Value) -> Option<Vec<String>> {
    let strings = |v: &Value| v.as_str().map(str::to_owned);
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        return Some(values.iter().filter_map(strings).collect());
    }
    let variants = schema
        .get("oneOf")
        .or_else(|| schema.get("anyOf"))?
        .as_array()?;
    let mut out = Vec::new();
    for v in variants {
        match (v.get("const"), v.get("enum")) {
            (Some(c), _) => out.extend(strings(c)),
            (None, Some(Value::Array(values))) => out.extend(values.iter().filter_map(strings)),
            _ => return None,
        }
    }
    Some(out)
}

/// The JSON type a schema accepts, ignoring `null` (ours writes `Option` as nullable where the
/// fragment leaves the property out of `required`).
fn json_type(schema: &Value) -> Option<String> {
    match schema.get("type")? {
        Value::String(t) => Some(t.clone()),
        Value::Array(types) => types
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .map(str::to_owned),
        _ => None,
    }
}

fn string_set(v: Option<&Value>) -> Vec<String> {
    let mut out: Vec<String> = v
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Every structural difference between our schema and the fragment's, as `path: what`.
fn differences(
    path: &str,
    our_root: &Value,
    ours: &Value,
    their_root: &Value,
    theirs: &Value,
) -> Vec<String> {
    let (ours, theirs) = (resolve(our_root, ours), resolve(their_root, theirs));
    let mut out = Vec::new();
    if let (Some(a), Some(b)) = (enum_values(ours), enum_values(theirs)) {
        let (mut a, mut b) = (a, b);
        a.sort();
        b.sort();
        if a != b {
            out.push(format!("{path}: enum {a:?} != fragment {b:?}"));
        }
        return out;
    }
    if json_type(ours) != json_type(theirs) {
        out.push(format!(
            "{path}: type {:?} != fragment {:?}",
            json_type(ours),
            json_type(theirs)
        ));
        return out;
    }
    if json_type(theirs).as_deref() == Some("object") {
        let names = |s: &Value| {
            let mut n: Vec<String> = s["properties"]
                .as_object()
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default();
            n.sort();
            n
        };
        if names(ours) != names(theirs) {
            out.push(format!(
                "{path}: properties {:?} != fragment {:?}",
                names(ours),
                names(theirs)
            ));
        }
        let (ra, rb) = (
            string_set(ours.get("required")),
            string_set(theirs.get("required")),
        );
        if ra != rb {
            out.push(format!("{path}: required {ra:?} != fragment {rb:?}"));
        }
        for name in names(theirs) {
            if let (Some(a), Some(b)) = (
                ours["properties"].get(&name),
                theirs["properties"].get(&name),
            ) {
                out.extend(differences(
                    &format!("{path}.{name}"),
                    our_root,
                    a,
                    their_root,
                    b,
                ));
            }
        }
    }
    out
}

/// The `getOtpSecretByUser` query parameters as one object schema, the shape `UserRef`
/// serializes to.
fn query_as_object(fragment: &Value) -> Value {
    query_of(fragment, "/api/v3/get-otp-secret-by-user")
}

/// The query parameters of the GET operation at `path` as one object schema.
fn query_of(fragment: &Value, path: &str) -> Value {
    let params = fragment["paths"][path]["get"]["parameters"]
        .as_array()
        .unwrap();
    let mut properties = serde_json::Map::new();
    let mut required = Vec::new();
    for p in params.iter().filter(|p| p["in"] == "query") {
        let name = p["name"].as_str().unwrap();
        properties.insert(name.to_owned(), p["schema"].clone());
        if p["required"] == true {
            required.push(json!(name));
        }
    }
    json!({"type": "object", "properties": properties, "required": required})
}

fn guard(fragment: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let user_id_type = &query_as_object(fragment)["properties"]["userIdType"];
    let our_type = ours::<UserIdType>();
    out.extend(differences(
        "UserIdType",
        &our_type,
        &our_type,
        fragment,
        user_id_type,
    ));
    // getUserBatch names users with the same types (one for all of its userIds): the facade
    // resolves a `UserRef` of any type through it.
    let batch_type = &query_of(fragment, "/api/v3/get-user-batch")["properties"]["userIdType"];
    out.extend(differences(
        "UserIdType (getUserBatch)",
        &our_type,
        &our_type,
        fragment,
        batch_type,
    ));
    let query = query_as_object(fragment);
    let user_ref = ours::<UserRef>();
    out.extend(differences("UserRef", &user_ref, &user_ref, &query, &query));
    let item = ours::<OtpImport>();
    out.extend(differences(
        "OtpImport",
        &item,
        &item,
        fragment,
        &json!({"$ref": "#/components/schemas/ImportOtpItemDto"}),
    ));
    // The generated client uses these in place of the schemas of the same names (build.rs).
    for (name, schema) in [
        (
            "GetManagementAccessTokenDto",
            ours::<wire::GetManagementAccessTokenDto>(),
        ),
        ("AccessTokenResDto", ours::<wire::AccessTokenResDto>()),
        ("ImportOtpItemDataDto", ours::<wire::ImportOtpItemDataDto>()),
        ("OtpSecretRespDto", ours::<wire::OtpSecretRespDto>()),
    ] {
        out.extend(differences(
            &format!("wire::{name}"),
            &schema,
            &schema,
            fragment,
            &json!({"$ref": format!("#/components/schemas/{name}")}),
        ));
    }
    out
}

#[test]
fn facade_types_match_the_fragment() {
    assert_eq!(guard(&fragment()), Vec::<String>::new());
    // And the typed list is what the spec lists, in its order.
    let spec_values =
        enum_values(&query_as_object(&fragment())["properties"]["userIdType"]).unwrap();
    let ours: Vec<&str> = UserIdType::ALL.iter().map(|t| t.as_str()).collect();
    assert_eq!(ours, spec_values);
    let batch = query_of(&fragment(), "/api/v3/get-user-batch");
    assert_eq!(
        enum_values(&batch["properties"]["userIdType"]).unwrap(),
        spec_values
    );
    assert_eq!(batch["properties"]["userIdType"]["default"], "user_id");
}

#[test]
fn the_guard_catches_what_upstream_may_change() {
    type Mutation = (&'static str, fn(&mut Value));
    let mutations: [Mutation; 7] = [
        ("new userIdType value", |f| {
            let params = f["paths"]["/api/v3/get-otp-secret-by-user"]["get"]["parameters"]
                .as_array_mut()
                .unwrap();
            let p = params
                .iter_mut()
                .find(|p| p["name"] == "userIdType")
                .unwrap();
            p["schema"]["enum"]
                .as_array_mut()
                .unwrap()
                .push(json!("passkey"));
        }),
        ("new userIdType value in getUserBatch only", |f| {
            let params = f["paths"]["/api/v3/get-user-batch"]["get"]["parameters"]
                .as_array_mut()
                .unwrap();
            let p = params
                .iter_mut()
                .find(|p| p["name"] == "userIdType")
                .unwrap();
            p["schema"]["enum"]
                .as_array_mut()
                .unwrap()
                .push(json!("passkey"));
        }),
        ("renamed property", |f| {
            let props = f["components"]["schemas"]["ImportOtpItemDataDto"]["properties"]
                .as_object_mut()
                .unwrap();
            let secret = props.remove("secret").unwrap();
            props.insert("otpSecret".into(), secret);
            f["components"]["schemas"]["ImportOtpItemDataDto"]["required"] = json!(["otpSecret"]);
        }),
        ("newly required property", |f| {
            f["components"]["schemas"]["ImportOtpItemDataDto"]["required"] =
                json!(["secret", "recoveryCode"]);
        }),
        ("a field added to the secret answer", |f| {
            let schema = &mut f["components"]["schemas"]["OtpSecretRespDto"];
            schema["properties"]["algorithm"] = json!({"type": "string"});
            schema["required"] = json!(["secret", "algorithm"]);
        }),
        ("the token's lifetime becomes a string", |f| {
            f["components"]["schemas"]["AccessTokenResDto"]["properties"]["expires_in"] =
                json!({"type": "string"});
        }),
        ("newly required parameter", |f| {
            let params = f["paths"]["/api/v3/get-otp-secret-by-user"]["get"]["parameters"]
                .as_array_mut()
                .unwrap();
            let p = params
                .iter_mut()
                .find(|p| p["name"] == "userIdType")
                .unwrap();
            p["required"] = json!(true);
        }),
    ];
    for (what, mutate) in mutations {
        let mut fragment = fragment();
        mutate(&mut fragment);
        assert!(!guard(&fragment).is_empty(), "{what} went unnoticed");
    }
}
