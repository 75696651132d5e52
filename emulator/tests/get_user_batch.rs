//! The emulator over HTTP: getUserBatch (`GET /api/v3/get-user-batch`).

mod common;

use authing_otp::{AuthScheme, ManagementClient};
use common::*;

const BATCH: &str = "/api/v3/get-user-batch";

/// Query pairs.
type Pairs<'a> = Vec<(&'a str, &'a str)>;

/// Sends getUserBatch with a token and the pool header, the query as given (repeated keys for
/// `userIds`, as the fragment's array parameter and the generated client write it).
async fn batch(emu: &Emulator, token: &str, query: &[(&str, &str)]) -> (StatusCode, Value) {
    let resp = http()
        .get(format!("{}{BATCH}", emu.base_url()))
        .query(query)
        .bearer_auth(token)
        .header("x-authing-userpool-id", emu.user_pool_id())
        .send()
        .await
        .unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap())
}

/// `userIds=<id>` for each id, then `userIdType` and the other pairs.
fn query<'a>(
    ids: &[&'a str],
    id_type: &'a str,
    more: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    let mut q: Vec<(&str, &str)> = ids.iter().map(|id| ("userIds", *id)).collect();
    q.push(("userIdType", id_type));
    q.extend_from_slice(more);
    q
}

/// Asserts a success and returns `data`.
#[track_caller]
fn users(reply: &(StatusCode, Value)) -> Vec<Value> {
    let (status, body) = reply;
    assert_eq!(*status, StatusCode::OK, "{body}");
    assert_eq!(body["statusCode"], 200, "{body}");
    assert_eq!(body["message"], "success", "{body}");
    assert_eq!(body.as_object().unwrap().len(), 3, "{body}");
    body["data"].as_array().unwrap().clone()
}

/// Milliseconds since the Unix epoch of `2022-07-03T02:20:30.000Z` (exactly that shape).
fn parse_timestamp(text: &str) -> u64 {
    let b = text.as_bytes();
    assert_eq!(b.len(), 24, "{text}");
    for (at, c) in [
        (4, b'-'),
        (7, b'-'),
        (10, b'T'),
        (13, b':'),
        (16, b':'),
        (19, b'.'),
        (23, b'Z'),
    ] {
        assert_eq!(b[at], c, "{text}");
    }
    let n = |from: usize, to: usize| text[from..to].parse::<u64>().unwrap();
    let (y, m, d) = (n(0, 4), n(5, 7), n(8, 10));
    // Howard Hinnant's days_from_civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y / 400;
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    ((days * 24 + n(11, 13)) * 60 + n(14, 16)) * 60_000 + n(17, 19) * 1000 + n(20, 23)
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// An emulator with alice, bob and carol (bob and carol share a custom field), and the window
/// of time in which they were added.
async fn pool() -> (Emulator, std::ops::RangeInclusive<u64>) {
    let before = now_ms();
    let emu = start(
        Emulator::builder()
            .user(alice())
            .user(bob())
            .user(User::new("u-carol").custom_field("dept", "eng")),
    )
    .await;
    (emu, before..=now_ms())
}

/// Takes `createdAt` and `updatedAt` out of a `UserDto` after checking them: the same instant,
/// written as Authing writes times, within `added`.
#[track_caller]
fn without_times(mut user: Value, added: &std::ops::RangeInclusive<u64>) -> Value {
    let map = user.as_object_mut().unwrap();
    let created = map.remove("createdAt").unwrap();
    let updated = map.remove("updatedAt").unwrap();
    assert_eq!(created, updated);
    let at = parse_timestamp(created.as_str().unwrap());
    assert!(added.contains(&at), "{created} not in {added:?}");
    user
}

/// What every `UserDto` the emulator writes holds besides the ids.
fn dto(ids: Value) -> Value {
    let mut user = json!({
        "status": "Activated",
        "workStatus": "Active",
        "gender": "U",
        "emailVerified": false,
        "phoneVerified": false,
        "userSourceType": "adminCreated",
    });
    user.as_object_mut()
        .unwrap()
        .extend(ids.as_object().unwrap().clone());
    user
}

fn alice_dto() -> Value {
    dto(json!({
        "userId": "u-alice",
        "externalId": "emp-001",
        "email": "Alice@Example.com",
        "phone": "+8613800000001",
        "username": "alice",
    }))
}

fn bob_dto() -> Value {
    dto(json!({"userId": "u-bob", "email": "bob@example.com"}))
}

fn carol_dto() -> Value {
    dto(json!({"userId": "u-carol"}))
}

fn with(mut user: Value, key: &str, value: Value) -> Value {
    user[key] = value;
    user
}

fn alice_identity() -> Value {
    json!({
        "identityId": "u-alice-identity-1",
        "extIdpId": "62f20932716fbcc10d966ee5",
        "provider": "oidc",
        "type": "primary",
        "userIdInIdp": "ou_8bae:746e",
        "userInfoInIdp": {},
        "originConnIds": ["62f20932716fbcc10d966ee5"],
    })
}

#[tokio::test]
async fn every_user_id_type_finds_its_users_in_the_order_asked() {
    let (emu, added) = pool().await;
    let t = token(&emu).await;
    let identities = [("withIdentities", "true")];
    let custom = [("withCustomData", "true")];
    // userIdType, the ids, more query pairs, the users expected.
    type Case<'a> = (&'a str, Vec<&'a str>, &'a [(&'a str, &'a str)], Vec<Value>);
    let cases: Vec<Case> = vec![
        (
            "user_id",
            vec!["u-bob", "nobody", "u-alice"],
            &[],
            vec![bob_dto(), alice_dto()],
        ),
        (
            "email",
            vec!["ALICE@EXAMPLE.COM", "nobody@example.com", "bob@example.com"],
            &[],
            vec![alice_dto(), bob_dto()],
        ),
        // Exact: without its `+`, the phone number is someone else's.
        (
            "phone",
            vec!["8613800000001", "+8613800000001"],
            &[],
            vec![alice_dto()],
        ),
        ("username", vec!["Alice", "alice"], &[], vec![alice_dto()]),
        (
            "external_id",
            vec!["EMP-001", "emp-001"],
            &[],
            vec![alice_dto()],
        ),
        (
            "identity",
            vec![
                "62f20932716fbcc10d966ee5:ou_8bae",
                "62f20932716fbcc10d966ee5:ou_8bae:746e",
            ],
            &identities,
            vec![with(alice_dto(), "identities", json!([alice_identity()]))],
        ),
        (
            "sync_relation",
            vec!["wechatwork:ou_c0ffee", "lark:ou_c0ffee"],
            &[],
            vec![alice_dto()],
        ),
        (
            "custom_field",
            vec!["employeeNo:E-4", "employeeNo:E-42"],
            &custom,
            vec![with(
                alice_dto(),
                "customData",
                json!({"employeeNo": "E-42"}),
            )],
        ),
    ];
    for (id_type, ids, more, expected) in &cases {
        let got: Vec<Value> = users(&batch(&emu, &t, &query(ids, id_type, more)).await)
            .into_iter()
            .map(|u| without_times(u, &added))
            .collect();
        assert_eq!(&got, expected, "{id_type}");
    }
    // `userIdType` defaults to `user_id`.
    let got = users(&batch(&emu, &t, &[("userIds", "u-carol")]).await);
    assert_eq!(without_times(got[0].clone(), &added), carol_dto());
    assert_eq!(
        emu.counters().get_user_batch_requests,
        cases.len() as u64 + 1
    );
}

#[tokio::test]
async fn unknown_references_are_left_out_without_error() {
    let (emu, _) = pool().await;
    let t = token(&emu).await;
    for (id_type, id) in [
        ("user_id", "u-nobody"),
        ("email", "nobody@example.com"),
        ("identity", "62f20932716fbcc10d966ee5:nobody"),
        ("sync_relation", "lark:nobody"),
        ("custom_field", "dept:ops"),
    ] {
        let reply = batch(&emu, &t, &query(&[id, id], id_type, &[])).await;
        assert_eq!(users(&reply), Vec::<Value>::new(), "{id_type}");
    }
}

#[tokio::test]
async fn two_references_to_one_user_give_one_entry_where_first_named() {
    let (emu, added) = pool().await;
    let t = token(&emu).await;
    let got = |reply| -> Vec<Value> {
        users(&reply)
            .into_iter()
            .map(|u| without_times(u, &added))
            .collect()
    };
    let emails = [
        "bob@example.com",
        "alice@example.com",
        "BOB@example.com",
        "ALICE@EXAMPLE.COM",
    ];
    assert_eq!(
        got(batch(&emu, &t, &query(&emails, "email", &[])).await),
        [bob_dto(), alice_dto()]
    );
    let ids = ["u-alice", "u-alice", "u-alice"];
    assert_eq!(
        got(batch(&emu, &t, &query(&ids, "user_id", &[])).await),
        [alice_dto()]
    );
}

#[tokio::test]
async fn at_most_50_ids_duplicates_included() {
    let (emu, _) = pool().await;
    let t = token(&emu).await;
    let mut ids: Vec<String> = (0..49).map(|i| format!("u-unknown-{i}")).collect();
    ids.push("u-bob".to_owned());
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let found = users(&batch(&emu, &t, &query(&refs, "user_id", &[])).await);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["userId"], "u-bob");

    let fifty_one: Vec<&str> = std::iter::repeat_n("u-alice", 51).collect();
    let reply = batch(&emu, &t, &query(&fifty_one, "user_id", &[])).await;
    assert_eq!(
        business_error(&reply, 400, codes::INVALID_REQUEST),
        "userIds: must have at most 50 items"
    );
}

#[tokio::test]
async fn invalid_requests_are_refused_naming_places_not_values() {
    let (emu, _) = pool().await;
    let t = token(&emu).await;
    let cases: Vec<(Pairs, u16, i64, &str)> = vec![
        (vec![], 400, codes::INVALID_REQUEST, "userIds: required"),
        (
            vec![("userIdType", "email")],
            400,
            codes::INVALID_REQUEST,
            "userIds: required",
        ),
        // Node's axios writes arrays as `userIds[]=…`: not the parameter the fragment declares.
        (
            vec![("userIds[]", "u-alice")],
            400,
            codes::INVALID_REQUEST,
            "userIds: required",
        ),
        (
            vec![("userIds", "u-alice"), ("userIdType", "nickname")],
            400,
            codes::INVALID_REQUEST,
            "userIdType: must be one of user_id, external_id, phone, email, username, identity, \
             sync_relation, custom_field",
        ),
        (
            vec![
                ("userIds", "u-alice"),
                ("userIdType", "email"),
                ("userIdType", "phone"),
            ],
            400,
            codes::INVALID_REQUEST,
            "userIdType: expected a single value, given 2",
        ),
        (
            vec![("userIds", "u-alice"), ("withIdentities", "yes")],
            400,
            codes::INVALID_REQUEST,
            "withIdentities: expected boolean, got string",
        ),
        (
            query(
                &[
                    "62f20932716fbcc10d966ee5:ou_8bae:746e",
                    "no-colon-secret",
                    "another-one",
                ],
                "identity",
                &[],
            ),
            400,
            codes::INVALID_REQUEST,
            "userIds[1]: a identity id must be <extIdpId>:<userIdInIdp>; userIds[2]: a identity \
             id must be <extIdpId>:<userIdInIdp>",
        ),
        (
            query(&["lark"], "sync_relation", &[]),
            400,
            codes::INVALID_REQUEST,
            "userIds[0]: a sync_relation id must be <provider>:<userIdInIdp>",
        ),
        // Malformed wins over ambiguous: it is the caller's mistake whatever the pool holds.
        (
            query(&["dept:eng", "dept"], "custom_field", &[]),
            400,
            codes::INVALID_REQUEST,
            "userIds[1]: a custom_field id must be <fieldKey>:<value>",
        ),
        (
            query(&["employeeNo:E-42", "dept:eng"], "custom_field", &[]),
            409,
            codes::AMBIGUOUS_USER,
            "userIds[1]: 2 users match this custom_field id; it must identify exactly one user",
        ),
    ];
    for (q, status_code, api_code, message) in &cases {
        let reply = batch(&emu, &t, q).await;
        assert_eq!(
            business_error(&reply, *status_code, *api_code),
            *message,
            "{q:?}"
        );
        assert!(reply.1.get("data").is_none());
    }
    // Many malformed ids: the first 20 named, the others counted.
    let many: Vec<String> = (0..45).map(|i| format!("bad-{i}")).collect();
    let refs: Vec<&str> = many.iter().map(String::as_str).collect();
    let message = business_error(
        &batch(&emu, &t, &query(&refs, "identity", &[])).await,
        400,
        codes::INVALID_REQUEST,
    );
    assert!(
        message.starts_with("userIds[0]: a identity id"),
        "{message}"
    );
    assert!(message.ends_with("; … and 25 more"), "{message}");
    assert!(!message.contains("bad-"), "{message}");
}

#[tokio::test]
async fn authentication_comes_first_as_for_the_other_operations() {
    let (emu, _) = pool().await;
    let url = format!("{}{BATCH}?userIds=u-alice", emu.base_url());
    let send = |headers: Vec<(&'static str, String)>| {
        let mut req = http().get(&url);
        for (k, v) in headers {
            req = req.header(k, v);
        }
        async move {
            let resp = req.send().await.unwrap();
            (resp.status(), resp.json::<Value>().await.unwrap())
        }
    };
    let t = token(&emu).await;
    let pool_header = ("x-authing-userpool-id", emu.user_pool_id().to_owned());
    let bearer = ("authorization", format!("Bearer {t}"));
    let refused = |reply: (StatusCode, Value), api_code: i64| {
        assert_eq!(reply.0, StatusCode::UNAUTHORIZED, "{}", reply.1);
        assert_eq!(reply.1["statusCode"], 401, "{}", reply.1);
        assert_eq!(reply.1["apiCode"], api_code, "{}", reply.1);
        assert!(reply.1.get("data").is_none());
    };
    refused(
        send(vec![pool_header.clone()]).await,
        codes::MISSING_AUTHORIZATION,
    );
    refused(send(vec![bearer.clone()]).await, codes::MISSING_USERPOOL);
    refused(
        send(vec![
            bearer.clone(),
            ("x-authing-userpool-id", "another-pool".into()),
        ])
        .await,
        codes::USERPOOL_MISMATCH,
    );
    // Before validation: an invalid request without credentials is a 401, not a 400.
    let resp = http()
        .get(format!("{}{BATCH}?userIdType=nickname", emu.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);

    assert_eq!(
        users(&send(vec![bearer.clone(), pool_header.clone()]).await).len(),
        1
    );
    emu.expire_tokens();
    refused(
        send(vec![bearer.clone(), pool_header.clone()]).await,
        codes::TOKEN_EXPIRED,
    );
    let t = token(&emu).await;
    emu.revoke_tokens();
    refused(
        send(vec![
            ("authorization", format!("Bearer {t}")),
            pool_header.clone(),
        ])
        .await,
        codes::INVALID_TOKEN,
    );
    emu.set_unauthorized_style(UnauthorizedStyle::Http200);
    let reply = send(vec![pool_header]).await;
    assert_eq!(reply.0, StatusCode::OK);
    assert_eq!(reply.1["statusCode"], 401);
    assert_eq!(reply.1["apiCode"], codes::MISSING_AUTHORIZATION);
}

#[tokio::test]
async fn with_identities_custom_data_and_department_ids() {
    let before = now_ms();
    let emu = start(
        Emulator::builder()
            .user(
                User::new("u-dan")
                    .identity("idp-1", "dan-1")
                    .identity("idp-2", "dan:2")
                    .sync_relation("lark", "dan-lark"),
            )
            .user(
                User::new("u-eve")
                    .custom_field("badge", "7")
                    .custom_field("no", "a:b"),
            ),
    )
    .await;
    let added = before..=now_ms();
    let t = token(&emu).await;
    let ids = ["u-dan", "u-eve"];
    let all = [
        ("withIdentities", "true"),
        ("withCustomData", "true"),
        ("withDepartmentIds", "true"),
    ];
    let got: Vec<Value> = users(&batch(&emu, &t, &query(&ids, "user_id", &all)).await)
        .into_iter()
        .map(|u| without_times(u, &added))
        .collect();
    let identity = |n: u32, idp: &str, uid: &str| {
        json!({
            "identityId": format!("u-dan-identity-{n}"),
            "extIdpId": idp,
            "provider": "oidc",
            "type": "primary",
            "userIdInIdp": uid,
            "userInfoInIdp": {},
            "originConnIds": [idp],
        })
    };
    let dan = dto(json!({
        "userId": "u-dan",
        "departmentIds": [],
        "identities": [identity(1, "idp-1", "dan-1"), identity(2, "idp-2", "dan:2")],
        "customData": {},
    }));
    let eve = dto(json!({
        "userId": "u-eve",
        "departmentIds": [],
        "identities": [],
        "customData": {"badge": "7", "no": "a:b"},
    }));
    assert_eq!(got, [dan.clone(), eve.clone()]);

    // Each option alone adds its key only; `false` (or leaving it out) adds none.
    let off = [
        ("withIdentities", "false"),
        ("withCustomData", "false"),
        ("withDepartmentIds", "false"),
        ("flatCustomData", "true"),
    ];
    for (more, key) in [
        (&[("withIdentities", "true")][..], Some("identities")),
        (&[("withCustomData", "true")][..], Some("customData")),
        (&[("withDepartmentIds", "true")][..], Some("departmentIds")),
        (&off[..], None),
        (&[][..], None),
    ] {
        let got = users(&batch(&emu, &t, &query(&["u-dan"], "user_id", more)).await);
        let mut expected = dto(json!({"userId": "u-dan"}));
        if let Some(key) = key {
            expected[key] = dan[key].clone();
        }
        assert_eq!(without_times(got[0].clone(), &added), expected, "{more:?}");
    }
}

#[tokio::test]
async fn counters_faults_rate_limit_and_latency_apply() {
    let emu = start(Emulator::builder().user(alice()).rate_limit(3)).await;
    let t = token(&emu).await;
    let q = [("userIds", "u-alice")];
    emu.fail_next_on(
        Operation::GetUserBatch,
        1,
        Fault::Status(StatusCode::SERVICE_UNAVAILABLE),
    );
    let resp = http()
        .get(format!("{}{BATCH}", emu.base_url()))
        .query(&q)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(users(&batch(&emu, &t, &q).await).len(), 1);
    // The token request and two batches filled the window of 3.
    let (status, body) = batch(&emu, &t, &q).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["statusCode"], 429);

    let c = emu.counters();
    assert_eq!(
        c.get_user_batch_requests, 3,
        "faulted and refused ones count"
    );
    assert_eq!(c.token_requests, 1);
    assert_eq!(c.otp_requests(), 0, "getUserBatch is not an OTP operation");
    assert_eq!(c.total(), 4);

    let emu = start(Emulator::builder().user(alice())).await;
    let t = token(&emu).await;
    emu.set_latency(Duration::from_millis(300));
    let started = Instant::now();
    assert_eq!(users(&batch(&emu, &t, &q).await).len(), 1);
    assert!(started.elapsed() >= Duration::from_millis(300));
    emu.reset_counters();
    assert_eq!(emu.counters().get_user_batch_requests, 0);
}

#[tokio::test]
async fn the_generated_client_sends_a_batch_the_emulator_accepts_and_decodes_the_answer() {
    let emu = start(Emulator::builder().user(alice()).user(bob())).await;
    for auth in [AuthScheme::Token, AuthScheme::Signature] {
        let client = ManagementClient::builder()
            .host(emu.base_url())
            .access_key(emu.access_key_id(), emu.access_key_secret().expose_secret())
            .auth(auth)
            .build()
            .unwrap();
        let answer = client
            .generated()
            .await
            .unwrap()
            .get_user_batch()
            .user_ids(vec![
                "bob@example.com".to_owned(),
                "nobody@example.com".to_owned(),
                "alice@example.com".to_owned(),
            ])
            .user_id_type("email")
            .with_identities(true)
            .send()
            .await
            .unwrap()
            .into_inner();
        assert_eq!(answer.status_code, 200.0);
        // Decoded through the client's lenient envelope (`UserListAnswer`): the ids and the
        // fields a lookup matches on.
        let data = answer.data.expect("a success carries the users found");
        let ids: Vec<&str> = data.iter().map(|u| u.user_id.as_str()).collect();
        assert_eq!(ids, ["u-bob", "u-alice"], "{auth:?}");
        let alice = &data[1];
        assert_eq!(alice.email.as_deref(), Some("Alice@Example.com"));
        assert_eq!(alice.identities[0].ext_idp_id, "62f20932716fbcc10d966ee5");
        assert_eq!(alice.identities[0].user_id_in_idp, "ou_8bae:746e");
    }
    assert_eq!(emu.counters().get_user_batch_requests, 2);
}
