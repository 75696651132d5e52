//! A local Authing server for tests and demos, like stripe-mock, for the operations the
//! `authing-otp` client covers: the management token, `importOtp`, `getOtpSecretByUser` and
//! `getUserBatch`.
//!
//! [`Emulator::builder`] starts a real HTTP/1.1 server on a loopback port, in-process, on the
//! current tokio runtime; `authing-otp emulator` (crate `authing-otp-cli`) runs the same server
//! as a command. It behaves like the Authing V3 management API as far as the official SDKs and
//! the vendor's OpenAPI document show it, and says so below where it had to choose.
//!
//! ```
//! use authing_otp_emulator::{Emulator, User};
//! use authing_otp::ExposeSecret as _;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let emulator = Emulator::builder()
//!     .user(User::new("u1").email("alice@example.com").otp("HZ2F6J3AGNAVSOTV"))
//!     .start()
//!     .await?;
//!
//! // Point the client under test at emulator.base_url(), with emulator.access_key_id() and
//! // emulator.access_key_secret(). Here, one raw request:
//! let http = authing_otp::tls::http_client_builder()?.no_proxy().build()?;
//! let reply: serde_json::Value = http
//!     .post(format!("{}/api/v3/get-management-token", emulator.base_url()))
//!     .json(&serde_json::json!({
//!         "accessKeyId": emulator.access_key_id(),
//!         "accessKeySecret": emulator.access_key_secret().expose_secret(),
//!     }))
//!     .send()
//!     .await?
//!     .json()
//!     .await?;
//! assert_eq!(reply["statusCode"], 200);
//! assert_eq!(reply["data"]["expires_in"], 7200);
//! assert_eq!(emulator.counters().token_requests, 1);
//! emulator.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! # Operations
//!
//! - `POST /api/v3/get-management-token` takes `{accessKeyId, accessKeySecret}`; with the
//!   configured pair it answers `{"statusCode":200,"message":"success","data":{"access_token",
//!   "expires_in"}}`. The token is JWT-shaped, its payload carries `scoped_userpool_id`, `iat`,
//!   `exp` and a random `jti`, and its signature is random bytes (the emulator knows its tokens
//!   by remembering them: an hour past its expiry a token reads as unknown, or earlier if it
//!   is the oldest of [`MAX_TOKENS`] remembered when another is issued). `expires_in` is the
//!   configured lifetime in seconds (default 7200); a lifetime with a sub-second part is
//!   written as a fractional number, which the real server never does.
//! - `POST /api/v3/import-otp` binds each `list[i].otp` (secret and optional recovery code) to
//!   the user with Authing user id `list[i].userId`, replacing an earlier binding; a later
//!   entry for the same user wins. **If any listed user id is unknown, the whole request is
//!   refused** (statusCode 404, [`codes::USER_NOT_FOUND`]) and nothing is stored. The message
//!   names the first 20 distinct unknown ids, in list order, each cut to 64 characters (with
//!   `…`), and counts the others: `users not found: g1, g2, … and 16980 more; nothing was
//!   imported`. Secrets are not checked for being base32 (the schema does not ask for it).
//! - `GET /api/v3/get-otp-secret-by-user?userId=…&userIdType=…` answers
//!   `{"statusCode":200,"message":"success","data":{"secret"}}`. `userIdType` defaults to
//!   `user_id` (the fragment's schema default) and resolves as:
//!
//! | `userIdType` | `userId` is | matches |
//! |---|---|---|
//! | `user_id` | the Authing user id | [`User::id`] |
//! | `external_id` | the external id | [`User::external_id`] |
//! | `phone` | the phone number | [`User::phone`], exactly |
//! | `email` | the email address | [`User::email`], ignoring ASCII case |
//! | `username` | the username | [`User::username`], exactly |
//! | `identity` | `<extIdpId>:<userIdInIdp>` | an entry of [`User::identities`] |
//! | `sync_relation` | `<provider>:<userIdInIdp>` | an entry of [`User::sync_relations`] |
//! | `custom_field` | `<fieldKey>:<value>` | exactly one user whose [`User::custom_fields`] has `fieldKey` = `value` |
//!
//! The id is split at its **first** `:` (the part after it may contain more). Upstream does not
//! document the `custom_field` format; `<fieldKey>:<value>` is the emulator's choice, mirroring
//! the other two composite ids. An id without `:` for these three types is an invalid request;
//! a `custom_field` id that matches several users is [`codes::AMBIGUOUS_USER`].
//!
//! - `GET /api/v3/get-user-batch?userIds=…&userIds=…&userIdType=…` answers
//!   `{"statusCode":200,"message":"success","data":[…]}`, one `UserDto` per user that the
//!   `userIds` (1 to 50, each read as `userIdType` says, by the table above) name:
//!   - **Unknown ids are left out**, without an error; `data` is `[]` when none is found.
//!     Upstream describes the operation as getting users' information in batch (批量获取用户信息)
//!     and documents no error for unknown ids, so the emulator treats them as a search that
//!     found nothing.
//!   - **Each user appears once**, however many ids name it (the same id twice, or
//!     `ALICE@x.com` and `alice@x.com`), at the place of the first id that names it: `data`
//!     follows the order of `userIds`. The 50 counts every id sent, duplicates included.
//!   - An id malformed for its type (no `:`) refuses the whole request with statusCode 400,
//!     [`codes::INVALID_REQUEST`]; a `custom_field` id that matches several users refuses it
//!     with 409, [`codes::AMBIGUOUS_USER`] (malformed ids are reported first). The message names
//!     each such id by its position, `userIds[3]: …`, never by its value.
//!   - Each `UserDto` has what the schema requires: `userId`; `createdAt` and `updatedAt`, both
//!     the time the emulator added the user, written `2022-07-03T02:20:30.000Z`; `status`
//!     `Activated`, `workStatus` `Active`, `gender` `U`, `emailVerified` and `phoneVerified`
//!     `false`, `userSourceType` `adminCreated`. Then `externalId`, `email`, `phone` and
//!     `username` as the user has them (left out, not null, when it has none).
//!   - `withIdentities=true` adds `identities`, one `IdentityDto` per [`User::identities`] entry:
//!     its `extIdpId` and `userIdInIdp`, and, as the emulator does not model identity sources,
//!     `identityId` `<userId>-identity-<n>` (from 1), `provider` `oidc`, `type` `primary`,
//!     `userInfoInIdp` `{}` and `originConnIds` `[<extIdpId>]`. `withCustomData=true` adds
//!     `customData`, the [`User::custom_fields`] with their values as strings.
//!     `withDepartmentIds=true` adds `departmentIds`, always `[]`. `flatCustomData` is accepted
//!     and ignored. Sync relations are never shown: `UserDto` has no field for them.
//!
//! ## Matching a batch's users to the ids asked
//!
//! An answer does not say which id found which user, and Authing documents no order for `data`;
//! a caller matches each user returned to the ids it asked by the user's own fields:
//!
//! | `userIdType` | an id asked names a returned user when |
//! |---|---|
//! | `user_id` | it equals `userId` |
//! | `external_id` | it equals `externalId` |
//! | `phone` | it equals `phone` (against Authing, possibly split into `phoneCountryCode` and `phone`: compare with both joined too) |
//! | `email` | it equals `email`, ignoring ASCII case |
//! | `username` | it equals `username` |
//! | `identity` | with `withIdentities=true`: an entry of `identities` has the id's `<extIdpId>` as `extIdpId` and its `<userIdInIdp>` as `userIdInIdp` (split at the first `:`) |
//! | `custom_field` | with `withCustomData=true`: `customData[<fieldKey>]`, as text (a string as it is, a number or boolean as JSON writes it), equals `<value>` (split at the first `:`) |
//! | `sync_relation` | no field says: ask for one id per request, and the user answered, if any, is that id's |
//!
//! An id no returned user matches was not found; several ids may match one user (duplicates).
//! Against the emulator `data` also follows the order of `userIds`, but a client that relies on
//! that (say, to match `sync_relation` ids by position) works only against the emulator.
//!
//! Any other path or method answers HTTP 404 `{"statusCode":404,"message":"Cannot GET /x",
//! "error":"Not Found"}`, as Authing's NestJS server does (a path longer than 256 characters,
//! or a method longer than 32, is cut short, ending in `…`).
//!
//! # Authentication
//!
//! Every operation but the token endpoint needs `authorization: Bearer <token>` (a bare token, as the Java SDK sends
//! it, is accepted too) with a live token this emulator issued, **and** `x-authing-userpool-id`
//! equal to the token's `scoped_userpool_id`. Checks run in that order, before the request is
//! validated (as NestJS guards run before pipes). A failure answers `{"statusCode":401,
//! "message","apiCode","requestId"}` with HTTP 401, or HTTP 200 with
//! [`UnauthorizedStyle::Http200`].
//!
//! AK/SK request signing (`authorization: authing <accessKeyId>:<signature>`, the Node SDK 4.x
//! scheme) is verified with the client's own [`authing_otp::signing`] functions against the configured
//! key pair: the signature must match the request as it arrived, `date` must be within
//! [`EmulatorBuilder::max_clock_skew`] of the emulator's clock (15 minutes by default), and a
//! nonce is accepted once. Signed requests need no `x-authing-userpool-id`: the key names the
//! pool. Authing reports signing failures with apiCodes 1300–1306 and documents 1305 (clock
//! skew) and 1306 (nonce replay); the emulator uses the same range, and the meanings it gives
//! 1300–1304 are its own choice (see [business errors](#business-errors)).
//!
//! # Validation
//!
//! Requests are checked against [`authing_otp::OPENAPI_FRAGMENT`], the same document the client
//! is generated from, by a small interpreter of the schema subset it uses.
//! Whatever does not match (a body that is not JSON or not `application/json`, a missing or
//! mistyped field, an unknown `userIdType`, a repeated query parameter that is not an array, an
//! array with too many items) answers statusCode 400,
//! [`codes::INVALID_REQUEST`], with the problems in the message, separated by `; `:
//! `list[2].otp.secret: required`, `list: expected array, got object`, `userIdType: must be one
//! of user_id, …`, `body: not valid JSON (…)`, `content-type: expected application/json`.
//! The first 20 problems are listed, in the order found, and the others counted: `…;
//! list[9].otp: required; … and 199980 more`. Messages never repeat submitted values.
//!
//! An array query parameter (getUserBatch's `userIds`) is its name repeated, `userIds=a&userIds=b`:
//! OpenAPI's default for query arrays (`style: form`, `explode: true`), which the generated
//! client and Python's `requests` (the official Python SDK) write. Other spellings are not read
//! as lists: Node's axios (the official Node SDK) writes `userIds[]=a&userIds[]=b`, a parameter
//! the fragment does not declare (`userIds: required`), and the Java, Go and C# SDKs' samples
//! send one comma-joined `userIds=a,b`, which is one id here. Whether Authing splits it at
//! commas is not documented.
//!
//! # Business errors
//!
//! Failures are HTTP 200 with `{"statusCode": 4xx, "message", "apiCode", "requestId"}` (except
//! authentication in the HTTP 401 style). The `apiCode`s are in [`codes`], as `i64` like the
//! client's [`Error::api_code`](authing_otp::Error::api_code). **Only 1305 and 1306 are
//! Authing's codes with Authing's meaning.** 1300–1304 are in Authing's signing range, with
//! meanings the emulator chose. **Every 400xx–413xx code is the emulator's own**: Authing does
//! not publish the apiCodes of these situations, and its server is not known to send these
//! (it documents others, such as 2004 user not found, 2224 user pool not found and 6001–6004
//! TOTP code errors, without saying which of them these endpoints use). Match the emulator's
//! own codes only in tests against the emulator; against the real server, decide on
//! `statusCode`.
//!
//! | situation | statusCode | apiCode | the code is |
//! |---|---|---|---|
//! | request does not match the fragment; an `identity`, `sync_relation` or `custom_field` id without `:` | 400 | [`codes::INVALID_REQUEST`] 40001 | emulator's own |
//! | no `authorization` header, or an unknown scheme | 401 | [`codes::MISSING_AUTHORIZATION`] 40101 | emulator's own |
//! | token not issued by this emulator (or revoked) | 401 | [`codes::INVALID_TOKEN`] 40102 | emulator's own |
//! | token expired | 401 | [`codes::TOKEN_EXPIRED`] 40103 | emulator's own |
//! | no `x-authing-userpool-id` header | 401 | [`codes::MISSING_USERPOOL`] 40104 | emulator's own |
//! | `x-authing-userpool-id` is not the token's pool | 401 | [`codes::USERPOOL_MISMATCH`] 40105 | emulator's own |
//! | the other brand's dialect, with [`EmulatorBuilder::only_brand`] | 401 | [`codes::DIALECT_NOT_ACCEPTED`] 40106 | emulator's own |
//! | AK/SK: a signature header missing | 401 | [`codes::SIGNATURE_HEADER_MISSING`] 1300 | Authing's range, emulator's meaning |
//! | AK/SK: unknown access key id | 401 | [`codes::UNKNOWN_ACCESS_KEY`] 1301 | Authing's range, emulator's meaning |
//! | AK/SK: method or version not HMAC-SHA1 1.0 | 401 | [`codes::SIGNATURE_METHOD_UNSUPPORTED`] 1302 | Authing's range, emulator's meaning |
//! | AK/SK: signature does not match | 401 | [`codes::SIGNATURE_MISMATCH`] 1303 | Authing's range, emulator's meaning |
//! | AK/SK: malformed `authorization` or `date` | 401 | [`codes::SIGNATURE_MALFORMED`] 1304 | Authing's range, emulator's meaning |
//! | AK/SK: `date` too far from the clock | 401 | [`codes::CLOCK_SKEW`] 1305 | **Authing's** |
//! | AK/SK: nonce used before | 401 | [`codes::NONCE_REUSED`] 1306 | **Authing's** |
//! | wrong access key pair | 403 | [`codes::INVALID_ACCESS_KEY`] 40301 | emulator's own |
//! | unknown user (read), unknown user ids (import); a batch leaves them out instead | 404 | [`codes::USER_NOT_FOUND`] 40401 | emulator's own (Authing documents 2004) |
//! | user has no OTP bound | 404 | [`codes::OTP_NOT_BOUND`] 40402 | emulator's own |
//! | `custom_field` id matches several users (a read, or any id of a batch) | 409 | [`codes::AMBIGUOUS_USER`] 40901 | emulator's own |
//! | import `list` too long (**HTTP 413**) | 413 | [`codes::LIST_TOO_LARGE`] 41301 | emulator's own |
//! | over the rate limit (**HTTP 429**) | 429 | none | as Authing |
//! | body not received within 10 s (**HTTP 408**, see [limits](#connections-and-limits)) | 408 | none |  |
//!
//! Messages are in English, whatever `x-authing-lang` asks for.
//!
//! # Rate limit and import size
//!
//! [`EmulatorBuilder::rate_limit`] (`--rate-limit QPS`) caps the requests served per second.
//! Every request counts, to any path (the token endpoint and unknown paths included), except
//! the inspection endpoint below. The window **slides**: a request is served when fewer than
//! `qps` requests were served in the second before it arrived, so no one-second interval ever
//! holds more than `qps` served requests. A request over the limit is refused the way Authing
//! refuses it, before authentication and validation: HTTP 429, `{"statusCode":429,"message":
//! "您的请求已超过最大数量限制，请稍后重试","requestId"}`, without `Retry-After` (the answer
//! of [`Fault::TooManyRequests`] with `retry_after: None`). Refused requests do not use up the
//! window (a client that waits a second gets through), and they are counted in
//! [`Emulator::counters`] like any other. The decision is taken as the request arrives, before
//! latency; an injected fault pending for the request wins over the refusal (and the request
//! still counts toward the limit when it was within it).
//!
//! [`EmulatorBuilder::max_list`] (`--max-list N`) caps the items of one importOtp request: a
//! valid, authenticated request whose `list` has more than `N` items is answered HTTP 413 with
//! `{"statusCode":413,"message":"request entity too large: …","apiCode":41301,"requestId"}`
//! and binds nothing. Authing limits its batches too, but does not document the size or the
//! answer; the shape is the emulator's choice.
//!
//! # Inspecting bindings
//!
//! `GET /__emulator/bindings` ([`BINDINGS_PATH`]) answers every bound secret as JSON Lines
//! (`content-type: application/x-ndjson`), one `{"userId","secret","recoveryCode"}` per line
//! (`recoveryCode` left out when there is none), sorted by user id (byte order). The answer is
//! written about 64 KiB at a time as the client reads it, each part read from the users as
//! they are then, so that a download holds neither a copy of every binding nor the users'
//! lock: each user appears once, and a binding made during a download is in it if its user id
//! sorts after the part being written. It is the
//! emulator's own endpoint, not Authing's: it needs **no authentication** and is **not subject
//! to the rate limit** (nor counted toward it), so that a script can check what a tool under
//! test imported. It holds secrets in the clear, which is acceptable only because the emulator
//! listens on loopback alone and its secrets are test data. Latency and injected faults apply
//! to it as to any path, and it is counted as [`Counters::other_requests`]. Other methods get
//! the usual 404. [`Emulator::bindings`] gives the same from Rust.
//!
//! # Seeding users by id
//!
//! [`EmulatorBuilder::seed_users_from`] (`--seed-users-from FILE`) creates users from a JSON
//! Lines file: one object per line with at least a string `userId`; other keys are ignored, so
//! an OTP import file in either shape (`{"userId","secret",…}` or `{"userId","otp":{…}}`)
//! qualifies. Each id becomes a user with no other id and **no OTP** (the file's secrets are
//! not bound: importing them is what the code under test is for). The file is read line by
//! line, never whole.
//!
//! # Faults, latency and counters
//!
//! [`Emulator::fail_next`] and [`Emulator::fail_next_on`] make the next requests fail with a
//! [`Fault`]: an HTTP status, rate limiting (HTTP 429 or in the body, with or without
//! `Retry-After`), a connection closed without a response or in the middle of the body, a body
//! that is not JSON, a body sent one byte at a time, a redirect, or a body too large to accept.
//! [`Emulator::set_latency`] delays every response. [`Emulator::counters`] counts requests per
//! operation, faulted ones included. [`Emulator::expire_tokens`] and [`Emulator::revoke_tokens`]
//! exercise a client's token refresh without waiting.
//!
//! # Connections and limits
//!
//! The emulator runs next to other jobs, so no client, however it behaves, can take more than
//! a bounded share of it:
//!
//! - **Connections.** At most [`EmulatorBuilder::max_connections`] are open at once
//!   ([`DEFAULT_MAX_CONNECTIONS`], 512). While all are open, new connections are not accepted:
//!   they wait in the system's listen backlog, and are not refused. To make room, the
//!   connection that has waited longest on its client (for a request, for the rest of a body,
//!   or for the client to take the answer), provided it has waited at least a second, is
//!   closed without an answer; a connection whose request the emulator is working on is never
//!   closed. The same happens when the process runs out of file descriptors. A burst of
//!   clients is thus served in turn, and clients that open connections and send nothing cannot
//!   keep the others out.
//! - **Request head**: within 30 s of the connection, or of the previous answer on a
//!   kept-alive connection; otherwise the connection is closed without an answer (an idle
//!   connection is closed after 30 s).
//! - **Request body**: whole within 10 s of the head, or the answer is HTTP 408
//!   `{"statusCode":408,"message":"request timeout: the body did not arrive within 10 s",
//!   "requestId"}` with `connection: close`; and at most 1 MiB, or the answer is statusCode
//!   400 `body: larger than 1048576 bytes`.
//! - **Answer**: a client that takes none of an answer for 30 s is disconnected. (Answers that
//!   are slow on purpose, like [`Fault::Trickle`], are not affected: they are not stalled by
//!   the client.)
//! - **Answer size**: messages repeat request text only within bounds (20 validation
//!   problems, 20 user ids of 64 characters, a path of 256), so an answer to an error stays
//!   under a few kilobytes whatever the request.
//! - **Memory**: per connection, a body of up to 1 MiB while it is read, hyper's buffer for
//!   the request head (about 400 KiB at most), and a part of a bindings download. The emulator
//!   remembers at most [`MAX_TOKENS`] management tokens and [`MAX_NONCES`] signature nonces.
//! - **Locks**: requests share the users' directory and the stores of tokens and nonces; what
//!   a request does while holding them is one lookup per id, token or nonce it names (and, for
//!   a batch, a copy of each user found, its answer written after the lock is released; or a
//!   part of a bindings download), never a scan of all users or tokens.
//!
//! # Secrets
//!
//! The access key secret, tokens, OTP secrets and recovery codes never appear in `Debug` output
//! or in error messages, and the emulator does not log.

#![deny(missing_docs)]
#![warn(unreachable_pub)]

use std::collections::VecDeque;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use secrecy::SecretString;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

// Modules by role. Imports between them point one way (tests/module_graph.rs checks it): this
// file (the handle and its builder) uses them all and none uses it; `server` uses `handlers`,
// which use `auth`, which uses `state`, which uses the stores (`credentials`, `users`) and
// `faults`, down to modules that use none of the others.
mod auth;
pub mod codes;
mod connections;
mod credentials;
mod echo;
mod error;
mod faults;
mod handlers;
mod operation;
mod random;
mod schema;
mod server;
mod state;
mod user_dto;
mod users;

pub use credentials::{MAX_NONCES, MAX_TOKENS};
pub use error::Error;
pub use faults::{Fault, RetryAfter};
pub use handlers::BINDINGS_PATH;
pub use operation::Operation;
pub use state::{Counters, UnauthorizedStyle};
pub use users::{Identity, Otp, Seed, SyncRelation, User};

/// The HTTP status of [`Fault::Status`], [`Fault::Raw`] and [`Fault::Redirect`], re-exported
/// from the `http` crate (1.x) so that building a fault needs no dependency of your own:
/// `Fault::Status(StatusCode::SERVICE_UNAVAILABLE)`. It is the same type as `http::StatusCode`
/// and `reqwest::StatusCode` (with reqwest 0.12 or later).
pub use http::StatusCode;

use state::{CounterCells, FaultRule, Knobs, RateLimiter, Shared};

/// The user pool id an emulator uses unless told otherwise.
pub const DEFAULT_USER_POOL_ID: &str = "emulator-userpool";
/// The access key id an emulator accepts unless told otherwise.
pub const DEFAULT_ACCESS_KEY_ID: &str = "emulator-access-key-id";
/// The access key secret an emulator accepts unless told otherwise: a published development
/// value, never a real credential.
pub const DEFAULT_ACCESS_KEY_SECRET: &str = "emulator-access-key-secret";
/// The token lifetime an emulator uses unless told otherwise (Authing's default).
pub const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(7200);
/// How far a signed request's `date` may be from the emulator's clock, by default.
pub const DEFAULT_MAX_CLOCK_SKEW: Duration = Duration::from_secs(15 * 60);
/// The most connections an emulator keeps open at once unless told otherwise (see
/// [`EmulatorBuilder::max_connections`]).
pub const DEFAULT_MAX_CONNECTIONS: usize = 512;

/// Configures and starts an [`Emulator`]; from [`Emulator::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct EmulatorBuilder {
    addr: SocketAddr,
    user_pool_id: String,
    access_key_id: String,
    access_key_secret: SecretString,
    token_ttl: Duration,
    latency: Duration,
    unauthorized_style: UnauthorizedStyle,
    max_clock_skew: Duration,
    users: Vec<User>,
    user_files: Vec<PathBuf>,
    rate_limit: u32,
    max_list: Option<usize>,
    only_brand: Option<authing_otp::Brand>,
    max_connections: usize,
}

impl Default for EmulatorBuilder {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            user_pool_id: DEFAULT_USER_POOL_ID.to_owned(),
            access_key_id: DEFAULT_ACCESS_KEY_ID.to_owned(),
            access_key_secret: SecretString::from(DEFAULT_ACCESS_KEY_SECRET),
            token_ttl: DEFAULT_TOKEN_TTL,
            latency: Duration::ZERO,
            unauthorized_style: UnauthorizedStyle::default(),
            max_clock_skew: DEFAULT_MAX_CLOCK_SKEW,
            users: Vec::new(),
            user_files: Vec::new(),
            rate_limit: 0,
            max_list: None,
            only_brand: None,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

impl EmulatorBuilder {
    /// The address to listen on; default `127.0.0.1:0` (a free port). Must be a loopback
    /// address, or [`start`](Self::start) fails with [`Error::NonLoopback`].
    pub fn addr(mut self, addr: SocketAddr) -> Self {
        self.addr = addr;
        self
    }

    /// The user pool id tokens are scoped to; default [`DEFAULT_USER_POOL_ID`].
    pub fn user_pool_id(mut self, id: impl Into<String>) -> Self {
        self.user_pool_id = id.into();
        self
    }

    /// The access key id the token endpoint accepts; default [`DEFAULT_ACCESS_KEY_ID`].
    pub fn access_key_id(mut self, id: impl Into<String>) -> Self {
        self.access_key_id = id.into();
        self
    }

    /// The access key secret the token endpoint accepts; default
    /// [`DEFAULT_ACCESS_KEY_SECRET`].
    pub fn access_key_secret(mut self, secret: impl Into<SecretString>) -> Self {
        self.access_key_secret = secret.into();
        self
    }

    /// The lifetime of issued tokens; default [`DEFAULT_TOKEN_TTL`] (7200 s).
    pub fn token_ttl(mut self, ttl: Duration) -> Self {
        self.token_ttl = ttl;
        self
    }

    /// Delay added to every response; default none.
    pub fn latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    /// How far a signed request's `date` may be from the emulator's clock; default 15 minutes.
    /// Replaying recorded requests needs a larger value.
    pub fn max_clock_skew(mut self, skew: Duration) -> Self {
        self.max_clock_skew = skew;
        self
    }

    /// How authentication failures are answered; default [`UnauthorizedStyle::Http401`].
    pub fn unauthorized_style(mut self, style: UnauthorizedStyle) -> Self {
        self.unauthorized_style = style;
        self
    }

    /// Adds a user.
    pub fn user(mut self, user: User) -> Self {
        self.users.push(user);
        self
    }

    /// Adds several users.
    pub fn users(mut self, users: impl IntoIterator<Item = User>) -> Self {
        self.users.extend(users);
        self
    }

    /// Adds the users of a seed (see [`Seed::from_path`]).
    pub fn seed(self, seed: Seed) -> Self {
        self.users(seed.users)
    }

    /// Adds a user, with that Authing user id only and no OTP, for every line of the JSON
    /// Lines file at `path` (see [the crate docs](crate#seeding-users-by-id)).
    ///
    /// Each non-blank line must be a JSON object with a non-empty string `userId`; other keys
    /// are ignored and nothing is bound, so an OTP import file qualifies. A leading UTF-8 BOM
    /// and `\r\n` line ends are accepted. An id already known (from [`user`](Self::user),
    /// [`seed`](Self::seed), an earlier line or an earlier file) is skipped. Like the other
    /// users, the file is only read by [`start`](Self::start), after them, line by line (on a
    /// blocking thread), so it may hold millions of lines; calling this again adds another
    /// file.
    pub fn seed_users_from(mut self, path: impl Into<PathBuf>) -> Self {
        self.user_files.push(path.into());
        self
    }

    /// Serves at most `qps` requests in any one-second interval (a sliding window) and refuses
    /// the others with Authing's HTTP 429 (see [the crate docs](crate#rate-limit-and-import-size)).
    /// Every request counts, whatever its path, except [`BINDINGS_PATH`]. Default 0: no limit.
    pub fn rate_limit(mut self, qps: u32) -> Self {
        self.rate_limit = qps;
        self
    }

    /// Refuses, with HTTP 413 and [`codes::LIST_TOO_LARGE`], an importOtp request whose `list`
    /// has more than `n` items, binding nothing. Default: no limit (beyond the 1 MiB body).
    pub fn max_list(mut self, n: usize) -> Self {
        self.max_list = Some(n);
        self
    }

    /// Accepts only `brand`'s dialect. By default both are: `x-authing-*` headers and
    /// `authorization: authing …` signatures as Authing's SDKs send them, `x-genauth-*` and
    /// `GenAuth …` as GenAuth's do. With one brand, a request carrying any header of the
    /// other's dialect, or signed in it, is refused with [`codes::DIALECT_NOT_ACCEPTED`]: a test
    /// can prove which dialect its client speaks.
    ///
    /// ```
    /// use authing_otp::Brand;
    /// let builder = authing_otp_emulator::Emulator::builder().only_brand(Brand::GenAuth);
    /// # drop(builder);
    /// ```
    pub fn only_brand(mut self, brand: authing_otp::Brand) -> Self {
        self.only_brand = Some(brand);
        self
    }

    /// Keeps at most `n` connections open at once (at least 1); default
    /// [`DEFAULT_MAX_CONNECTIONS`]. While all are open, new connections wait to be accepted,
    /// and the one that has waited longest on its client, for a second or more, is closed to
    /// make room (see [the crate docs](crate#connections-and-limits)).
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = n.max(1);
        self
    }

    /// Checks the users, reads the [`seed_users_from`](Self::seed_users_from) files, binds the
    /// address and starts serving on the current tokio runtime.
    ///
    /// # Errors
    ///
    /// [`Error::NonLoopback`] for an address that is not loopback, [`Error::InvalidUser`] for a
    /// user the pool cannot take, [`Error::SeedRead`] for a users file that cannot be read,
    /// [`Error::SeedParse`] for a line of one that is not as described (the message starts
    /// with `line <n>:` and never quotes the file), [`Error::Bind`] when the address cannot be
    /// bound.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub async fn start(self) -> Result<Emulator, Error> {
        if !self.addr.ip().to_canonical().is_loopback() {
            return Err(Error::NonLoopback(self.addr));
        }
        let mut directory = users::Directory::default();
        for user in self.users {
            directory.add(user)?;
        }
        if !self.user_files.is_empty() {
            let files = self.user_files;
            let read = tokio::task::spawn_blocking(move || {
                for path in &files {
                    users::add_users_from_jsonl(&mut directory, path)?;
                }
                Ok::<_, Error>(directory)
            })
            .await;
            directory = match read {
                Ok(read) => read?,
                Err(e) => std::panic::resume_unwind(e.into_panic()),
            };
        }
        let listener = TcpListener::bind(self.addr)
            .await
            .map_err(|source| Error::Bind {
                addr: self.addr,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| Error::Bind {
            addr: self.addr,
            source,
        })?;
        let shared = Arc::new(Shared {
            user_pool_id: self.user_pool_id,
            access_key_id: self.access_key_id,
            access_key_secret: self.access_key_secret,
            knobs: Mutex::new(Knobs {
                token_ttl: self.token_ttl,
                latency: self.latency,
                unauthorized_style: self.unauthorized_style,
                max_clock_skew: self.max_clock_skew,
                max_list: self.max_list,
                only_brand: self.only_brand,
            }),
            rate: Mutex::new(RateLimiter::new(self.rate_limit)),
            rate_limited: self.rate_limit > 0,
            directory: Mutex::new(directory),
            tokens: Mutex::default(),
            nonces: Mutex::default(),
            faults: Mutex::new(VecDeque::new()),
            counters: CounterCells::default(),
            max_connections: self.max_connections,
        });
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(server::serve(listener, shared.clone(), stopped));
        Ok(Emulator {
            shared,
            addr,
            base_url: format!("http://{addr}"),
            stop,
            task: Some(task),
        })
    }
}

/// A running emulator. It stops when dropped or on [`shutdown`](Self::shutdown).
///
/// ```
/// use authing_otp_emulator::{Emulator, Fault, StatusCode, User};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let emulator = Emulator::builder().start().await?;
/// emulator.seed_user(User::new("u1").email("alice@example.com"))?;
/// emulator.fail_next(1, Fault::Status(StatusCode::SERVICE_UNAVAILABLE));
///
/// let http = authing_otp::tls::http_client_builder()?.no_proxy().build()?;
/// let url = format!("{}/api/v3/get-otp-secret-by-user?userId=u1", emulator.base_url());
/// let first = http.get(&url).send().await?;
/// assert_eq!(first.status(), 503);
/// let second = http.get(&url).send().await?; // no token: refused
/// assert_eq!(second.status(), 401);
/// assert_eq!(emulator.counters().get_otp_secret_requests, 2);
/// # Ok(())
/// # }
/// ```
pub struct Emulator {
    shared: Arc<Shared>,
    addr: SocketAddr,
    base_url: String,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl fmt::Debug for Emulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Emulator")
            .field("base_url", &self.base_url)
            .field("user_pool_id", &self.shared.user_pool_id)
            .field("access_key_id", &self.shared.access_key_id)
            .field("access_key_secret", &self.shared.access_key_secret)
            .field("counters", &self.counters())
            .finish_non_exhaustive()
    }
}

impl Emulator {
    /// A builder with the defaults: `127.0.0.1:0`, [`DEFAULT_USER_POOL_ID`],
    /// [`DEFAULT_ACCESS_KEY_ID`], [`DEFAULT_ACCESS_KEY_SECRET`], [`DEFAULT_TOKEN_TTL`], no
    /// latency, [`UnauthorizedStyle::Http401`], no users, no rate limit, no import list limit,
    /// [`DEFAULT_MAX_CONNECTIONS`] connections.
    pub fn builder() -> EmulatorBuilder {
        EmulatorBuilder::default()
    }

    /// `http://<ip>:<port>`, without a trailing slash: the client's base URL.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The user pool id tokens are scoped to.
    pub fn user_pool_id(&self) -> &str {
        &self.shared.user_pool_id
    }

    /// The access key id the token endpoint accepts.
    pub fn access_key_id(&self) -> &str {
        &self.shared.access_key_id
    }

    /// The access key secret the token endpoint accepts.
    pub fn access_key_secret(&self) -> &SecretString {
        &self.shared.access_key_secret
    }

    /// Adds a user while running.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidUser`] when the id is empty, a unique id (id, email, phone, username,
    /// external id, identity, sync relation) is taken, or a custom field key contains `:`.
    pub fn seed_user(&self, user: User) -> Result<(), Error> {
        self.shared.directory().add(user)
    }

    /// The OTP binding of user `user_id` (Authing user id), if any.
    pub fn otp_of(&self, user_id: &str) -> Option<Otp> {
        self.shared
            .directory()
            .get(user_id)
            .and_then(|u| u.otp.clone())
    }

    /// Every OTP binding, as `(Authing user id, binding)`, sorted by user id (byte order): what
    /// `GET` [`BINDINGS_PATH`] answers.
    pub fn bindings(&self) -> Vec<(String, Otp)> {
        self.shared.directory().bindings()
    }

    /// Issues a token as the token endpoint would (not counted as a request).
    pub fn issue_token(&self) -> SecretString {
        SecretString::from(auth::issue_token(&self.shared).0)
    }

    /// Sets the lifetime of tokens issued from now on.
    pub fn set_token_ttl(&self, ttl: Duration) {
        self.shared.knobs().token_ttl = ttl;
    }

    /// Makes every token issued so far expired: the next request with one is refused with
    /// [`codes::TOKEN_EXPIRED`].
    pub fn expire_tokens(&self) {
        self.shared.tokens().expire_all();
    }

    /// Forgets every token issued so far: the next request with one is refused with
    /// [`codes::INVALID_TOKEN`].
    pub fn revoke_tokens(&self) {
        self.shared.tokens().revoke_all();
    }

    /// Sets the delay added to every response from now on (zero for none).
    pub fn set_latency(&self, latency: Duration) {
        self.shared.knobs().latency = latency;
    }

    /// Sets how authentication failures are answered from now on.
    pub fn set_unauthorized_style(&self, style: UnauthorizedStyle) {
        self.shared.knobs().unauthorized_style = style;
    }

    /// Makes the next `n` requests, whatever their path, fail with `fault`. Faults queue up:
    /// after `fail_next(2, a)` and `fail_next(1, b)` the next three requests get `a`, `a`, `b`.
    pub fn fail_next(&self, n: usize, fault: Fault) {
        self.push_fault(None, n, fault);
    }

    /// Makes the next `n` requests to `op` fail with `fault`; other requests are unaffected.
    pub fn fail_next_on(&self, op: Operation, n: usize, fault: Fault) {
        self.push_fault(Some(op), n, fault);
    }

    fn push_fault(&self, only: Option<Operation>, n: usize, fault: Fault) {
        if n > 0 {
            self.shared.faults().push_back(FaultRule {
                only,
                remaining: n,
                fault,
            });
        }
    }

    /// How many faulted requests are still to come.
    pub fn pending_faults(&self) -> usize {
        self.shared.faults().iter().map(|r| r.remaining).sum()
    }

    /// Cancels every pending fault.
    pub fn clear_faults(&self) {
        self.shared.faults().clear();
    }

    /// The request counts so far.
    pub fn counters(&self) -> Counters {
        self.shared.counters.snapshot()
    }

    /// Sets every counter back to zero.
    pub fn reset_counters(&self) {
        self.shared.counters.reset();
    }

    /// Stops accepting connections, lets requests in flight finish (up to 5 s) and waits until
    /// the server is gone. Dropping the emulator stops it too, without waiting.
    pub async fn shutdown(mut self) {
        self.stop.send_replace(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.stop.send_replace(true);
    }
}

// The README's example compiles as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
