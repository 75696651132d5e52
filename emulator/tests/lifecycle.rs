//! The emulator over HTTP: routing, lifecycle, seeding, secrets.

mod common;

use common::*;

#[tokio::test]
async fn unknown_routes_answer_404_like_nestjs() {
    let emu = start(Emulator::builder()).await;
    let resp = http()
        .get(format!("{}/api/v3/list-users", emu.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body,
        json!({"statusCode": 404, "message": "Cannot GET /api/v3/list-users", "error": "Not Found"})
    );
    let resp = http()
        .get(format!("{}{IMPORT}", emu.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        StatusCode::NOT_FOUND,
        "wrong method on a known path"
    );
}

#[tokio::test]
async fn only_loopback_addresses_are_accepted() {
    for addr in ["0.0.0.0:0", "192.0.2.10:8080", "[::]:0", "[2001:db8::1]:0"] {
        let addr: SocketAddr = addr.parse().unwrap();
        match Emulator::builder().addr(addr).start().await {
            Err(Error::NonLoopback(a)) => assert_eq!(a, addr),
            other => panic!("{addr}: {other:?}"),
        }
    }
    let emu = start(Emulator::builder().addr("127.0.0.1:0".parse().unwrap())).await;
    assert!(emu.addr().ip().is_loopback());
    assert_ne!(emu.addr().port(), 0);
    assert_eq!(
        emu.base_url(),
        format!("http://127.0.0.1:{}", emu.addr().port())
    );

    // IPv6 loopback, where the host has it.
    match Emulator::builder()
        .addr("[::1]:0".parse().unwrap())
        .start()
        .await
    {
        Ok(v6) => {
            assert_eq!(v6.base_url(), format!("http://[::1]:{}", v6.addr().port()));
            let resp = http()
                .get(format!("{}/", v6.base_url()))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), StatusCode::NOT_FOUND);
        }
        Err(Error::Bind { .. }) => eprintln!("no IPv6 loopback here"),
        Err(other) => panic!("[::1]: {other}"),
    }
}

#[tokio::test]
async fn shutdown_stops_serving() {
    let emu = start(Emulator::builder()).await;
    let url = format!("{}{TOKEN}", emu.base_url());
    emu.shutdown().await;
    let err = http().post(&url).send().await.expect_err("nobody listens");
    assert!(err.is_connect(), "{err:?}");

    let emu = start(Emulator::builder()).await;
    let addr = emu.addr();
    drop(emu);
    let deadline = Instant::now() + Duration::from_secs(10);
    while tokio::net::TcpStream::connect(addr).await.is_ok() {
        assert!(Instant::now() < deadline, "still listening after drop");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn users_can_be_seeded_from_rust_and_from_a_file() {
    let path = std::env::temp_dir().join(format!("authing-otp-seed-{}.json", std::process::id()));
    std::fs::write(
        &path,
        r#"{"users": [
            {"id": "u1", "email": "one@example.com", "phone": "+861", "username": "one",
             "externalId": "x1", "identities": [{"extIdpId": "idp", "userIdInIdp": "i1"}],
             "syncRelations": [{"provider": "wechatwork", "userIdInIdp": "w1"}],
             "customFields": {"badge": 7}, "otp": {"secret": "SEEDED1", "recoveryCode": "rc1"}},
            {"id": "u2"}
        ]}"#,
    )
    .unwrap();
    let seed = Seed::from_path(&path);
    std::fs::remove_file(&path).unwrap();
    let emu = start(Emulator::builder().seed(seed.unwrap())).await;
    let t = token(&emu).await;
    for (id, ty) in [
        ("idp:i1", "identity"),
        ("wechatwork:w1", "sync_relation"),
        ("badge:7", "custom_field"),
        ("x1", "external_id"),
    ] {
        let (_, body) = get_secret(&emu, &t, &[("userId", id), ("userIdType", ty)]).await;
        assert_eq!(body["data"]["secret"], "SEEDED1", "{ty}");
    }
    assert_eq!(
        emu.otp_of("u1")
            .unwrap()
            .recovery_code
            .unwrap()
            .expose_secret(),
        "rc1"
    );

    emu.seed_user(User::new("u3").email("three@example.com").otp("SEEDED3"))
        .unwrap();
    let (_, body) = get_secret(
        &emu,
        &t,
        &[("userId", "three@example.com"), ("userIdType", "email")],
    )
    .await;
    assert_eq!(body["data"]["secret"], "SEEDED3");

    // Unique ids stay unique.
    let err = emu
        .seed_user(User::new("u4").email("ONE@example.com"))
        .unwrap_err();
    assert!(matches!(err, Error::InvalidUser { .. }), "{err}");
    let err = emu.seed_user(User::new("u2")).unwrap_err();
    assert!(err.to_string().contains("id is already used"), "{err}");
    let err = Emulator::builder()
        .user(User::new("a").phone("1"))
        .user(User::new("b").phone("1"))
        .start()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidUser { .. }), "{err}");

    // A missing file and a broken one are reported.
    assert!(matches!(
        Seed::from_path("/nonexistent/seed.json"),
        Err(Error::SeedRead { .. })
    ));
    let broken = Seed::from_json(r#"{"users": [{"id": "u1", "otp": {"secret": 1}}]}"#).unwrap_err();
    assert!(matches!(broken, Error::SeedParse { .. }), "{broken}");
}

#[tokio::test]
async fn secrets_never_show_in_debug_output() {
    let emu = start(
        Emulator::builder()
            .access_key_secret("super-secret-key")
            .user(alice()),
    )
    .await;
    let t = token(&emu).await;
    let direct = emu.issue_token();
    let builder = Emulator::builder()
        .access_key_secret("super-secret-key")
        .user(alice());
    for text in [
        format!("{emu:?}"),
        format!("{builder:?}"),
        format!("{:?}", alice()),
        format!("{:?}", emu.otp_of("u-alice")),
        format!("{direct:?}"),
    ] {
        for secret in [
            "super-secret-key",
            t.as_str(),
            direct.expose_secret(),
            "ALICESECRETBASE32",
            "alice-recovery",
        ] {
            assert!(!text.contains(secret), "{text}");
        }
    }
    assert!(format!("{emu:?}").contains(emu.base_url()));
}
