//! The `apiCode` values of the emulator's failures.
//!
//! They are `i64`, the type of the client's [`Error::api_code`](authing_otp::Error::api_code),
//! so that a test compares the two directly:
//!
//! ```
//! use authing_otp_emulator::codes;
//!
//! fn user_was_unknown(e: &authing_otp::Error) -> bool {
//!     e.api_code() == Some(codes::USER_NOT_FOUND)
//! }
//! # let _ = user_was_unknown;
//! ```
//!
//! # Authing's codes and the emulator's own
//!
//! **Only [`CLOCK_SKEW`] (1305) and [`NONCE_REUSED`] (1306) mean what Authing documents.**
//! Authing answers request-signing failures with apiCodes 1300–1306 and documents 1305 (the
//! `date` is too far from the server's clock) and 1306 (the nonce was used before). The
//! emulator gives its other signing failures the rest of that range, 1300–1304, but which
//! failure gets which of them is its own choice (Authing's text for 1303, for one, is about the
//! timestamp's format).
//!
//! **Every other code here, 40001–41301, is the emulator's own invention.** Authing does not
//! publish the apiCodes of these situations, and its server answers them with other codes, or
//! none. Among the codes Authing does document are 2004 (user not found), 2224 (user pool not
//! found) and 6001–6004 (TOTP code and recovery code errors); the emulator uses none of them,
//! since nothing documents which of them these endpoints send: an unknown user is
//! [`USER_NOT_FOUND`] (40401) here and may well be 2004 on the real server.
//!
//! So match these codes against the emulator only, in tests. Code meant for the real server
//! should decide on the `statusCode` (Authing's documented classes: 400 invalid argument, 401,
//! 403, 404 not found, 409 conflict, 413, 429), and on no apiCode but 1305 and 1306.

/// The emulator's own code: the request does not match the OpenAPI fragment, or names an
/// `identity`, `sync_relation` or `custom_field` id without `:` (statusCode 400).
pub const INVALID_REQUEST: i64 = 40001;
/// The emulator's own code: no `authorization` header, or a scheme other than Bearer
/// (statusCode 401).
pub const MISSING_AUTHORIZATION: i64 = 40101;
/// The emulator's own code: a token this emulator did not issue, or revoked (statusCode 401).
pub const INVALID_TOKEN: i64 = 40102;
/// The emulator's own code: an expired token (statusCode 401).
pub const TOKEN_EXPIRED: i64 = 40103;
/// The emulator's own code: no `x-authing-userpool-id` header (statusCode 401).
pub const MISSING_USERPOOL: i64 = 40104;
/// The emulator's own code: `x-authing-userpool-id` is not the token's pool (statusCode 401).
pub const USERPOOL_MISMATCH: i64 = 40105;
/// The emulator's own code: the request speaks the dialect of a brand the emulator was told
/// not to accept ([`EmulatorBuilder::only_brand`](crate::EmulatorBuilder::only_brand))
/// (statusCode 401).
pub const DIALECT_NOT_ACCEPTED: i64 = 40106;
/// AK/SK signing, in Authing's range with the emulator's choice of meaning: a signature header
/// (`date`, `x-authing-signature-nonce`, `-method`, `-version`) is missing (statusCode 401).
pub const SIGNATURE_HEADER_MISSING: i64 = 1300;
/// AK/SK signing, in Authing's range with the emulator's choice of meaning: the access key id
/// is not the configured one (statusCode 401).
pub const UNKNOWN_ACCESS_KEY: i64 = 1301;
/// AK/SK signing, in Authing's range with the emulator's choice of meaning: a signature method
/// or version other than HMAC-SHA1 1.0 (statusCode 401).
pub const SIGNATURE_METHOD_UNSUPPORTED: i64 = 1302;
/// AK/SK signing, in Authing's range with the emulator's choice of meaning: the signature does
/// not match the request (statusCode 401).
pub const SIGNATURE_MISMATCH: i64 = 1303;
/// AK/SK signing, in Authing's range with the emulator's choice of meaning: `authorization` is
/// not `authing <accessKeyId>:<signature>`, or `date` is not an HTTP date (statusCode 401).
pub const SIGNATURE_MALFORMED: i64 = 1304;
/// AK/SK signing, Authing's code: `date` is further from the emulator's clock than the allowed
/// skew (statusCode 401).
pub const CLOCK_SKEW: i64 = 1305;
/// AK/SK signing, Authing's code: the nonce was already used (statusCode 401).
pub const NONCE_REUSED: i64 = 1306;
/// The emulator's own code: the access key pair is wrong (statusCode 403).
pub const INVALID_ACCESS_KEY: i64 = 40301;
/// The emulator's own code (Authing documents 2004 for a user not found, without saying these
/// endpoints use it): no such user, or (import) some listed user ids are unknown
/// (statusCode 404).
pub const USER_NOT_FOUND: i64 = 40401;
/// The emulator's own code: the user has no OTP bound (statusCode 404).
pub const OTP_NOT_BOUND: i64 = 40402;
/// The emulator's own code: a `custom_field` id (read, or one of a batch) matches more than one
/// user (statusCode 409).
pub const AMBIGUOUS_USER: i64 = 40901;
/// The emulator's own code: an importOtp `list` has more items than
/// [`EmulatorBuilder::max_list`](crate::EmulatorBuilder::max_list) allows (statusCode 413,
/// with HTTP 413).
pub const LIST_TOO_LARGE: i64 = 41301;
