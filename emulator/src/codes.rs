//! The `apiCode` values of the emulator's business errors.
//!
//! Authing documents few codes for these situations, so most are the emulator's own. The
//! request-signing codes 1300–1306 are Authing's range, with 1305 (clock skew) and 1306 (nonce
//! replay) as Authing uses them and 1300–1304 assigned by the emulator. Match on `statusCode`
//! for portable client logic; use these in tests of the emulator itself.

/// The request does not match the OpenAPI fragment (statusCode 400).
pub const INVALID_REQUEST: u32 = 40001;
/// No `authorization` header, or a scheme other than Bearer (statusCode 401).
pub const MISSING_AUTHORIZATION: u32 = 40101;
/// A token this emulator did not issue, or revoked (statusCode 401).
pub const INVALID_TOKEN: u32 = 40102;
/// An expired token (statusCode 401).
pub const TOKEN_EXPIRED: u32 = 40103;
/// No `x-authing-userpool-id` header (statusCode 401).
pub const MISSING_USERPOOL: u32 = 40104;
/// `x-authing-userpool-id` is not the token's pool (statusCode 401).
pub const USERPOOL_MISMATCH: u32 = 40105;
/// AK/SK signing: a signature header (`date`, `x-authing-signature-nonce`, `-method`,
/// `-version`) is missing (statusCode 401).
pub const SIGNATURE_HEADER_MISSING: u32 = 1300;
/// AK/SK signing: the access key id is not the configured one (statusCode 401).
pub const UNKNOWN_ACCESS_KEY: u32 = 1301;
/// AK/SK signing: a signature method or version other than HMAC-SHA1 1.0 (statusCode 401).
pub const SIGNATURE_METHOD_UNSUPPORTED: u32 = 1302;
/// AK/SK signing: the signature does not match the request (statusCode 401).
pub const SIGNATURE_MISMATCH: u32 = 1303;
/// AK/SK signing: `authorization` is not `authing <accessKeyId>:<signature>`, or `date` is
/// not an HTTP date (statusCode 401).
pub const SIGNATURE_MALFORMED: u32 = 1304;
/// AK/SK signing: `date` is further from the emulator's clock than the allowed skew
/// (statusCode 401).
pub const CLOCK_SKEW: u32 = 1305;
/// AK/SK signing: the nonce was already used (statusCode 401).
pub const NONCE_REUSED: u32 = 1306;
/// The access key pair is wrong (statusCode 403).
pub const INVALID_ACCESS_KEY: u32 = 40301;
/// No such user, or (import) some listed user ids are unknown (statusCode 404).
pub const USER_NOT_FOUND: u32 = 40401;
/// The user has no OTP bound (statusCode 404).
pub const OTP_NOT_BOUND: u32 = 40402;
/// A `custom_field` id matches more than one user (statusCode 409).
pub const AMBIGUOUS_USER: u32 = 40901;
/// An importOtp `list` has more items than [`EmulatorBuilder::max_list`](
/// crate::EmulatorBuilder::max_list) allows (statusCode 413, with HTTP 413).
pub const LIST_TOO_LARGE: u32 = 41301;
/// The request speaks the dialect of a brand the emulator was told not to accept
/// ([`EmulatorBuilder::only_brand`](crate::EmulatorBuilder::only_brand)) (statusCode 401).
pub const DIALECT_NOT_ACCEPTED: u32 = 40106;
