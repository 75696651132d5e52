//! The crate's copy of the fragment is the client's, byte for byte: the stubs are generated
//! from the same operations and schemas as the client they stand in for.

#[test]
fn the_fragment_copy_is_the_clients() {
    let copy = include_str!("../openapi/authing-otp.json");
    assert!(
        copy == authing_otp::OPENAPI_FRAGMENT,
        "httpmock/openapi/authing-otp.json differs from the client's openapi/authing-otp.json: \
         copy it over (cp openapi/authing-otp.json httpmock/openapi/)"
    );
}
