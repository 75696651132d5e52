//! The emulator under a hostile client: work per request stays linear and off the shared
//! locks, answers stay small whatever the request, and connections cannot be held forever.
//!
//! Time bounds here are loose safety nets for a loaded machine, never performance targets.

mod common;

use common::*;

/// The largest answer any of these requests may get: far below the 5.7 MB one a 300 KB
/// request used to get.
const SMALL_ANSWER: usize = 8 * 1024;

/// Sends `body` (already serialized) to importOtp with `token`: status, raw length, JSON.
async fn import_raw(emu: &Emulator, token: &str, body: String) -> (StatusCode, usize, Value) {
    let resp = http()
        .post(format!("{}{IMPORT}", emu.base_url()))
        .bearer_auth(token)
        .header("x-authing-userpool-id", emu.user_pool_id())
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let bytes = resp.bytes().await.unwrap();
    (status, bytes.len(), serde_json::from_slice(&bytes).unwrap())
}

/// An importOtp body binding a secret to each of `ids`.
fn import_body<'a>(ids: impl IntoIterator<Item = &'a str>) -> String {
    let list: Vec<Value> = ids
        .into_iter()
        .map(|id| json!({"userId": id, "otp": {"secret": "S"}}))
        .collect();
    json!({ "list": list }).to_string()
}

// More workers than the imports, so that an ordinary request waits for the directory, if for
// anything, and not for a thread.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn imports_of_19000_unknown_ids_do_not_stall_other_clients() {
    let emu = start(Emulator::builder().user(alice()).user(bob())).await;
    let t = token(&emu).await;
    // 19,000 items: 17,000 distinct unknown ids, then 2,000 of them again, so that the
    // deduplication has work to do too.
    let ids: Vec<String> = (0..17_000).map(|n| format!("g{n:05}")).collect();
    let body = import_body(ids.iter().chain(&ids[..2_000]).map(String::as_str));
    assert!(body.len() < 1 << 20, "within the body limit");

    let imports: Vec<_> = (0..2)
        .map(|_| {
            let (emu_url, body, t) = (emu.base_url().to_owned(), body.clone(), t.clone());
            let pool = emu.user_pool_id().to_owned();
            tokio::spawn(async move {
                let resp = http()
                    .post(format!("{emu_url}{IMPORT}"))
                    .bearer_auth(&t)
                    .header("x-authing-userpool-id", pool)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                let status = resp.status();
                let bytes = resp.bytes().await.unwrap();
                (
                    status,
                    bytes.len(),
                    serde_json::from_slice::<Value>(&bytes).unwrap(),
                )
            })
        })
        .collect();

    // Ordinary requests, one after the other, for as long as the imports run.
    let mut slowest = Duration::ZERO;
    let mut served = 0;
    while served < 5 || imports.iter().any(|i| !i.is_finished()) {
        let started = Instant::now();
        let (status, body) = get_secret(&emu, &t, &[("userId", "u-alice")]).await;
        slowest = slowest.max(started.elapsed());
        assert_eq!(status, StatusCode::OK, "{body}");
        served += 1;
    }
    assert!(
        slowest < Duration::from_secs(1),
        "an ordinary request took {slowest:?} while the imports ran"
    );

    let mut expected = String::from("users not found: ");
    expected.push_str(&ids[..20].join(", "));
    expected.push_str(" and 16980 more; nothing was imported");
    for import in imports {
        let (status, length, body) = import.await.unwrap();
        let message = business_error(&(status, body), 404, codes::USER_NOT_FOUND);
        assert_eq!(message, expected);
        assert!(length < SMALL_ANSWER, "{length} bytes");
    }
    assert!(emu.bindings().len() == 1, "nothing imported");
}

#[tokio::test]
async fn an_import_with_100000_empty_items_gets_a_bounded_answer() {
    let emu = start(Emulator::builder().user(bob())).await;
    let t = token(&emu).await;
    let body = format!(r#"{{"list":[{}{{}}]}}"#, "{},".repeat(99_999));
    assert!(body.len() > 300_000);
    let (status, length, reply) = import_raw(&emu, &t, body).await;
    let message = business_error(&(status, reply), 400, codes::INVALID_REQUEST);
    let shown: Vec<String> = (0..10)
        .flat_map(|i| {
            [
                format!("list[{i}].userId: required"),
                format!("list[{i}].otp: required"),
            ]
        })
        .collect();
    assert_eq!(message, format!("{}; … and 199980 more", shown.join("; ")));
    assert!(length < SMALL_ANSWER, "{length} bytes");
    assert!(emu.bindings().is_empty());
}

#[tokio::test]
async fn huge_unknown_user_ids_are_clipped_in_the_answer() {
    let emu = start(Emulator::builder().user(bob())).await;
    let t = token(&emu).await;
    // Three ids of 200,000 characters (one with multi-byte characters), and a short one.
    let long_a = "a".repeat(200_000);
    let long_b = "b".repeat(200_000);
    let long_c = "é".repeat(200_000);
    let body = import_body([long_a.as_str(), long_b.as_str(), long_c.as_str(), "g"]);
    let (status, length, reply) = import_raw(&emu, &t, body).await;
    let message = business_error(&(status, reply), 404, codes::USER_NOT_FOUND);
    assert_eq!(
        message,
        format!(
            "users not found: {}…, {}…, {}…, g; nothing was imported",
            "a".repeat(64),
            "b".repeat(64),
            "é".repeat(64)
        )
    );
    assert!(length < SMALL_ANSWER, "{length} bytes");
}

#[tokio::test]
async fn a_huge_unknown_path_is_clipped_in_the_404() {
    let emu = start(Emulator::builder()).await;
    let path = format!("/{}", "p".repeat(60_000));
    let resp = http()
        .get(format!("{}{path}", emu.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let bytes = resp.bytes().await.unwrap();
    assert!(bytes.len() < SMALL_ANSWER, "{} bytes", bytes.len());
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(
        body,
        json!({
            "statusCode": 404,
            "message": format!("Cannot GET /{}…", "p".repeat(255)),
            "error": "Not Found",
        })
    );
}
