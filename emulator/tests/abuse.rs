//! The emulator under a hostile client: work per request stays linear and off the shared
//! locks, answers stay small whatever the request, and connections cannot be held forever.
//!
//! Time bounds here are loose safety nets for a loaded machine, never performance targets.

mod common;

use authing_otp_emulator::MAX_TOKENS;
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

/// A raw connection to the emulator.
async fn connect(emu: &Emulator) -> tokio::net::TcpStream {
    tokio::net::TcpStream::connect(emu.addr()).await.unwrap()
}

/// The head of a token request announcing a 100-byte body, and the first 10 bytes of it.
const HALF_A_REQUEST: &[u8] = b"POST /api/v3/get-management-token HTTP/1.1\r\nhost: emulator\r\n\
    content-type: application/json\r\ncontent-length: 100\r\n\r\n{\"accessKe";

/// Whether the server has closed `stream` (or answered on it), without waiting.
fn closed_or_answered(stream: &tokio::net::TcpStream) -> bool {
    let mut buf = [0u8; 1];
    !matches!(stream.try_read(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

#[tokio::test(start_paused = true)]
async fn a_body_that_never_arrives_is_answered_408_after_10_s_and_the_connection_closed() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    let emu = start(Emulator::builder().user(bob())).await;
    let token = emu.issue_token();
    let import_head = format!(
        "POST {IMPORT} HTTP/1.1\r\nhost: emulator\r\nauthorization: Bearer {}\r\n\
         x-authing-userpool-id: {}\r\ncontent-type: application/json\r\n\
         transfer-encoding: chunked\r\n\r\n5\r\n{{\"lis\r\n",
        token.expose_secret(),
        emu.user_pool_id()
    );
    // Both operations with a body: one announcing its length, one chunked.
    for request in [HALF_A_REQUEST, import_head.as_bytes()] {
        let mut stream = connect(&emu).await;
        stream.write_all(request).await.unwrap();
        let started = tokio::time::Instant::now();
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.unwrap();
        let waited = started.elapsed();
        assert!(
            (Duration::from_secs(10)..Duration::from_secs(11)).contains(&waited),
            "answered after {waited:?}"
        );
        let answer = String::from_utf8(answer).unwrap();
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        assert!(
            head.starts_with("HTTP/1.1 408 Request Timeout\r\n"),
            "{head}"
        );
        assert!(head.contains("\r\nconnection: close\r\n"), "{head}");
        assert!(
            head.contains("\r\ncontent-type: application/json"),
            "{head}"
        );
        let body: Value = serde_json::from_str(body).unwrap();
        assert_eq!(body["statusCode"], 408, "{body}");
        assert_eq!(
            body["message"],
            "request timeout: the body did not arrive within 10 s"
        );
        assert_eq!(body["requestId"].as_str().unwrap().len(), 36, "{body}");
    }
    assert!(emu.otp_of("u-bob").is_none());
}

#[tokio::test(start_paused = true)]
async fn a_connection_that_sends_no_request_is_closed_after_30_s() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    let emu = start(Emulator::builder()).await;
    for sent in [&b""[..], b"GET / HTTP/1.1\r\nhost: emu"] {
        let mut stream = connect(&emu).await;
        stream.write_all(sent).await.unwrap();
        let started = tokio::time::Instant::now();
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer).await;
        let waited = started.elapsed();
        assert!(
            (Duration::from_secs(30)..Duration::from_secs(31)).contains(&waited),
            "closed after {waited:?}"
        );
        assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));
    }
}

#[tokio::test(start_paused = true)]
async fn a_client_that_stops_reading_is_disconnected_after_30_s() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    let emu = start(Emulator::builder()).await;
    let announced = 256 << 20;
    emu.fail_next(1, Fault::Oversized { bytes: announced });
    let mut stream = connect(&emu).await;
    stream
        .write_all(b"GET /anything HTTP/1.1\r\nhost: emulator\r\n\r\n")
        .await
        .unwrap();
    // Read nothing for a minute: the answer fills the socket's buffers, then stalls.
    tokio::time::sleep(Duration::from_secs(60)).await;
    let mut received = Vec::new();
    let _ = stream.read_to_end(&mut received).await;
    assert!(received.starts_with(b"HTTP/1.1 200 OK\r\n"));
    assert!(
        received.len() < announced / 4,
        "{} bytes: the answer went on after the client stopped reading",
        received.len()
    );
    assert!(!received.ends_with(b"0\r\n\r\n"), "the body was cut off");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_that_hold_a_slot_without_a_request_make_room_for_ordinary_ones() {
    use tokio::io::AsyncWriteExt as _;

    let emu = start(Emulator::builder().max_connections(8)).await;
    // Three times the limit of connections that send half a request and stop.
    let mut slow = Vec::new();
    for _ in 0..24 {
        let mut stream = connect(&emu).await;
        stream.write_all(HALF_A_REQUEST).await.unwrap();
        slow.push(stream);
    }
    let started = Instant::now();
    let (status, body) = post_json(
        &emu,
        TOKEN,
        None,
        &json!({"accessKeyId": emu.access_key_id(), "accessKeySecret": emu.access_key_secret().expose_secret()}),
    )
    .await;
    let waited = started.elapsed();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["statusCode"], 200, "{body}");
    // Each connection past the limit closed one that had waited a second on its client.
    assert!(
        waited < Duration::from_secs(8),
        "an ordinary request waited {waited:?}"
    );
    let open = slow.iter().filter(|s| !closed_or_answered(s)).count();
    assert!(
        open < 8,
        "{open} of the slow connections still open, besides the ordinary one"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_kept_alive_connection_makes_room_for_a_new_client() {
    let emu = start(Emulator::builder().max_connections(1)).await;
    let creds = json!({"accessKeyId": emu.access_key_id(), "accessKeySecret": emu.access_key_secret().expose_secret()});
    // The first client keeps its connection open, idle, after its request.
    let first = http();
    let resp = first
        .post(format!("{}{TOKEN}", emu.base_url()))
        .json(&creds)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let started = Instant::now();
    let (status, _) = post_json(&emu, TOKEN, None, &creds).await;
    let waited = started.elapsed();
    assert_eq!(status, StatusCode::OK);
    // Not the 30 s an idle connection may otherwise stay open.
    assert!(
        waited < Duration::from_secs(10),
        "the second client waited {waited:?}"
    );
    // The first client carries on, on a new connection.
    drop(resp);
    let resp = first
        .post(format!("{}{TOKEN}", emu.base_url()))
        .json(&creds)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_more_requests_than_max_connections_waits_and_is_served() {
    let emu = start(Emulator::builder().max_connections(2)).await;
    let client = authing_otp::tls::http_client_builder()
        .unwrap()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let creds = json!({"accessKeyId": emu.access_key_id(), "accessKeySecret": emu.access_key_secret().expose_secret()});
    let requests: Vec<_> = (0..20)
        .map(|_| {
            let request = client
                .post(format!("{}{TOKEN}", emu.base_url()))
                .json(&creds)
                .send();
            tokio::spawn(request)
        })
        .collect();
    for request in requests {
        let resp = request.await.unwrap().unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
    }
    assert_eq!(emu.counters().token_requests, 20);
}

/// A download of the bindings holds no copy of them: each page is read from the directory as it
/// is written, so a binding made during a download shows in its later pages. (A copy of every
/// binding per download, made and sorted under the directory's lock, is what it used to hold,
/// for as long as its client took to read it.)
#[tokio::test]
async fn a_bindings_download_reads_the_directory_a_page_at_a_time() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    const BOUND: usize = 100_000;
    let users = (0..BOUND).map(|n| User::new(format!("user-{n:06}")).otp(format!("SECRET{n:06}")));
    let emu = start(Emulator::builder().users(users)).await;
    // A client with a small receive buffer, so that little of the answer is written ahead.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(16 * 1024).unwrap();
    let mut stream = socket.connect(emu.addr()).await.unwrap();
    let request = format!(
        "GET {} HTTP/1.1\r\nhost: emulator\r\n\r\n",
        authing_otp_emulator::BINDINGS_PATH
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut received = vec![0u8; 4096];
    stream.read_exact(&mut received).await.unwrap();
    assert!(received.starts_with(b"HTTP/1.1 200 OK\r\n"));

    // Bound while the download is under way, to a user sorting after everyone else.
    emu.seed_user(User::new("zz-late").otp("LATESECRET"))
        .unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    while !received.ends_with(b"\r\n0\r\n\r\n") {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "the connection closed before the end of the body");
        received.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8(received).unwrap();
    assert_eq!(text.matches(r#"{"userId":"#).count(), BOUND + 1);
    assert!(
        text.contains(r#"{"userId":"zz-late","secret":"LATESECRET"}"#),
        "the binding made during the download is in it"
    );
}

/// A `custom_field` lookup used to scan every user under the directory's lock (65 ms a lookup
/// among 300,000 users in a debug build); it is an index lookup now.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn custom_field_lookups_do_not_scan_the_users() {
    const USERS: usize = 200_000;
    const LOOKUPS: usize = 1_000;
    let users = (0..USERS)
        .map(|n| User::new(format!("user-{n:06}")).custom_field("employeeNo", format!("N-{n}")));
    let emu = start(Emulator::builder().user(alice()).users(users)).await;
    let t = token(&emu).await;
    let client = http();
    let started = Instant::now();
    let lookups: Vec<_> = (0..4)
        .map(|_| {
            let (client, t) = (client.clone(), t.clone());
            let url = format!("{}{GET_SECRET}", emu.base_url());
            let pool = emu.user_pool_id().to_owned();
            tokio::spawn(async move {
                for _ in 0..LOOKUPS / 4 {
                    let resp = client
                        .get(&url)
                        .query(&[
                            ("userId", "employeeNo:E-42"),
                            ("userIdType", "custom_field"),
                        ])
                        .bearer_auth(&t)
                        .header("x-authing-userpool-id", &pool)
                        .send()
                        .await
                        .unwrap();
                    let body: Value = resp.json().await.unwrap();
                    assert_eq!(body["data"]["secret"], "ALICESECRETBASE32", "{body}");
                }
            })
        })
        .collect();
    for lookup in lookups {
        lookup.await.unwrap();
    }
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(15),
        "{LOOKUPS} lookups took {took:?}"
    );
}

#[tokio::test]
async fn a_token_per_request_cannot_grow_the_remembered_tokens_without_bound() {
    let emu = start(Emulator::builder().user(alice())).await;
    let first = emu.issue_token();
    let second = emu.issue_token();
    // Each issue used to look at every token remembered: this took minutes.
    let started = Instant::now();
    for _ in 0..MAX_TOKENS - 1 {
        emu.issue_token();
    }
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(60),
        "{MAX_TOKENS} tokens took {took:?}"
    );
    // The oldest was forgotten to make room for the newest; the others still work.
    let reply = get_secret(&emu, first.expose_secret(), &[("userId", "u-alice")]).await;
    assert_eq!(reply.0, StatusCode::UNAUTHORIZED, "{}", reply.1);
    assert_eq!(reply.1["apiCode"], codes::INVALID_TOKEN, "{}", reply.1);
    let (status, body) = get_secret(&emu, second.expose_secret(), &[("userId", "u-alice")]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["secret"], "ALICESECRETBASE32");
}
