//! The drift check and sync: `authing_otp_cli::spec` and `authing-otp spec check|sync`.
//!
//! Upstream documents are built here: the checked-in fragment turned back into what upstream
//! publishes (long operationIds, tags, code samples, Chinese descriptions) inside a larger
//! document with unrelated paths and schemas, then mutated one way per test. Files go to a fresh
//! directory under the system temp dir; the real fragment is only ever read.

use std::fs;
use std::path::{Path, PathBuf};

use authing_otp_cli::spec::{self, Change, Severity};
use serde_json::{Map, Value, json};

fn fragment_path() -> PathBuf {
    // The workspace's one fragment, which the client crate is generated from.
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../openapi/authing-otp.json")
}

fn fragment_text() -> String {
    fs::read_to_string(fragment_path()).expect("reading the checked-in fragment")
}

fn fragment() -> Value {
    serde_json::from_str(&fragment_text()).expect("the fragment is JSON")
}

/// A fresh, empty directory for one test.
fn temp_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "authing-otp-spec-drift-{}-{test}",
        std::process::id()
    ));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("creating a temp dir");
    dir
}

fn write_json(dir: &Path, name: &str, doc: &Value) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, serde_json::to_string(doc).unwrap()).unwrap();
    path
}

/// The fragment as upstream publishes it, embedded in a larger document.
fn upstream() -> Value {
    let ours = fragment();
    let derivation = &ours["x-authing-otp-derivation"];
    let mut paths = Map::new();
    paths.insert(
        "/api/v3/list-users".into(),
        json!({"get": {"operationId": "UsersManagementController_listUsers", "summary": "获取用户列表",
            "parameters": [{"name": "page", "in": "query", "required": false, "schema": {"type": "number"}}],
            "responses": {"200": {"description": "", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/UserPaginatedRespDto"}}}}},
            "tags": ["管理用户/API 列表"]}}),
    );
    for (path, item) in ours["paths"].as_object().unwrap() {
        paths.insert(path.clone(), item.clone());
    }
    for entry in derivation["operations"].as_array().unwrap() {
        let (path, method) = (
            entry["path"].as_str().unwrap(),
            entry["method"].as_str().unwrap(),
        );
        let op = paths[path][method].as_object_mut().unwrap();
        op["operationId"] = entry["upstreamOperationId"].clone();
        op.insert("tags".into(), json!(["管理用户/API 列表"]));
        op.insert(
            "x-authing-code-samples".into(),
            json!({"node": "managementClient.call({ $ref: 'x' })"}),
        );
    }
    // Upstream's own words where ours differ.
    let otp = paths["/api/v3/get-otp-secret-by-user"]["get"]
        .as_object_mut()
        .unwrap();
    otp["summary"] = json!("获取用户绑定 OTP 的秘钥");
    otp["parameters"][1]["description"] = json!("用户 ID 类型，默认值为 `user_id`");
    paths["/api/v3/get-user-batch"]["get"]["summary"] = json!("批量获取用户信息");
    // Upstream does not describe this one at all; ours does.
    paths["/api/v3/get-management-token"]["post"]
        .as_object_mut()
        .unwrap()
        .shift_remove("description");

    let mut schemas = Map::new();
    schemas.insert(
        "ZzzUnrelatedDto".into(),
        json!({"type": "object", "properties": {"z": {"type": "string"}}}),
    );
    for (name, schema) in ours["components"]["schemas"]
        .as_object()
        .unwrap()
        .iter()
        .rev()
    {
        schemas.insert(name.clone(), schema.clone());
    }
    schemas.insert(
        "UserPaginatedRespDto".into(),
        json!({"type": "object", "properties": {"data": {"type": "array", "items": {"$ref": "#/components/schemas/AaaUserDto"}}}}),
    );
    schemas.insert(
        "AaaUserDto".into(),
        json!({"type": "object", "properties": {"userId": {"type": "string"}}}),
    );
    schemas["ImportOtpItemDataDto"]["properties"]["secret"]["description"] = json!("OTP 密钥");
    // Upstream writes `format` on its dates; the derivation drops it (`dropSchemaFields`).
    let user = schemas["UserDto"]["properties"].as_object_mut().unwrap();
    for (name, property) in user.iter_mut() {
        if name.ends_with("At") {
            let property = property.as_object_mut().unwrap();
            // Where upstream puts it: before `type`.
            let rest = std::mem::take(property);
            property.insert("format".into(), json!("date-time"));
            property.extend(rest);
        }
    }
    user["createdAt"]["description"] = json!("创建时间");
    let mut security = ours["components"]["securitySchemes"].clone();
    security["x-authing-userpool-id"]["description"] = json!("Authing Userpool Id");

    json!({
        "openapi": "3.0.0",
        "info": {"title": "Authing 管理 API", "version": "3.0", "x-logo": {"url": "https://files.authing.co/authing-logo.png"}},
        "tags": [{"name": "管理用户/API 列表"}],
        "servers": ours["servers"],
        "components": {"securitySchemes": security, "schemas": schemas},
        "paths": paths,
        "x-tagGroups": [{"name": "管理用户", "tags": ["管理用户/API 列表"]}],
    })
}

/// The one difference an upstream renaming import-otp's operationId (to `...importOtpV2`) makes.
const RENAMED_OPERATION_ID: &str = concat!(
    r#"POST /api/v3/import-otp upstream operationId: "UsersManagementController_importOtp""#,
    r#" -> "UsersManagementController_importOtpV2""#
);

fn schema<'a>(doc: &'a mut Value, name: &str) -> &'a mut Value {
    &mut doc["components"]["schemas"][name]
}

/// Renames key `from` to `to` in an object, keeping its position.
fn rename_key(object: &mut Value, from: &str, to: &str) {
    let map = object.as_object_mut().unwrap();
    *map = std::mem::take(map)
        .into_iter()
        .map(|(k, v)| (if k == from { to.to_owned() } else { k }, v))
        .collect();
}

// ---- the library ------------------------------------------------------------------------------

/// The vendor's V3 document in `../shared`, for the `#[ignore]`d tests that read it: run on their
/// own (`--ignored`) without it, they fail rather than pass having checked nothing.
fn real_upstream() -> Value {
    let shared = std::env::var_os("AUTHING_OTP_SHARED")
        .expect("AUTHING_OTP_SHARED is not set: this test reads ../shared's V3 document");
    let path = Path::new(&shared).join("authing-v3/management-openapi.json");
    spec::read_document(&path)
        .unwrap_or_else(|e| panic!("AUTHING_OTP_SHARED is set but {}: {e}", path.display()))
}

#[test]
#[ignore = "reads the vendor's V3 document in ../shared: set AUTHING_OTP_SHARED and pass --ignored (.ci/run does)"]
fn deriving_from_the_real_upstream_reproduces_the_fragment_byte_for_byte() {
    let upstream = real_upstream();
    let derived = spec::derive_fragment(&upstream, &fragment()).unwrap();
    let text = spec::to_json_text(&derived);
    let expected = fragment_text();
    if let Some((i, (got, want))) = text
        .lines()
        .zip(expected.lines())
        .enumerate()
        .find(|(_, (a, b))| a != b)
    {
        panic!("line {}: derived `{got}`, checked in `{want}`", i + 1);
    }
    assert_eq!(text, expected);
    assert_eq!(spec::compare(&fragment(), &derived), []);
}

fn reads_the_same_as_yaml_in_block_and_flow_style(doc: &Value) {
    let block = serde_yaml_ng::to_string(doc).unwrap();
    assert_eq!(&spec::parse_document(&block, "block.yaml").unwrap(), doc);
    // JSON is YAML in flow style: read as YAML after a comment.
    let flow = format!("# flow\n{}", serde_json::to_string_pretty(doc).unwrap());
    assert_eq!(&spec::parse_document(&flow, "flow.yaml").unwrap(), doc);
}

#[test]
fn upstream_as_yaml_reads_the_same_in_block_and_flow_style() {
    reads_the_same_as_yaml_in_block_and_flow_style(&upstream());
}

#[test]
#[ignore = "reads the vendor's V3 document in ../shared: set AUTHING_OTP_SHARED and pass --ignored (.ci/run does)"]
fn the_real_upstream_as_yaml_reads_the_same_in_block_and_flow_style() {
    reads_the_same_as_yaml_in_block_and_flow_style(&real_upstream());
}

#[test]
fn deriving_from_the_synthetic_upstream_reproduces_the_fragment() {
    let derived = spec::derive_fragment(&upstream(), &fragment()).unwrap();
    assert_eq!(spec::to_json_text(&derived), fragment_text());
}

#[test]
fn differences_render_and_classify() {
    let mut up = upstream();
    schema(&mut up, "ImportOtpItemDataDto")["properties"]["secret"]["type"] = json!("number");
    let differences = spec::drift(&up, &fragment()).unwrap();
    assert_eq!(differences.len(), 1, "{differences:?}");
    let d = &differences[0];
    assert_eq!(d.severity, Severity::Breaking);
    assert_eq!(
        d.change,
        Change::Changed {
            from: json!("string"),
            to: json!("number")
        }
    );
    assert_eq!(
        d.to_string(),
        r#"schema ImportOtpItemDataDto property secret type: "string" -> "number""#
    );
    let round_trip: spec::Difference =
        serde_json::from_value(serde_json::to_value(d).unwrap()).unwrap();
    assert_eq!(&round_trip, d);
}

#[test]
fn a_new_enum_value_in_a_response_is_breaking() {
    // Generated enums are closed: a value the client does not know fails to decode.
    let mut up = upstream();
    let mut ours = fragment();
    for doc in [&mut up, &mut ours] {
        schema(doc, "OtpSecretRespDto")["properties"]["kind"] =
            json!({"type": "string", "enum": ["totp"]});
    }
    schema(&mut up, "OtpSecretRespDto")["properties"]["kind"]["enum"] = json!(["totp", "hotp"]);
    let differences = spec::drift(&up, &ours).unwrap();
    assert_eq!(differences.len(), 1, "{differences:?}");
    assert_eq!(differences[0].severity, Severity::Breaking);
    assert_eq!(
        differences[0].to_string(),
        r#"schema OtpSecretRespDto property kind enum: + "hotp""#
    );
}

#[test]
fn an_upstream_operation_id_rename_is_a_note() {
    // The client's methods are named after the short operationIds; upstream's is only recorded.
    let mut up = upstream();
    up["paths"]["/api/v3/import-otp"]["post"]["operationId"] =
        json!("UsersManagementController_importOtpV2");
    let differences = spec::drift(&up, &fragment()).unwrap();
    assert_eq!(differences.len(), 1, "{differences:?}");
    let d = &differences[0];
    assert_eq!(d.severity, Severity::Note);
    assert!(!d.severity.reaches_client());
    assert_eq!(d.severity.to_string(), "note");
    assert_eq!(serde_json::to_value(d.severity).unwrap(), "note");
    assert_eq!(d.to_string(), RENAMED_OPERATION_ID);
    // Upstream dropping the operationId altogether is a note too (sync removes the record).
    up["paths"]["/api/v3/import-otp"]["post"]
        .as_object_mut()
        .unwrap()
        .shift_remove("operationId");
    let differences = spec::drift(&up, &fragment()).unwrap();
    assert_eq!(differences.len(), 1, "{differences:?}");
    assert_eq!(differences[0].severity, Severity::Note);
    assert_eq!(
        differences[0].change,
        Change::Removed {
            value: json!("UsersManagementController_importOtp")
        }
    );
}

#[test]
fn renaming_get_user_batch_upstream_is_a_note() {
    renaming_get_user_batch_upstream_is_a_note_in(upstream());
}

#[test]
#[ignore = "reads the vendor's V3 document in ../shared: set AUTHING_OTP_SHARED and pass --ignored (.ci/run does)"]
fn renaming_get_user_batch_in_the_real_upstream_is_a_note() {
    renaming_get_user_batch_upstream_is_a_note_in(real_upstream());
}

fn renaming_get_user_batch_upstream_is_a_note_in(mut up: Value) {
    assert_eq!(spec::drift(&up, &fragment()).unwrap(), []);
    up["paths"]["/api/v3/get-user-batch"]["get"]["operationId"] =
        json!("UsersManagementController_getUserBatchV2");
    let differences = spec::drift(&up, &fragment()).unwrap();
    assert_eq!(differences.len(), 1, "{differences:?}");
    assert_eq!(differences[0].severity, Severity::Note);
    assert_eq!(
        differences[0].to_string(),
        concat!(
            r#"GET /api/v3/get-user-batch upstream operationId: "#,
            r#""UsersManagementController_getUserBatch" -> "#,
            r#""UsersManagementController_getUserBatchV2""#
        )
    );
    // The client keeps its method name; the fragment records upstream's new id.
    let derived = spec::derive_fragment(&up, &fragment()).unwrap();
    assert_eq!(
        derived["paths"]["/api/v3/get-user-batch"]["get"]["operationId"],
        "getUserBatch"
    );
    assert_eq!(
        derived["x-authing-otp-derivation"]["operations"][3],
        json!({
            "method": "get",
            "path": "/api/v3/get-user-batch",
            "operationId": "getUserBatch",
            "upstreamOperationId": "UsersManagementController_getUserBatchV2"
        })
    );
}

#[test]
fn an_operation_added_to_the_recipe_comes_with_its_schemas_and_upstreams_words() {
    // The fragment as it was before get-user-batch: its entry, its path and the schemas only it
    // reaches taken out.
    let mut before = fragment();
    let entries = before["x-authing-otp-derivation"]["operations"]
        .as_array_mut()
        .unwrap();
    let entry = entries.pop().unwrap();
    assert_eq!(entry["path"], "/api/v3/get-user-batch");
    before["paths"]
        .as_object_mut()
        .unwrap()
        .shift_remove("/api/v3/get-user-batch");
    for name in ["IdentityDto", "UserDto", "UserListRespDto"] {
        before["components"]["schemas"]
            .as_object_mut()
            .unwrap()
            .shift_remove(name)
            .unwrap();
    }
    assert_eq!(spec::drift(&upstream(), &before).unwrap(), []);

    // Listed by method, path and short name, as a person adds it.
    before["x-authing-otp-derivation"]["operations"]
        .as_array_mut()
        .unwrap()
        .push(json!({"method": "get", "path": "/api/v3/get-user-batch", "operationId": "getUserBatch"}));
    let lines: Vec<String> = spec::drift(&upstream(), &before)
        .unwrap()
        .iter()
        .map(|d| format!("{}: {d}", d.severity))
        .collect();
    assert_eq!(
        lines,
        [
            r#"additive: paths: + "GET /api/v3/get-user-batch""#,
            r#"additive: schemas: + "IdentityDto""#,
            r#"additive: schemas: + "UserDto""#,
            r#"additive: schemas: + "UserListRespDto""#,
            r#"note: GET /api/v3/get-user-batch upstream operationId: + "UsersManagementController_getUserBatch""#,
        ]
    );
    let derived = spec::derive_fragment(&upstream(), &before).unwrap();
    // The new items come with upstream's words (ours are written afterwards); ours stay elsewhere.
    let op = &derived["paths"]["/api/v3/get-user-batch"]["get"];
    assert_eq!(op["summary"], "批量获取用户信息");
    assert_eq!(
        derived["components"]["schemas"]["UserDto"]["properties"]["createdAt"],
        json!({"type": "string", "description": "创建时间", "example": "2022-07-03T02:20:30.000Z"})
    );
    assert_eq!(
        derived["paths"]["/api/v3/get-otp-secret-by-user"]["get"]["summary"],
        "Get the OTP secret bound to a user"
    );
    // Structurally, what the checked-in fragment has.
    assert_eq!(spec::compare(&fragment(), &derived), []);
}

#[test]
fn dropped_schema_fields_are_neither_kept_nor_reported() {
    let mut up = upstream();
    assert_eq!(
        schema(&mut up, "UserDto")["properties"]["updatedAt"]["format"],
        "date-time"
    );
    let derived = spec::derive_fragment(&up, &fragment()).unwrap();
    let user = &derived["components"]["schemas"]["UserDto"]["properties"];
    assert!(
        user["updatedAt"].get("format").is_none(),
        "{}",
        user["updatedAt"]
    );

    // Upstream changing or adding a format is no drift: the client never sees it.
    schema(&mut up, "UserDto")["properties"]["updatedAt"]["format"] = json!("date");
    up["paths"]["/api/v3/get-user-batch"]["get"]["parameters"][0]["schema"]["items"]["format"] =
        json!("uuid");
    assert_eq!(spec::drift(&up, &fragment()).unwrap(), []);

    // A property named `format` is a name, not a field: it is kept, and reported.
    schema(&mut up, "UserDto")["properties"]["format"] = json!({"type": "string"});
    let differences = spec::drift(&up, &fragment()).unwrap();
    let lines: Vec<String> = differences.iter().map(ToString::to_string).collect();
    assert_eq!(lines, [r#"schema UserDto properties: + "format""#]);
    assert_eq!(differences[0].severity, Severity::Additive);
    let derived = spec::derive_fragment(&up, &fragment()).unwrap();
    assert_eq!(
        derived["components"]["schemas"]["UserDto"]["properties"]["format"],
        json!({"type": "string"})
    );
}

#[test]
fn tags_and_external_docs_are_notes_and_come_last() {
    // Compared only when the derivation keeps them (the real one drops operation tags).
    let doc = |tags: &[&str], docs: &str, max: u64| {
        json!({"openapi": "3.0.0", "paths": {"/u": {"get": {
            "operationId": "getUser",
            "tags": tags,
            "externalDocs": {"url": docs},
            "responses": {"200": {"description": "", "content": {"application/json": {
                "schema": {"type": "object", "xml": {"name": docs},
                           "properties": {"a": {"type": "string", "maxLength": max}}}
            }}}}
        }}}})
    };
    let ours = doc(&["Users"], "https://a.example", 10);
    let upstream = doc(&["管理用户"], "https://b.example", 20);
    let lines: Vec<String> = spec::compare(&ours, &upstream)
        .iter()
        .map(|d| format!("{}: {d}", d.severity))
        .collect();
    assert_eq!(
        lines,
        [
            r#"additive: GET /u response 200 property a maxLength: 10 -> 20"#,
            r#"note: GET /u tags: ["Users"] -> ["管理用户"]"#,
            r#"note: GET /u externalDocs url: "https://a.example" -> "https://b.example""#,
            r#"note: GET /u response 200 xml name: "https://a.example" -> "https://b.example""#,
        ]
    );
}

#[test]
fn a_schema_renamed_upstream_keeps_our_descriptions() {
    let mut up = upstream();
    rename_key(
        &mut up["components"]["schemas"],
        "OtpSecretRespDto",
        "OtpSecretDto",
    );
    schema(&mut up, "OtpSecretDto")["properties"]["secret"]["description"] = json!("MFA OTP 秘钥");
    schema(&mut up, "GetOtpSecretRespDto")["properties"]["data"]["allOf"][0]["$ref"] =
        json!("#/components/schemas/OtpSecretDto");
    let derived = spec::derive_fragment(&up, &fragment()).unwrap();
    let renamed = &derived["components"]["schemas"]["OtpSecretDto"];
    assert_eq!(
        renamed["properties"]["secret"]["description"],
        "The OTP (TOTP) secret bound to the user."
    );
    let differences: Vec<String> = spec::compare(&fragment(), &derived)
        .iter()
        .map(|d| d.to_string())
        .collect();
    assert_eq!(
        differences,
        [r#"schemas: "OtpSecretRespDto" -> "OtpSecretDto""#]
    );
}

#[test]
fn documents_that_are_not_openapi_3_0_are_rejected() {
    for (text, wanted) in [
        (r#"{"swagger": "2.0", "paths": {}}"#, "Swagger 2.0"),
        (r#"{"openapi": "3.1.0", "paths": {}}"#, "3.1.0"),
        (r#"{"hello": "world"}"#, "no `openapi`"),
        ("openapi: 3.0.0\ninfo: {}\n", "no `paths`"),
    ] {
        let err = spec::parse_document(text, "doc").unwrap_err();
        assert!(matches!(err, spec::SpecError::Invalid { .. }), "{err:?}");
        assert!(err.to_string().contains(wanted), "{err}");
    }
    let err = spec::parse_document("{\"openapi\": ", "broken.json").unwrap_err();
    assert!(
        matches!(
            err,
            spec::SpecError::Parse {
                format: spec::DocumentFormat::Json,
                line: Some(1),
                ..
            }
        ),
        "{err:?}"
    );
    let err = spec::parse_document("a: [1, 2\nb: c\n", "broken.yaml").unwrap_err();
    assert!(
        matches!(
            err,
            spec::SpecError::Parse {
                format: spec::DocumentFormat::Yaml,
                ..
            }
        ),
        "{err:?}"
    );
}

// ---- the command ------------------------------------------------------------------------------

mod command {
    use std::process::Command;

    use super::*;

    struct Run {
        code: i32,
        stdout: String,
        stderr: String,
    }

    fn run(args: &[&str]) -> Run {
        let out = Command::new(env!("CARGO_BIN_EXE_authing-otp"))
            .args(args)
            .output()
            .expect("running authing-otp");
        Run {
            code: out.status.code().expect("exited"),
            stdout: String::from_utf8(out.stdout).unwrap(),
            stderr: String::from_utf8(out.stderr).unwrap(),
        }
    }

    fn check(upstream: &Path, fragment: &Path) -> Run {
        check_with(upstream, fragment, &[])
    }

    /// `spec check` with `extra` arguments (`--fail-on ...`, `--format ...`) first.
    fn check_with(upstream: &Path, fragment: &Path, extra: &[&str]) -> Run {
        let mut args = vec!["spec", "check"];
        args.extend_from_slice(extra);
        args.extend([
            "--upstream",
            upstream.to_str().unwrap(),
            "--fragment",
            fragment.to_str().unwrap(),
        ]);
        run(&args)
    }

    /// Checks `up` against the real fragment (read only).
    fn check_doc(test: &str, up: &Value) -> Run {
        check_doc_with(test, up, &[])
    }

    fn check_doc_with(test: &str, up: &Value, extra: &[&str]) -> Run {
        let dir = temp_dir(test);
        let run = check_with(
            &write_json(&dir, "upstream.json", up),
            &fragment_path(),
            extra,
        );
        let _ = fs::remove_dir_all(&dir);
        run
    }

    /// Upstream with one more `userIdType` value: an additive change.
    fn with_new_enum_value() -> Value {
        let mut up = upstream();
        up["paths"]["/api/v3/get-otp-secret-by-user"]["get"]["parameters"][1]["schema"]["enum"]
            .as_array_mut()
            .unwrap()
            .push(json!("passkey"));
        up
    }

    /// Upstream with `secret` retyped: a breaking change.
    fn with_changed_type() -> Value {
        let mut up = upstream();
        schema(&mut up, "ImportOtpItemDataDto")["properties"]["secret"]["type"] = json!("number");
        up
    }

    /// Upstream with the operationId of import-otp renamed, and nothing else: a note.
    fn with_renamed_operation_id() -> Value {
        let mut up = upstream();
        up["paths"]["/api/v3/import-otp"]["post"]["operationId"] =
            json!("UsersManagementController_importOtpV2");
        up
    }

    /// Asserts drift and that exactly one difference line mentions `needle`; returns that line.
    fn one_line(run: &Run, needle: &str) -> String {
        assert_eq!(
            run.code, 1,
            "stdout:\n{}\nstderr:\n{}",
            run.stdout, run.stderr
        );
        let lines: Vec<&str> = run.stdout.lines().filter(|l| l.contains(needle)).collect();
        assert_eq!(lines.len(), 1, "lines naming {needle}:\n{}", run.stdout);
        lines[0].to_owned()
    }

    fn difference_lines(run: &Run) -> Vec<&str> {
        run.stdout
            .lines()
            .filter(|l| {
                ["breaking: ", "additive: ", "note: "]
                    .iter()
                    .any(|p| l.starts_with(p))
            })
            .collect()
    }

    #[test]
    fn outside_a_checkout_check_uses_the_built_in_fragment() {
        let dir = temp_dir("built-in");
        let up = write_json(&dir, "upstream.json", &upstream());
        let out = Command::new(env!("CARGO_BIN_EXE_authing-otp"))
            .args(["spec", "check", "--upstream", up.to_str().unwrap()])
            .current_dir(&dir)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains("the fragment built into authing-otp"),
            "{stdout}"
        );
        // `sync` rewrites a file, so it never falls back: no file, nothing written, exit 2.
        let out = Command::new(env!("CARGO_BIN_EXE_authing-otp"))
            .args(["spec", "sync", "--upstream", up.to_str().unwrap()])
            .current_dir(&dir)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        assert!(!dir.join("openapi").exists());
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn no_drift_exits_0() {
        let run = check_doc("no-drift", &upstream());
        assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
        assert_eq!(run.stdout.lines().count(), 1, "{}", run.stdout);
        assert!(run.stdout.contains("matches"), "{}", run.stdout);
    }

    #[test]
    fn renamed_property() {
        let mut up = upstream();
        let s = schema(&mut up, "ImportOtpItemDataDto");
        rename_key(&mut s["properties"], "secret", "otpSecret");
        s["required"] = json!(["otpSecret"]);
        let run = check_doc("renamed-property", &up);
        let line = one_line(&run, "otpSecret");
        assert_eq!(
            line,
            r#"breaking: schema ImportOtpItemDataDto properties: "secret" -> "otpSecret""#
        );
        assert_eq!(difference_lines(&run).len(), 1, "{}", run.stdout);
    }

    #[test]
    fn new_required_property() {
        let mut up = upstream();
        let s = schema(&mut up, "ImportOtpItemDataDto");
        s["properties"]["period"] = json!({"type": "number", "description": "时间步长（秒）"});
        s["required"].as_array_mut().unwrap().push(json!("period"));
        let run = check_doc("new-required-property", &up);
        let line = one_line(&run, "period");
        assert_eq!(
            line,
            r#"breaking: schema ImportOtpItemDataDto properties: + "period" (required)"#
        );
        assert_eq!(difference_lines(&run).len(), 1, "{}", run.stdout);
    }

    #[test]
    fn new_enum_value() {
        let mut up = upstream();
        up["paths"]["/api/v3/get-otp-secret-by-user"]["get"]["parameters"][1]["schema"]["enum"]
            .as_array_mut()
            .unwrap()
            .push(json!("passkey"));
        let run = check_doc("new-enum-value", &up);
        let line = one_line(&run, "passkey");
        assert_eq!(
            line,
            r#"additive: GET /api/v3/get-otp-secret-by-user param userIdType enum: + "passkey""#
        );
        assert_eq!(difference_lines(&run).len(), 1, "{}", run.stdout);
    }

    #[test]
    fn removed_path() {
        let mut up = upstream();
        up["paths"]
            .as_object_mut()
            .unwrap()
            .shift_remove("/api/v3/import-otp");
        let run = check_doc("removed-path", &up);
        let line = one_line(&run, "/api/v3/import-otp");
        assert_eq!(line, r#"breaking: paths: - "POST /api/v3/import-otp""#);
        // The schemas only that operation used go with it, without a line each.
        assert_eq!(difference_lines(&run).len(), 1, "{}", run.stdout);
    }

    #[test]
    fn changed_type() {
        let mut up = upstream();
        schema(&mut up, "ImportOtpItemDataDto")["properties"]["secret"]["type"] = json!("number");
        let run = check_doc("changed-type", &up);
        let line = one_line(&run, "secret type");
        assert_eq!(
            line,
            r#"breaking: schema ImportOtpItemDataDto property secret type: "string" -> "number""#
        );
    }

    #[test]
    fn operation_id_renamed_upstream_is_a_note_and_exits_0() {
        // Nothing on the wire or in the generated client changes: reported, never failing.
        let dir = temp_dir("operation-id");
        let path = write_json(&dir, "upstream.json", &with_renamed_operation_id());
        let fragment = fragment_path();
        for extra in [
            &[][..],
            &["--fail-on", "additive"],
            &["--fail-on", "breaking"],
        ] {
            let run = check_with(&path, &fragment, extra);
            assert_eq!(run.code, 0, "{extra:?}: {}{}", run.stdout, run.stderr);
            assert_eq!(run.stderr, "");
            let fail_on = extra.get(1).copied().unwrap_or("additive");
            assert_eq!(
                run.stdout,
                format!(
                    "note: POST /api/v3/import-otp upstream operationId: \
                     \"UsersManagementController_importOtp\" -> \
                     \"UsersManagementController_importOtpV2\"\n\
                     1 difference(s) between {} and {}: 0 breaking, 0 additive, 1 note; \
                     passes with --fail-on {fail_on}; `authing-otp spec sync` updates the \
                     fragment\n",
                    fragment.display(),
                    path.display(),
                )
            );
            assert_eq!(difference_lines(&run).len(), 1, "{}", run.stdout);
        }
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_additive_change_fails_by_default_and_passes_with_fail_on_breaking() {
        let up = with_new_enum_value();
        for (extra, code) in [
            (&[][..], 1),
            (&["--fail-on", "additive"], 1),
            (&["--fail-on", "breaking"], 0),
        ] {
            let run = check_doc_with("fail-on-additive", &up, extra);
            assert_eq!(run.code, code, "{extra:?}: {}{}", run.stdout, run.stderr);
            assert_eq!(
                difference_lines(&run),
                [concat!(
                    "additive: GET /api/v3/get-otp-secret-by-user ",
                    r#"param userIdType enum: + "passkey""#
                )],
            );
            let verdict = if code == 0 { "passes" } else { "fails" };
            let fail_on = extra.get(1).copied().unwrap_or("additive");
            let summary = run.stdout.lines().last().unwrap();
            assert!(
                summary.contains(&format!(
                    ": 0 breaking, 1 additive, 0 notes; {verdict} with --fail-on {fail_on};"
                )),
                "{summary}"
            );
        }
    }

    #[test]
    fn a_breaking_change_fails_under_both() {
        let up = with_changed_type();
        for extra in [
            &[][..],
            &["--fail-on", "additive"],
            &["--fail-on", "breaking"],
        ] {
            let run = check_doc_with("fail-on-breaking", &up, extra);
            assert_eq!(run.code, 1, "{extra:?}: {}{}", run.stdout, run.stderr);
            assert_eq!(difference_lines(&run).len(), 1, "{}", run.stdout);
            assert!(
                run.stdout
                    .contains(": 1 breaking, 0 additive, 0 notes; fails with"),
                "{}",
                run.stdout
            );
        }
    }

    #[test]
    fn fail_on_rejects_other_values() {
        let run = check_doc_with("fail-on-note", &upstream(), &["--fail-on", "note"]);
        assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
        assert!(run.stderr.contains("--fail-on"), "{}", run.stderr);
    }

    #[test]
    fn ref_target_renamed() {
        // Upstream renames a schema and updates the reference to it: one rename, not a removed
        // schema plus a new one plus a changed $ref.
        let mut up = upstream();
        rename_key(
            &mut up["components"]["schemas"],
            "ImportOtpItemDataDto",
            "ImportOtpDataDto",
        );
        schema(&mut up, "ImportOtpItemDto")["properties"]["otp"]["allOf"][0]["$ref"] =
            json!("#/components/schemas/ImportOtpDataDto");
        let run = check_doc("ref-renamed", &up);
        let line = one_line(&run, "ImportOtpDataDto");
        assert_eq!(
            line,
            r#"breaking: schemas: "ImportOtpItemDataDto" -> "ImportOtpDataDto""#
        );
        assert_eq!(difference_lines(&run).len(), 1, "{}", run.stdout);
    }

    #[test]
    fn yaml_upstream_without_drift() {
        let dir = temp_dir("yaml");
        // Response codes written as bare YAML integers, as hand-written documents do.
        let yaml = serde_yaml_ng::to_string(&upstream())
            .unwrap()
            .replace("'200':", "200:");
        assert!(
            yaml.contains(" 200:\n") && !yaml.contains("'200'"),
            "{yaml}"
        );
        let path = dir.join("upstream.yaml");
        fs::write(&path, yaml).unwrap();
        let run = check(&path, &fragment_path());
        assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn unreadable_upstream_exits_2() {
        let dir = temp_dir("unreadable");
        let missing = dir.join("no-such-file.json");
        let run = check(&missing, &fragment_path());
        assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
        assert!(
            run.stderr.contains("I/O error reading") && run.stderr.contains("no-such-file.json"),
            "{}",
            run.stderr
        );
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn input_that_is_not_openapi_exits_2() {
        let dir = temp_dir("not-openapi");
        for (name, text, wanted) in [
            (
                "hello.json",
                r#"{"hello": "world"}"#,
                "not a usable OpenAPI 3.0 document",
            ),
            ("swagger.yaml", "swagger: '2.0'\npaths: {}\n", "Swagger 2.0"),
            (
                "page.html",
                "<html><body>Not Found</body></html>",
                "not a usable OpenAPI 3.0 document",
            ),
            ("broken.json", "{\"openapi\": \"3.0.0\",", "cannot parse"),
        ] {
            let path = dir.join(name);
            fs::write(&path, text).unwrap();
            let run = check(&path, &fragment_path());
            assert_eq!(run.code, 2, "{name}: {}{}", run.stdout, run.stderr);
            assert!(run.stderr.contains(wanted), "{name}: {}", run.stderr);
        }
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn json_format_parses() {
        let dir = temp_dir("json-format");
        let mut up = with_new_enum_value();
        schema(&mut up, "ImportOtpItemDataDto")["properties"]["secret"]["type"] = json!("number");
        let path = write_json(&dir, "upstream.json", &up);
        let run = run(&[
            "spec",
            "check",
            "--format",
            "json",
            "--upstream",
            path.to_str().unwrap(),
            "--fragment",
            fragment_path().to_str().unwrap(),
        ]);
        assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
        let report: Value = serde_json::from_str(&run.stdout).expect("stdout is JSON");
        assert_eq!(report["matches"], false);
        assert_eq!(report["failOn"], "additive");
        assert_eq!(report["failed"], true);
        assert_eq!(
            (
                report["breaking"].as_u64(),
                report["additive"].as_u64(),
                report["note"].as_u64()
            ),
            (Some(1), Some(1), Some(0))
        );
        let differences = report["differences"].as_array().unwrap();
        assert_eq!(differences[0]["severity"], "breaking");
        assert_eq!(
            differences[0]["change"],
            json!({"kind": "changed", "from": "string", "to": "number"})
        );
        assert_eq!(
            differences[1]["location"],
            "GET /api/v3/get-otp-secret-by-user param userIdType enum"
        );
        assert_eq!(
            differences[1]["change"],
            json!({"kind": "added", "value": "passkey"})
        );
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn json_format_reports_severities_counts_and_the_verdict() {
        let mut up = with_renamed_operation_id();
        up["paths"]["/api/v3/get-otp-secret-by-user"]["get"]["parameters"][1]["schema"]["enum"]
            .as_array_mut()
            .unwrap()
            .push(json!("passkey"));
        for (fail_on, failed, code) in [("breaking", false, 0), ("additive", true, 1)] {
            let run = check_doc_with(
                "json-severities",
                &up,
                &["--format", "json", "--fail-on", fail_on],
            );
            assert_eq!(run.code, code, "{}{}", run.stdout, run.stderr);
            let report: Value = serde_json::from_str(&run.stdout).expect("stdout is JSON");
            assert_eq!(report["matches"], false);
            assert_eq!(report["failOn"], fail_on);
            assert_eq!(report["failed"], failed);
            assert_eq!(report["syncWouldRewrite"], true);
            assert_eq!(
                [&report["breaking"], &report["additive"], &report["note"]],
                [&json!(0), &json!(1), &json!(1)]
            );
            let differences = report["differences"].as_array().unwrap();
            let severities: Vec<&str> = differences
                .iter()
                .map(|d| d["severity"].as_str().unwrap())
                .collect();
            assert_eq!(severities, ["additive", "note"]);
            assert_eq!(
                differences[1],
                json!({
                    "severity": "note",
                    "location": "POST /api/v3/import-otp upstream operationId",
                    "change": {
                        "kind": "changed",
                        "from": "UsersManagementController_importOtp",
                        "to": "UsersManagementController_importOtpV2"
                    },
                    "line": "POST /api/v3/import-otp upstream operationId: \
                             \"UsersManagementController_importOtp\" -> \
                             \"UsersManagementController_importOtpV2\""
                })
            );
        }
        // Nothing at all: nothing failed either.
        let run = check_doc_with("json-clean", &upstream(), &["--format", "json"]);
        assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
        let report: Value = serde_json::from_str(&run.stdout).expect("stdout is JSON");
        assert_eq!(
            (&report["matches"], &report["failed"], &report["note"]),
            (&json!(true), &json!(false), &json!(0))
        );
    }

    #[test]
    fn sync_records_a_note_only_change() {
        let real_before = fragment_text();
        let dir = temp_dir("sync-note");
        let copy = dir.join("authing-otp.json");
        fs::write(&copy, &real_before).unwrap();
        let upstream_path = write_json(&dir, "upstream.json", &with_renamed_operation_id());
        let (up_arg, frag_arg) = (upstream_path.to_str().unwrap(), copy.to_str().unwrap());

        let first = run(&["spec", "sync", "--upstream", up_arg, "--fragment", frag_arg]);
        assert_eq!(first.code, 0, "{}{}", first.stdout, first.stderr);
        assert_eq!(
            difference_lines(&first),
            [format!("note: {RENAMED_OPERATION_ID}")]
        );
        assert!(
            first.stdout.contains(&format!(
                "updated {frag_arg} from {up_arg}: 1 difference(s), 0 breaking, 0 additive, \
                 1 note; notes only, nothing on the wire or in the generated code changes"
            )),
            "{}",
            first.stdout
        );
        // Written: the record, and nothing else.
        let synced = fs::read_to_string(&copy).unwrap();
        assert_eq!(
            synced,
            real_before.replace(
                r#""upstreamOperationId": "UsersManagementController_importOtp""#,
                r#""upstreamOperationId": "UsersManagementController_importOtpV2""#
            )
        );
        assert_ne!(synced, real_before);

        let after = check(&upstream_path, &copy);
        assert_eq!(after.code, 0, "{}{}", after.stdout, after.stderr);
        assert!(after.stdout.contains(" matches "), "{}", after.stdout);
        assert_eq!(difference_lines(&after).len(), 0, "{}", after.stdout);

        let second = run(&["spec", "sync", "--upstream", up_arg, "--fragment", frag_arg]);
        assert_eq!(second.code, 0, "{}{}", second.stdout, second.stderr);
        assert!(
            second.stdout.contains("nothing written"),
            "{}",
            second.stdout
        );
        assert_eq!(
            fragment_text(),
            real_before,
            "the real fragment must not change"
        );
        let _ = fs::remove_dir_all(&dir);
    }

    /// In a checkout, `sync` of the default fragment rewrites the httpmock crate's copy too,
    /// so that the typed stubs generate from the same operations as the client.
    #[test]
    fn sync_in_a_checkout_keeps_the_httpmock_copy_in_step() {
        let dir = temp_dir("sync-checkout");
        fs::create_dir_all(dir.join("openapi")).unwrap();
        fs::create_dir_all(dir.join("httpmock/openapi")).unwrap();
        let fragment = dir.join("openapi/authing-otp.json");
        let copy = dir.join("httpmock/openapi/authing-otp.json");
        fs::write(&fragment, fragment_text()).unwrap();
        fs::write(&copy, fragment_text()).unwrap();
        let mut up = upstream();
        up["paths"]["/api/v3/get-otp-secret-by-user"]["get"]["parameters"][1]["schema"]["enum"]
            .as_array_mut()
            .unwrap()
            .push(json!("passkey"));
        let upstream_path = write_json(&dir, "upstream.json", &up);
        let out = Command::new(env!("CARGO_BIN_EXE_authing-otp"))
            .args([
                "spec",
                "sync",
                "--upstream",
                upstream_path.to_str().unwrap(),
            ])
            .current_dir(&dir)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{stdout}");
        assert!(
            stdout.contains("updated httpmock/openapi/authing-otp.json"),
            "{stdout}"
        );
        let synced = fs::read(&fragment).unwrap();
        assert_ne!(synced, fragment_text().as_bytes());
        assert_eq!(fs::read(&copy).unwrap(), synced);

        // A copy that drifted on its own is put back in step even when the fragment is.
        fs::write(&copy, "{}").unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_authing-otp"))
            .args([
                "spec",
                "sync",
                "--upstream",
                upstream_path.to_str().unwrap(),
            ])
            .current_dir(&dir)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        assert_eq!(fs::read(&copy).unwrap(), synced);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn sync_then_check_then_sync_again() {
        let real_before = fragment_text();
        let dir = temp_dir("sync");
        let copy = dir.join("authing-otp.json");
        fs::write(&copy, &real_before).unwrap();

        let mut up = upstream();
        up["paths"]["/api/v3/get-otp-secret-by-user"]["get"]["parameters"][1]["schema"]["enum"]
            .as_array_mut()
            .unwrap()
            .push(json!("passkey"));
        let s = schema(&mut up, "ImportOtpItemDataDto");
        rename_key(&mut s["properties"], "recoveryCode", "recoveryCodes");
        s["properties"]["recoveryCodes"]["description"] = json!("OTP 恢复码");
        up["paths"]["/api/v3/import-otp"]["post"]["operationId"] =
            json!("UsersManagementController_importOtpV2");
        let upstream_path = write_json(&dir, "upstream.json", &up);
        let (up_arg, frag_arg) = (upstream_path.to_str().unwrap(), copy.to_str().unwrap());

        // Drift first.
        assert_eq!(check(&upstream_path, &copy).code, 1);

        let first = run(&["spec", "sync", "--upstream", up_arg, "--fragment", frag_arg]);
        assert_eq!(first.code, 0, "{}{}", first.stdout, first.stderr);
        assert_eq!(difference_lines(&first).len(), 3, "{}", first.stdout);
        assert!(
            first
                .stdout
                .contains(r#"param userIdType enum: + "passkey""#),
            "{}",
            first.stdout
        );
        assert!(
            first
                .stdout
                .contains(r#"properties: "recoveryCode" -> "recoveryCodes""#),
            "{}",
            first.stdout
        );
        assert!(
            first
                .stdout
                .contains("note: POST /api/v3/import-otp upstream operationId: "),
            "{}",
            first.stdout
        );

        let synced_text = fs::read_to_string(&copy).unwrap();
        let synced: Value = serde_json::from_str(&synced_text).unwrap();
        let op = &synced["paths"]["/api/v3/get-otp-secret-by-user"]["get"];
        // Our English stays; the renamed property has no English yet, so it gets upstream's words.
        assert_eq!(op["summary"], "Get the OTP secret bound to a user");
        assert!(
            op["parameters"][1]["description"]
                .as_str()
                .unwrap()
                .starts_with("What kind of id userId is")
        );
        assert_eq!(
            op["parameters"][1]["schema"]["enum"]
                .as_array()
                .unwrap()
                .last()
                .unwrap(),
            "passkey"
        );
        assert_eq!(
            synced["paths"]["/api/v3/import-otp"]["post"]["operationId"],
            "importOtp"
        );
        assert_eq!(
            synced["x-authing-otp-derivation"]["operations"][1]["upstreamOperationId"],
            "UsersManagementController_importOtpV2"
        );
        let data = &synced["components"]["schemas"]["ImportOtpItemDataDto"]["properties"];
        assert_eq!(
            data["secret"]["description"],
            "The OTP (TOTP) secret, base32."
        );
        assert_eq!(data["recoveryCodes"]["description"], "OTP 恢复码");
        assert!(synced["components"]["schemas"].get("AaaUserDto").is_none());
        assert_eq!(synced["info"], fragment()["info"]);

        let after = check(&upstream_path, &copy);
        assert_eq!(after.code, 0, "{}{}", after.stdout, after.stderr);

        let second = run(&["spec", "sync", "--upstream", up_arg, "--fragment", frag_arg]);
        assert_eq!(second.code, 0, "{}{}", second.stdout, second.stderr);
        assert!(
            second.stdout.contains("nothing written"),
            "{}",
            second.stdout
        );
        assert_eq!(difference_lines(&second).len(), 0);
        assert_eq!(fs::read_to_string(&copy).unwrap(), synced_text);

        assert_eq!(
            fragment_text(),
            real_before,
            "the real fragment must not change"
        );
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn sync_refuses_to_drop_an_operation() {
        let dir = temp_dir("sync-removed");
        let copy = dir.join("authing-otp.json");
        fs::write(&copy, fragment_text()).unwrap();
        let mut up = upstream();
        up["paths"]
            .as_object_mut()
            .unwrap()
            .shift_remove("/api/v3/import-otp");
        let upstream_path = write_json(&dir, "upstream.json", &up);
        let run = run(&[
            "spec",
            "sync",
            "--upstream",
            upstream_path.to_str().unwrap(),
            "--fragment",
            copy.to_str().unwrap(),
        ]);
        assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
        assert!(
            run.stderr.contains("POST /api/v3/import-otp"),
            "{}",
            run.stderr
        );
        assert_eq!(fs::read_to_string(&copy).unwrap(), fragment_text());
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn sync_without_changes_writes_nothing() {
        let dir = temp_dir("sync-unchanged");
        let copy = dir.join("authing-otp.json");
        fs::write(&copy, fragment_text()).unwrap();
        let upstream_path = write_json(&dir, "upstream.json", &upstream());
        let modified = fs::metadata(&copy).unwrap().modified().unwrap();
        let run = run(&[
            "spec",
            "sync",
            "--upstream",
            upstream_path.to_str().unwrap(),
            "--fragment",
            copy.to_str().unwrap(),
        ]);
        assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
        assert!(run.stdout.contains("nothing written"), "{}", run.stdout);
        assert_eq!(fs::metadata(&copy).unwrap().modified().unwrap(), modified);
        let _ = fs::remove_dir_all(&dir);
    }

    /// Whether `text` holds a character that could act on a terminal, other than line breaks.
    fn acts_on_terminal(text: &str) -> bool {
        text.chars().any(|c| {
            (c.is_control() && c != '\n')
                || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        })
    }

    #[test]
    fn terminal_escapes_from_the_document_are_printed_escaped() {
        let evil = "x\u{1b}]0;pwned\u{7}\u{7f}\u{9b}2J\u{202e}\u{2066}\nbreaking: forged";
        let mut up = upstream();
        schema(&mut up, "ImportOtpItemDataDto")["properties"][evil] = json!({"type": "string"});
        let run = check_doc("escapes-text", &up);
        assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
        assert!(!acts_on_terminal(&run.stdout), "{:?}", run.stdout);
        assert_eq!(
            difference_lines(&run),
            [
                r#"additive: schema ImportOtpItemDataDto properties: + "x\u001b]0;pwned\u0007\u{7f}\u{9b}2J\u{202e}\u{2066}\nbreaking: forged""#
            ]
        );
        // The JSON report is the same JSON, with those characters as JSON escapes.
        let run = check_doc_with("escapes-json", &up, &["--format", "json"]);
        assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
        assert!(!acts_on_terminal(&run.stdout), "{:?}", run.stdout);
        let report: Value = serde_json::from_str(&run.stdout).unwrap();
        assert_eq!(report["differences"][0]["change"]["value"], evil);
        // And error messages quoting the document.
        let bad = json!({"openapi": "3.1\u{1b}[2J\u{202e}", "paths": {}});
        let run = check_doc("escapes-error", &bad);
        assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
        assert!(
            run.stderr.contains(
                r"is not a usable OpenAPI 3.0 document: it declares openapi 3.1\u{1b}[2J\u{202e}; only OpenAPI 3.0.x is supported"
            ),
            "{}",
            run.stderr
        );
        assert!(!acts_on_terminal(&run.stderr), "{:?}", run.stderr);
    }

    #[test]
    fn an_upstream_over_the_size_limit_is_refused_unread() {
        let dir = temp_dir("too-large");
        // Sparse: no disk space used, and never read.
        let path = dir.join("huge.json");
        let file = fs::File::create(&path).unwrap();
        file.set_len(spec::MAX_DOCUMENT_BYTES + 1).unwrap();
        let run = check(&path, &fragment_path());
        assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
        assert_eq!(
            run.stderr,
            format!(
                "error: {} is 67108865 bytes, larger than the 64 MiB limit for an OpenAPI \
                 document (upstream's is a few MB); refused unread\n",
                path.display()
            )
        );
        // A pipe has no size: what comes is read up to the limit, no further.
        let fifo = dir.join("pipe.json");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.is_ok_and(|s| s.success()), "mkfifo");
        let writer = {
            let fifo = fifo.clone();
            std::thread::spawn(move || {
                use std::io::Write;
                let mut pipe = fs::OpenOptions::new().write(true).open(fifo).unwrap();
                let chunk = vec![b' '; 1 << 20];
                // 65 MiB, or less once the reader hangs up.
                for _ in 0..65 {
                    if pipe.write_all(&chunk).is_err() {
                        break;
                    }
                }
            })
        };
        let run = check(&fifo, &fragment_path());
        writer.join().unwrap();
        assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
        assert_eq!(
            run.stderr,
            format!(
                "error: {} is larger than the 64 MiB limit for an OpenAPI document (upstream's \
                 is a few MB); refused unread\n",
                fifo.display()
            )
        );
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn deeply_nested_yaml_is_refused_before_parsing() {
        let dir = temp_dir("deep-yaml");
        for (name, deep, line) in [
            ("flow.yaml", "[".repeat(3000), 3),
            ("mapping.yaml", "{a: ".repeat(3000), 3),
            (
                "block.yaml",
                (0..200)
                    .map(|i| format!("\n{}a:", " ".repeat(4 + i)))
                    .collect::<String>(),
                3 + 127,
            ),
        ] {
            let path = dir.join(name);
            fs::write(&path, format!("openapi: 3.0.0\npaths:\n  /x: {deep}\n")).unwrap();
            let run = check(&path, &fragment_path());
            assert_eq!(run.code, 2, "{name}: {}{}", run.stdout, run.stderr);
            assert_eq!(
                run.stderr,
                format!(
                    "error: cannot parse {} as YAML: nested deeper than 128 levels at line \
                     {line}; refused before parsing\n",
                    path.display()
                ),
                "{name}"
            );
        }
        let _ = fs::remove_dir_all(&dir);
    }

    /// Serves one HTTP request on loopback with `head` (status line and headers, without the
    /// blank line), then `body_len` bytes of spaces: the URL to ask.
    fn serve_once(head: String, body_len: usize) -> String {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!(
            "http://{}/management-openapi.json",
            listener.local_addr().unwrap()
        );
        std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream);
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                line.clear();
            }
            let mut stream = reader.into_inner();
            let _ = write!(stream, "{head}\r\nConnection: close\r\n\r\n");
            let chunk = vec![b' '; 64 * 1024];
            let mut left = body_len;
            while left > 0 {
                let n = left.min(chunk.len());
                // The client hangs up once it has seen enough.
                if stream.write_all(&chunk[..n]).is_err() {
                    break;
                }
                left -= n;
            }
        });
        url
    }

    fn check_url(url: &str) -> Run {
        run(&[
            "spec",
            "check",
            "--upstream",
            url,
            "--fragment",
            fragment_path().to_str().unwrap(),
        ])
    }

    #[test]
    fn a_redirect_is_reported_with_where_it_points_not_followed() {
        let url = serve_once(
            "HTTP/1.1 301 Moved Permanently\r\n\
             Location: https://mirror.example.com:8443/doc.json?token=s3cr3t\r\n\
             Content-Length: 0"
                .into(),
            0,
        );
        let run = check_url(&url);
        assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
        assert_eq!(
            run.stderr,
            format!(
                "error: fetching {url}: the server answered 301 Moved Permanently, a redirect to \
                 https://mirror.example.com:8443 (not followed: give the URL it points to)\n"
            )
        );
        // A relative one is resolved; the path is not shown.
        let url = serve_once(
            "HTTP/1.1 302 Found\r\nLocation: /elsewhere/doc.json\r\nContent-Length: 0".into(),
            0,
        );
        let run = check_url(&url);
        assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
        let origin = url.trim_end_matches("/management-openapi.json");
        assert!(
            run.stderr.ends_with(&format!(
                "the server answered 302 Found, a redirect to {origin} (not followed: give the \
                 URL it points to)\n"
            )),
            "{}",
            run.stderr
        );
        assert!(!run.stderr.contains("elsewhere"), "{}", run.stderr);
    }

    #[test]
    fn a_status_other_than_2xx_is_an_error() {
        let url = serve_once("HTTP/1.1 404 Not Found\r\nContent-Length: 9".into(), 9);
        let run = check_url(&url);
        assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
        assert_eq!(
            run.stderr,
            format!("error: fetching {url}: the server answered 404 Not Found\n")
        );
    }

    #[test]
    fn a_response_over_the_size_limit_is_refused() {
        // Announced: refused before the body is read (none is sent).
        let url = serve_once("HTTP/1.1 200 OK\r\nContent-Length: 100000000".into(), 0);
        let run = check_url(&url);
        assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
        assert_eq!(
            run.stderr,
            format!(
                "error: {url} is 100000000 bytes, larger than the 64 MiB limit for an OpenAPI \
                 document (upstream's is a few MB); refused unread\n"
            )
        );
        // Not announced: read up to the limit, no further.
        let limit = usize::try_from(spec::MAX_DOCUMENT_BYTES).unwrap();
        let url = serve_once("HTTP/1.1 200 OK".into(), 2 * limit);
        let run = check_url(&url);
        assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
        assert_eq!(
            run.stderr,
            format!(
                "error: {url} is larger than the 64 MiB limit for an OpenAPI document \
                 (upstream's is a few MB); refused unread\n"
            )
        );
    }
}
