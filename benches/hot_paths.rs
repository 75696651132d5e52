//! Hot paths of the client, timed without a network: `cargo bench -p authing-otp`.
//!
//! A plain harness (no extra dependency): each case runs for about a second after a warm-up and
//! prints the mean time per operation. For end-to-end throughput see `examples/loadgen.rs`;
//! the import-file reader's benchmark is the CLI crate's.

use std::{
    hint::black_box,
    time::{Duration, Instant},
};

use authing_otp::{
    OtpImport, UserRef,
    signing::{params_from_json_body, params_from_query, sign, string_to_sign},
};

fn bench(name: &str, mut op: impl FnMut()) {
    for _ in 0..100 {
        op();
    }
    let budget = Duration::from_secs(1);
    let start = Instant::now();
    let mut iterations: u64 = 0;
    while start.elapsed() < budget {
        for _ in 0..64 {
            op();
        }
        iterations += 64;
    }
    let per_op = start.elapsed().as_nanos() as f64 / iterations as f64;
    println!("{name:<48} {per_op:>12.0} ns/op   ({iterations} iterations)");
}

fn main() {
    // Under `cargo test --benches` only check that it runs.
    if std::env::args().any(|a| a == "--test" || a == "--list") {
        return;
    }
    let headers = [
        (
            "x-authing-signature-nonce",
            "243eec4050420fa99d00cc67dd651e36",
        ),
        ("x-authing-signature-method", "HMAC-SHA1"),
        ("x-authing-signature-version", "1.0"),
        ("x-authing-sdk-version", "authing-otp-rust:0.1.0"),
        ("x-authing-lang", "zh-CN"),
        ("date", "Sun, 22 Nov 2026 07:09:05 GMT"),
        ("accept", "application/json"),
        ("user-agent", "authing-otp-rust/0.1.0"),
    ];
    bench("sign a GET (query params, string, HMAC)", || {
        let params = params_from_query("userId=alice%40example.com&userIdType=email");
        let text = string_to_sign(
            "GET",
            "/api/v3/get-otp-secret-by-user",
            black_box(headers),
            &params,
        );
        black_box(sign("sk-test", &text));
    });
    let body = br#"{"list":[{"otp":{"recoveryCode":"b471-8ec0","secret":"HZ2F6J3AGNAVSOTV"},"userId":"u1"}]}"#;
    bench("sign a POST (body params, string, HMAC)", || {
        let params = params_from_json_body(black_box(body));
        let text = string_to_sign("POST", "/api/v3/import-otp", headers, &params);
        black_box(sign("sk-test", &text));
    });
    bench("parse a UserRef (identity)", || {
        black_box(
            black_box("identity:62f20932716fbcc10d966ee5:ou_8bae746eac07")
                .parse::<UserRef>()
                .unwrap(),
        );
    });
    bench("validate an OtpImport with recovery code", || {
        black_box(
            OtpImport::new(black_box("6229ffaxxxxxxxxcade3e3d9"), "HZ2F6J3AGNAVSOTV")
                .unwrap()
                .with_recovery_code("b471-8ec0-874a-087f-bccb-cd54")
                .unwrap(),
        );
    });
}
