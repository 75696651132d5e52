//! Generates the typed client from the checked-in OpenAPI fragment.
//!
//! Runs progenitor on `openapi/authing-otp.json` and writes `$OUT_DIR/authing_otp_client.rs`,
//! which `src/generated.rs` includes. Nothing here touches the network.
//!
//! The code is written as progenitor's tokens print, unformatted: formatting it (prettyplease
//! and a `syn` parse of the whole file) cost every dependent's clean build a second of CPU for
//! a file nobody reads in the build. To read it, `rustfmt` the file in `OUT_DIR`.

use std::{env, fs, path::PathBuf};

const FRAGMENT: &str = "openapi/authing-otp.json";

fn main() {
    println!("cargo:rerun-if-changed={FRAGMENT}");
    println!("cargo:rerun-if-changed=build.rs");

    let text = fs::read_to_string(FRAGMENT).unwrap_or_else(|e| panic!("reading {FRAGMENT}: {e}"));
    let spec: openapiv3::OpenAPI =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {FRAGMENT}: {e}"));

    let mut settings = progenitor::GenerationSettings::new();
    settings
        .with_interface(progenitor::InterfaceStyle::Builder)
        // Every request passes through `impl ClientHooks<HookState> for Client` in
        // src/transport.rs, which decorates it (headers, token or signature) and bounds its
        // answer; the call around it is src/call.rs. `Expected` makes a missing impl a compile
        // error rather than silently unauthenticated requests.
        .with_hooks(progenitor::HooksMode::Expected)
        .with_inner_type(quote_inner())
        .with_derive("PartialEq");
    // The schemas that carry secrets become hand-written types of the same shape whose `Debug`
    // redacts (src/wire.rs); the four answers become the envelope of src/envelope.rs, whose
    // `data` is optional, so that a refusal in an HTTP 200 decodes as well as a success: each
    // answer is decoded once. tests/schema_guard.rs holds them to the fragment's schemas.
    for (schema, replacement) in SECRET_BEARING {
        settings.with_replacement(schema, replacement, std::iter::empty());
    }
    let mut generator = progenitor::Generator::new(&settings);
    let tokens = generator
        .generate_tokens(&spec)
        .unwrap_or_else(|e| panic!("generating the client from {FRAGMENT}: {e}"));
    let code = tokens.to_string();

    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR is set by cargo"));
    fs::write(out.join("authing_otp_client.rs"), code).expect("writing the generated client");
}

/// Schemas whose generated `Debug` would print a secret, and the answers, and the types that
/// replace them.
const SECRET_BEARING: &[(&str, &str)] = &[
    (
        "GetManagementAccessTokenDto",
        "crate::wire::GetManagementAccessTokenDto",
    ),
    ("AccessTokenResDto", "crate::wire::AccessTokenResDto"),
    ("ImportOtpItemDataDto", "crate::wire::ImportOtpItemDataDto"),
    ("OtpSecretRespDto", "crate::wire::OtpSecretRespDto"),
    ("CommonResponseDto", "crate::envelope::ImportAnswer"),
    ("GetOtpSecretRespDto", "crate::envelope::SecretAnswer"),
    ("GetManagementTokenRespDto", "crate::envelope::TokenAnswer"),
    ("UserListRespDto", "crate::envelope::UserListAnswer"),
];

/// The type progenitor stores in the generated `Client` and hands to the hooks.
fn quote_inner() -> proc_macro2::TokenStream {
    quote::quote!(crate::attempt::HookState)
}
