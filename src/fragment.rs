//! What the client was generated from, and what it says it is.

/// The OpenAPI fragment this client was generated from (`openapi/authing-otp.json`, as built):
/// the four operations and the schemas they reach, drawn from the vendor's V3 management
/// document. Tools that validate requests or check for drift read it from here.
///
/// ```
/// let fragment: serde_json::Value = serde_json::from_str(authing_otp::OPENAPI_FRAGMENT).unwrap();
/// assert!(fragment["paths"]["/api/v3/import-otp"]["post"].is_object());
/// ```
pub const OPENAPI_FRAGMENT: &str = include_str!("../openapi/authing-otp.json");

/// The value sent as `x-authing-sdk-version` on every request.
pub const SDK_VERSION: &str = concat!("authing-otp-rust:", env!("CARGO_PKG_VERSION"));
