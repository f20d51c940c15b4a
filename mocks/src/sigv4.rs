//! SigV4 verification the way AWS's front ends do it, shared by every service mock.
//!
//! The signature itself is checked by re-signing the received request with the `aws-sigv4`
//! crate (the signer the real Rust SDK uses) from the request's own inputs: its
//! `X-Amz-Date` as the signing time, the region and service of its credential scope, the
//! caller's secret, and exactly the headers it names in `SignedHeaders` (nothing the client
//! signed is dropped, nothing it did not sign is added). The two signatures are compared in
//! constant time.
//!
//! Before that, the request goes through the checks AWS makes, in this order, each with
//! AWS's own wording (amp-exact.md §3):
//!
//! 1. no `Authorization` header -> `Missing Authentication Token`;
//! 2. malformed header (missing `=`, missing `Credential` / `Signature` / `SignedHeaders`,
//!    no `X-Amz-Date` or `Date` header, unknown algorithm, bad date, `host` not signed)
//!    -> `IncompleteSignature`;
//! 3. credential scope: service, region, terminator, date;
//! 4. unknown access key, expired key;
//! 5. clock skew beyond `max_skew`, either way;
//! 6. `x-amz-security-token` different from the key's session token;
//! 7. signature mismatch, with the canonical request and string-to-sign AWS would print.
//!
//! Services call [`read_verified`] from their axum handlers; [`verify`] is the pure check.
//! Presigned (query-string) requests are not supported by the mock: they are refused with
//! `IncompleteSignature` and a message saying so.

use std::io;
use std::time::{Duration, SystemTime};

use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode, Uri, header};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::clock::Clock;
use crate::identity::{Identities, Identity};

const ALGORITHM: &str = "AWS4-HMAC-SHA256";
const TERMINATOR: &str = "aws4_request";

/// The parts of a received request that its signature covers.
pub struct SigV4Request<'a> {
    pub method: &'a Method,
    pub uri: &'a Uri,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

/// Why a request's SigV4 authentication was refused. `message()` is AWS's text;
/// `Display` is a short description for logs.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SigError {
    #[error("request is not signed")]
    MissingAuthenticationToken,
    /// The `Authorization` header (or the date header) is malformed; the payload is AWS's
    /// whole message.
    #[error("malformed SigV4 authorization")]
    IncompleteSignature(String),
    #[error("credential is scoped to another service than {expected}")]
    WrongService { expected: String },
    #[error("credential is scoped to region {got}, which this endpoint does not serve")]
    WrongRegion { got: String },
    /// Bad terminator or a scope date that differs from the request date; the payload is
    /// AWS's whole message.
    #[error("invalid credential scope")]
    BadScope(String),
    #[error("unknown access key {access_key_id}")]
    UnknownAccessKey { access_key_id: String },
    #[error("access key {access_key_id} is expired")]
    ExpiredToken { access_key_id: String },
    #[error("session token does not belong to the access key")]
    InvalidSessionToken,
    /// Signed more than `max_skew` before the mock's now. Timestamps are `yyyyMMddTHHmmssZ`.
    #[error("signature expired (signed at {signed_at}, now {now})")]
    SignatureExpired {
        signed_at: String,
        earliest: String,
        now: String,
        skew_minutes: u64,
    },
    /// Signed more than `max_skew` after the mock's now.
    #[error("signature not yet current (signed at {signed_at}, now {now})")]
    SignatureNotYetCurrent {
        signed_at: String,
        latest: String,
        now: String,
        skew_minutes: u64,
    },
    #[error("signature does not match")]
    SignatureMismatch {
        canonical_request: String,
        string_to_sign: String,
    },
}

impl SigError {
    /// The status AMP's (API-Gateway-style) front end answers: 403 for every case.
    pub fn status(&self) -> StatusCode {
        StatusCode::FORBIDDEN
    }

    /// The status of the query-protocol services (STS, IAM). AWS's common-errors page
    /// gives 400 for IncompleteSignature; STS models ExpiredToken as 400; the rest are 403.
    pub fn sts_status(&self) -> StatusCode {
        match self {
            Self::IncompleteSignature(_) | Self::ExpiredToken { .. } => StatusCode::BAD_REQUEST,
            _ => StatusCode::FORBIDDEN,
        }
    }

    /// `x-amzn-ErrorType` of AMP's front end. These are API Gateway's names; none is
    /// confirmed on AMP (amp-exact.md §3).
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::MissingAuthenticationToken => "MissingAuthenticationTokenException",
            Self::IncompleteSignature(_) => "IncompleteSignatureException",
            Self::UnknownAccessKey { .. } | Self::InvalidSessionToken => {
                "UnrecognizedClientException"
            }
            Self::ExpiredToken { .. } => "ExpiredTokenException",
            Self::WrongService { .. }
            | Self::WrongRegion { .. }
            | Self::BadScope(_)
            | Self::SignatureExpired { .. }
            | Self::SignatureNotYetCurrent { .. }
            | Self::SignatureMismatch { .. } => "InvalidSignatureException",
        }
    }

    /// `<Code>` of the query-protocol services (STS, IAM). Scope and skew errors are
    /// `SignatureDoesNotMatch` there [inferred from the usual botocore output].
    pub fn sts_code(&self) -> &'static str {
        match self {
            Self::MissingAuthenticationToken => "MissingAuthenticationToken",
            Self::IncompleteSignature(_) => "IncompleteSignature",
            Self::UnknownAccessKey { .. } | Self::InvalidSessionToken => "InvalidClientTokenId",
            Self::ExpiredToken { .. } => "ExpiredToken",
            Self::WrongService { .. }
            | Self::WrongRegion { .. }
            | Self::BadScope(_)
            | Self::SignatureExpired { .. }
            | Self::SignatureNotYetCurrent { .. }
            | Self::SignatureMismatch { .. } => "SignatureDoesNotMatch",
        }
    }

    /// EC2's status, `<Code>` and message (the ec2Query front end): `AuthFailure` for keys it
    /// cannot validate, `RequestExpired` for clock skew, `SignatureDoesNotMatch` for the
    /// rest of the signature checks [inferred from EC2's common-errors list].
    pub fn ec2_status_code_message(&self) -> (StatusCode, &'static str, String) {
        match self {
            Self::MissingAuthenticationToken => (
                StatusCode::UNAUTHORIZED,
                "MissingAuthenticationToken",
                self.sts_message(),
            ),
            Self::IncompleteSignature(m) => {
                (StatusCode::BAD_REQUEST, "IncompleteSignature", m.clone())
            }
            Self::UnknownAccessKey { .. }
            | Self::InvalidSessionToken
            | Self::ExpiredToken { .. } => (
                StatusCode::UNAUTHORIZED,
                "AuthFailure",
                "AWS was not able to validate the provided access credentials".to_string(),
            ),
            Self::SignatureExpired { .. } | Self::SignatureNotYetCurrent { .. } => {
                (StatusCode::BAD_REQUEST, "RequestExpired", self.message())
            }
            Self::WrongService { .. }
            | Self::WrongRegion { .. }
            | Self::BadScope(_)
            | Self::SignatureMismatch { .. } => (
                StatusCode::FORBIDDEN,
                "SignatureDoesNotMatch",
                self.message(),
            ),
        }
    }

    /// AWS's message text (amp-exact.md §3), as AMP's front end writes it in `message`.
    pub fn message(&self) -> String {
        match self {
            Self::MissingAuthenticationToken => "Missing Authentication Token".to_string(),
            Self::IncompleteSignature(m) | Self::BadScope(m) => m.clone(),
            // The trailing spaces are AWS's.
            Self::WrongService { expected } => {
                format!("Credential should be scoped to correct service: '{expected}'. ")
            }
            Self::WrongRegion { got } => {
                format!("Credential should be scoped to a valid region, not '{got}'. ")
            }
            Self::UnknownAccessKey { .. } | Self::InvalidSessionToken => {
                "The security token included in the request is invalid.".to_string()
            }
            Self::ExpiredToken { .. } => {
                "The security token included in the request is expired".to_string()
            }
            Self::SignatureExpired {
                signed_at,
                earliest,
                now,
                skew_minutes,
            } => format!(
                "Signature expired: {signed_at} is now earlier than {earliest} ({now} - {skew_minutes} min.)"
            ),
            Self::SignatureNotYetCurrent {
                signed_at,
                latest,
                now,
                skew_minutes,
            } => format!(
                "Signature not yet current: {signed_at} is still later than {latest} ({now} + {skew_minutes} min.)"
            ),
            Self::SignatureMismatch {
                canonical_request,
                string_to_sign,
            } => format!(
                "The request signature we calculated does not match the signature you provided. \
                 Check your AWS Secret Access Key and signing method. Consult the service \
                 documentation for details.\n\nThe Canonical String for this request should have \
                 been\n'{canonical_request}'\n\nThe String-to-Sign should have been\n'{string_to_sign}'\n"
            ),
        }
    }

    /// The message of the query-protocol services: STS words the unsigned case differently
    /// ("Request is missing Authentication Token", as the AWS CLI shows it); the rest match.
    pub fn sts_message(&self) -> String {
        match self {
            Self::MissingAuthenticationToken => {
                "Request is missing Authentication Token".to_string()
            }
            other => other.message(),
        }
    }
}

/// Verifies the request's SigV4 signature for `service` in `region` against the keys in
/// `ids`, with `now` from the mock clock and `max_skew` the allowed clock difference either
/// way. Returns the caller's identity. See the module docs for the order of the checks.
pub fn verify(
    req: &SigV4Request<'_>,
    service: &str,
    region: &str,
    ids: &Identities,
    now: SystemTime,
    max_skew: Duration,
) -> Result<Identity, SigError> {
    check_headers(req.headers, req.uri, service, region, ids, now, max_skew)?.check_signature(req)
}

/// What the request's head alone decides, established before its body is read: the
/// `Authorization` header and its date, the credential's scope, the access key, the
/// clock skew and the session token. Only the signature needs the body.
pub struct HeadChecked {
    parsed: ParsedAuth,
    identity: Identity,
    signed_at: SystemTime,
    date_is_amz: bool,
    token: Option<String>,
}

/// The first half of [`verify`]: everything but the signature, from the head.
pub fn check_headers(
    headers: &HeaderMap,
    uri: &Uri,
    service: &str,
    region: &str,
    ids: &Identities,
    now: SystemTime,
    max_skew: Duration,
) -> Result<HeadChecked, SigError> {
    let Some(auth) = headers.get(header::AUTHORIZATION) else {
        if is_presigned(uri) {
            // Not an AWS message: the mock does not verify query-string signatures.
            return Err(SigError::IncompleteSignature(
                "Query-string (presigned) SigV4 authentication is not supported by the pipecheck mock; \
                 sign with the Authorization header."
                    .to_string(),
            ));
        }
        return Err(SigError::MissingAuthenticationToken);
    };
    let auth = String::from_utf8_lossy(auth.as_bytes()).into_owned();
    let date = request_date(headers);
    let parsed = parse_authorization(&auth, date.is_some())?;
    let date = date.expect("parse_authorization refuses a request without a date header");
    let signed_at = parse_request_date(&date)?;
    check_required_signed_headers(&parsed.signed_headers, &date)?;

    let scope = parse_credential(&parsed.credential)?;
    if scope.service != service {
        return Err(SigError::WrongService {
            expected: service.to_string(),
        });
    }
    if scope.region != region {
        return Err(SigError::WrongRegion {
            got: scope.region.to_string(),
        });
    }
    if scope.terminator != TERMINATOR {
        return Err(SigError::BadScope(format!(
            "Credential should be scoped with a valid terminator: '{TERMINATOR}', not '{}'. ",
            scope.terminator
        )));
    }
    let request_day = &amz_date(signed_at)[..8];
    if scope.date != request_day {
        return Err(SigError::BadScope(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: \
             '{}' != '{request_day}', from '{}'.",
            scope.date, date.value
        )));
    }

    let identity = ids
        .get(scope.access_key_id)
        .ok_or_else(|| SigError::UnknownAccessKey {
            access_key_id: scope.access_key_id.to_string(),
        })?;
    if identity.expired {
        return Err(SigError::ExpiredToken {
            access_key_id: identity.access_key_id,
        });
    }
    check_skew(signed_at, now, max_skew)?;

    let token = headers
        .get("x-amz-security-token")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    if token != identity.session_token {
        return Err(SigError::InvalidSessionToken);
    }
    Ok(HeadChecked {
        parsed,
        identity,
        signed_at,
        date_is_amz: date.is_amz,
        token,
    })
}

impl HeadChecked {
    /// The second half of [`verify`]: the signature, over the head and the body.
    pub fn check_signature(self, req: &SigV4Request<'_>) -> Result<Identity, SigError> {
        let HeadChecked {
            parsed,
            identity,
            signed_at,
            date_is_amz,
            token,
        } = self;
        let scope = parse_credential(&parsed.credential)?;
        let signed_token = token.filter(|_| {
            parsed
                .signed_headers
                .iter()
                .any(|h| h == "x-amz-security-token")
        });
        let expected = resign(
            req,
            &parsed,
            &scope,
            &identity,
            signed_at,
            signed_token,
            date_is_amz,
        );
        match expected {
            Some(sig) if constant_time_eq(sig.as_bytes(), parsed.signature.as_bytes()) => {
                Ok(identity)
            }
            _ => {
                let creq = canonical::canonical_request(req, &parsed.signed_headers);
                let sts = canonical::string_to_sign(&amz_date(signed_at), &scope, &creq);
                Err(SigError::SignatureMismatch {
                    canonical_request: creq,
                    string_to_sign: sts,
                })
            }
        }
    }
}

/// Why [`read_verified`] refused a request.
#[derive(Debug, thiserror::Error)]
pub enum VerifyFailure {
    #[error("SigV4 verification failed")]
    Sig(#[from] SigError),
    /// The body is larger than the caller's limit (seen from `Content-Length` before
    /// reading, or while reading a body without one).
    #[error("request body is larger than {limit} bytes")]
    BodyTooLarge { limit: usize },
    /// The body could not be read (client went away, bad chunking).
    #[error("failed to read the request body")]
    BodyUnreadable(#[source] axum::Error),
}

/// Reads a request's body (at most `body_limit` bytes) and verifies its SigV4 signature
/// for `service` in `region`, with the mock clock's now and `max_skew`: what every mock
/// handler does first. Returns the request head, the body and the caller's identity; IAM
/// authorization (`Identity::allows`) is the caller's job.
///
/// Order: a `Content-Length` above the limit is refused before anything is read
/// (`BodyTooLarge`); then everything the head decides ([`check_headers`]: the
/// `Authorization` header, scope, access key, clock skew, session token), still before
/// anything is read; then the body is read, refusing it as soon as it passes the limit or
/// when it is not received within [`BODY_TIMEOUT`]; then the signature, which needs the
/// body's hash ([`HeadChecked::check_signature`]).
///
/// ```ignore
/// let (parts, body, caller) = sigv4::read_verified(
///     req, "aps", &st.region, &st.identities, &st.clock, st.settings.max_skew, LIMIT,
/// ).await?; // AmpError: From<VerifyFailure>
/// ```
pub async fn read_verified(
    req: axum::extract::Request,
    service: &str,
    region: &str,
    ids: &Identities,
    clock: &Clock,
    max_skew: Duration,
    body_limit: usize,
) -> Result<(http::request::Parts, Bytes, Identity), VerifyFailure> {
    let (parts, body) = req.into_parts();
    // What the head decides is decided before a byte of the body is read: a declared
    // length over the limit (413, as before), then an unsigned request, an unknown key or
    // a skewed clock: none of them can make the mock hold a body.
    check_declared_length(&parts, body_limit)?;
    let head = check_headers(
        &parts.headers,
        &parts.uri,
        service,
        region,
        ids,
        clock.now(),
        max_skew,
    )?;
    let body = read_body(&parts, body, body_limit).await?;
    let sreq = SigV4Request {
        method: &parts.method,
        uri: &parts.uri,
        headers: &parts.headers,
        body: &body,
    };
    let identity = head.check_signature(&sreq)?;
    Ok((parts, body, identity))
}

/// How long a client may take to send a body: one that holds back its last byte holds its
/// connection and what was read only this long.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// Reads a request's body, at most `body_limit` bytes, within [`BODY_TIMEOUT`]: a `Content-Length` above the limit
/// is refused before anything is read, a body without one as soon as it passes the limit
/// (`BodyTooLarge`). [`read_verified`]'s first step, for a service that looks at the body
/// before it knows whether the request must be signed (STS).
pub async fn read_body(
    parts: &http::request::Parts,
    body: axum::body::Body,
    body_limit: usize,
) -> Result<Bytes, VerifyFailure> {
    read_body_within(parts, body, body_limit, BODY_TIMEOUT).await
}

async fn read_body_within(
    parts: &http::request::Parts,
    body: axum::body::Body,
    body_limit: usize,
    timeout: Duration,
) -> Result<Bytes, VerifyFailure> {
    check_declared_length(parts, body_limit)?;
    let read = tokio::time::timeout(timeout, axum::body::to_bytes(body, body_limit));
    let Ok(read) = read.await else {
        return Err(VerifyFailure::BodyUnreadable(axum::Error::new(
            io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "the request body was not received within {} ms",
                    timeout.as_millis()
                ),
            ),
        )));
    };
    read.map_err(|e| {
        // axum reports the limit as an error whose chain holds http-body-util's
        // `LengthLimitError` ("length limit exceeded"); that crate is not a dependency here,
        // so the chain is matched by text.
        if error_chain_mentions(&e, "length limit exceeded") {
            VerifyFailure::BodyTooLarge { limit: body_limit }
        } else {
            VerifyFailure::BodyUnreadable(e)
        }
    })
}

/// A `Content-Length` over the limit is refused from the head alone.
fn check_declared_length(
    parts: &http::request::Parts,
    body_limit: usize,
) -> Result<(), VerifyFailure> {
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > body_limit as u64) {
        return Err(VerifyFailure::BodyTooLarge { limit: body_limit });
    }
    Ok(())
}

fn error_chain_mentions(e: &(dyn std::error::Error + 'static), needle: &str) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if err.to_string().contains(needle) {
            return true;
        }
        cur = err.source();
    }
    false
}

fn is_presigned(uri: &Uri) -> bool {
    uri.query().is_some_and(|q| {
        form_urlencoded::parse(q.as_bytes()).any(|(k, _)| {
            k.eq_ignore_ascii_case("X-Amz-Signature") || k.eq_ignore_ascii_case("X-Amz-Credential")
        })
    })
}

/// The date the request was signed with: `X-Amz-Date`, else `Date`.
struct RequestDate {
    value: String,
    /// true for `X-Amz-Date`, false for `Date`.
    is_amz: bool,
}

fn request_date(headers: &HeaderMap) -> Option<RequestDate> {
    let text = |v: &http::HeaderValue| String::from_utf8_lossy(v.as_bytes()).trim().to_string();
    let amz: Vec<String> = headers.get_all("x-amz-date").iter().map(text).collect();
    if !amz.is_empty() {
        // A header given twice is one value joined by commas, as SigV4 canonicalises it,
        // which is no date: AWS refuses the ambiguous request [inferred: the text is its
        // date-format refusal], and a second X-Amz-Date added after signing cannot pass.
        return Some(RequestDate {
            value: amz.join(","),
            is_amz: true,
        });
    }
    headers.get(header::DATE).map(|v| RequestDate {
        value: text(v),
        is_amz: false,
    })
}

struct ParsedAuth {
    credential: String,
    /// As the client listed them (lowercase names, `;`-separated).
    signed_headers: Vec<String>,
    signature: String,
}

/// Parses `AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…` the way AWS's
/// front end does: the first word is the algorithm, the rest are `key=value` tokens split
/// on commas and whitespace. A token without `=` is refused with AWS's "not a valid
/// key=value pair" text (API Gateway's older wording, which quotes the header; newer
/// front ends print a SHA-256 of it instead [inferred]). Missing parameters and a missing
/// date header are reported together, in AWS's order.
fn parse_authorization(value: &str, has_date: bool) -> Result<ParsedAuth, SigError> {
    let (algorithm, rest) = value.split_once(' ').unwrap_or((value, ""));
    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for token in rest
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|t| !t.is_empty())
    {
        let Some((k, v)) = token.split_once('=') else {
            return Err(SigError::IncompleteSignature(format!(
                "'{token}' not a valid key=value pair (missing equal-sign) in Authorization header: '{value}'."
            )));
        };
        match k {
            "Credential" => credential = Some(v.to_string()),
            "SignedHeaders" => signed_headers = Some(v.to_string()),
            "Signature" => signature = Some(v.to_string()),
            _ => {}
        }
    }
    let mut missing = String::new();
    if credential.is_none() {
        missing.push_str("Authorization header requires 'Credential' parameter. ");
    }
    if signature.is_none() {
        missing.push_str("Authorization header requires 'Signature' parameter. ");
    }
    if signed_headers.is_none() {
        missing.push_str("Authorization header requires 'SignedHeaders' parameter. ");
    }
    if !has_date {
        missing.push_str(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. ",
        );
    }
    if !missing.is_empty() {
        return Err(SigError::IncompleteSignature(format!(
            "{missing}Authorization={value}"
        )));
    }
    if algorithm != ALGORITHM {
        // [inferred] wording: AWS's text for an unknown algorithm was not found.
        return Err(SigError::IncompleteSignature(format!(
            "Unsupported AWS 'algorithm': '{algorithm}'."
        )));
    }
    Ok(ParsedAuth {
        credential: credential.unwrap_or_default(),
        signed_headers: signed_headers
            .unwrap_or_default()
            .split(';')
            .filter(|h| !h.is_empty())
            .map(|h| h.to_ascii_lowercase())
            .collect(),
        signature: signature.unwrap_or_default(),
    })
}

fn parse_request_date(date: &RequestDate) -> Result<SystemTime, SigError> {
    let basic = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    let http_date = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    let parsed = time::PrimitiveDateTime::parse(&date.value, basic).or_else(|e| {
        if date.is_amz {
            Err(e)
        } else {
            time::PrimitiveDateTime::parse(&date.value, http_date)
        }
    });
    parsed.map(|t| t.assume_utc().into()).map_err(|_| {
        // [inferred] status/type: AWS's text, seen as IncompleteSignature.
        SigError::IncompleteSignature(format!(
            "Date must be in ISO-8601 'basic format'. Got '{}'. See http://en.wikipedia.org/wiki/ISO_8601",
            date.value
        ))
    })
}

/// AWS requires `host` to be signed, and the date header when one is used.
fn check_required_signed_headers(signed: &[String], date: &RequestDate) -> Result<(), SigError> {
    if !signed.iter().any(|h| h == "host") {
        // AWS's text (the `:authority` part is from HTTP/2-aware front ends).
        return Err(SigError::IncompleteSignature(
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.".to_string(),
        ));
    }
    let (name, shown) = if date.is_amz {
        ("x-amz-date", "X-Amz-Date")
    } else {
        ("date", "Date")
    };
    if !signed.iter().any(|h| h == name) {
        // [inferred] wording, modelled on the `Host` one; the SigV4 docs require it.
        return Err(SigError::IncompleteSignature(format!(
            "'{shown}' must be a 'SignedHeader' in the AWS Authorization."
        )));
    }
    Ok(())
}

/// `AKID/yyyyMMdd/region/service/aws4_request`.
struct Scope<'a> {
    access_key_id: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
    terminator: &'a str,
}

fn parse_credential(credential: &str) -> Result<Scope<'_>, SigError> {
    let parts: Vec<&str> = credential.split('/').collect();
    match parts.as_slice() {
        [akid, date, region, service, terminator] => Ok(Scope {
            access_key_id: akid,
            date,
            region,
            service,
            terminator,
        }),
        // [inferred] wording (S3's): the non-S3 text for a credential with the wrong
        // number of parts was not found.
        _ => Err(SigError::IncompleteSignature(format!(
            "The authorization header is malformed; the Credential is mal-formed; expecting \
             \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\". Credential={credential}"
        ))),
    }
}

fn check_skew(signed_at: SystemTime, now: SystemTime, max_skew: Duration) -> Result<(), SigError> {
    let skew_minutes = max_skew.as_secs() / 60;
    if signed_at + max_skew < now {
        return Err(SigError::SignatureExpired {
            signed_at: amz_date(signed_at),
            earliest: amz_date(now - max_skew),
            now: amz_date(now),
            skew_minutes,
        });
    }
    if signed_at > now + max_skew {
        return Err(SigError::SignatureNotYetCurrent {
            signed_at: amz_date(signed_at),
            latest: amz_date(now + max_skew),
            now: amz_date(now),
            skew_minutes,
        });
    }
    Ok(())
}

/// `yyyyMMddTHHmmssZ`, the format of `X-Amz-Date` and of AWS's skew messages.
pub(crate) fn amz_date(t: SystemTime) -> String {
    let t = OffsetDateTime::from(t);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// The signature the client should have sent, computed by `aws-sigv4` from the request's
/// own inputs. None when the request cannot even be signed (e.g. a header value that is
/// not UTF-8): that is a mismatch.
fn resign(
    req: &SigV4Request<'_>,
    parsed: &ParsedAuth,
    scope: &Scope<'_>,
    identity: &Identity,
    signed_at: SystemTime,
    signed_token: Option<String>,
    date_is_amz: bool,
) -> Option<String> {
    let host_fallback = canonical::authority_host(req);
    let mut headers: Vec<(&str, &str)> = Vec::new();
    for name in &parsed.signed_headers {
        // The signer adds these two itself: x-amz-date from the signing time (which is the
        // request's own date), the token from the credentials (the request's own token).
        if name == "x-amz-date" || name == "x-amz-security-token" {
            continue;
        }
        let values = req.headers.get_all(name.as_str());
        if name == "host" && values.iter().next().is_none() {
            // HTTP/2 carries the host in `:authority`, which is the URI's authority here.
            if let Some(h) = host_fallback.as_deref() {
                headers.push(("host", h));
            }
            continue;
        }
        for v in values {
            headers.push((name.as_str(), std::str::from_utf8(v.as_bytes()).ok()?));
        }
    }

    let creds = aws_credential_types::Credentials::new(
        identity.access_key_id.clone(),
        identity.secret_access_key.clone(),
        signed_token,
        None,
        "pipecheck-mock",
    );
    let creds: aws_smithy_runtime_api::client::identity::Identity = creds.into();
    let mut settings = SigningSettings::default();
    // Sign every header the client signed (the default excludes user-agent and others a
    // proxy may change, but a client that signed them must be checked on them). A request
    // dated by `Date` alone has no x-amz-date, which the signer would otherwise add.
    settings.excluded_headers = Some(if date_is_amz {
        Vec::new()
    } else {
        vec!["x-amz-date".into()]
    });
    // Defaults kept on purpose: non-S3 services double-encode and normalize the path, sign
    // the body's SHA-256 and add no x-amz-content-sha256 header.
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&creds)
        .region(scope.region)
        .name(scope.service)
        .time(signed_at)
        .settings(settings)
        .build()
        .ok()?
        .into();
    let path_and_query = req.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let signable = SignableRequest::new(
        req.method.as_str(),
        path_and_query,
        headers.into_iter(),
        SignableBody::Bytes(req.body),
    )
    .ok()?;
    let out = sign(signable, &params).ok()?;
    Some(out.signature().to_string())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A small SigV4 canonical-request builder, used ONLY to write the "should have been" text
/// of a signature-mismatch message: `aws-sigv4` does not expose its canonical request. The
/// verdict always comes from `aws-sigv4`; a unit test checks that this builder's string to
/// sign gives the same signature for normal requests, so the two cannot silently disagree.
mod canonical {
    use super::*;

    /// Unreserved characters (RFC 3986) stay; everything else is percent-encoded. `/` is
    /// kept in paths. This is the set `aws-smithy-http` uses.
    const QUERY_SET: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    const PATH_SET: &AsciiSet = &QUERY_SET.remove(b'/');

    pub(super) fn authority_host(req: &SigV4Request<'_>) -> Option<String> {
        req.uri.authority().map(|a| a.as_str().to_string())
    }

    pub(super) fn canonical_request(req: &SigV4Request<'_>, signed_headers: &[String]) -> String {
        let mut out = String::new();
        out.push_str(req.method.as_str());
        out.push('\n');
        // Non-S3 services: normalize the path, then encode the (already encoded) path again.
        out.push_str(&utf8_percent_encode(&normalize_path(req.uri.path()), PATH_SET).to_string());
        out.push('\n');
        out.push_str(&canonical_query(req.uri.query().unwrap_or("")));
        out.push('\n');
        for name in signed_headers {
            let mut values: Vec<String> = req
                .headers
                .get_all(name.as_str())
                .iter()
                .map(|v| trim_all(&String::from_utf8_lossy(v.as_bytes())))
                .collect();
            if values.is_empty() && name == "host" {
                values.extend(authority_host(req));
            }
            out.push_str(name);
            out.push(':');
            out.push_str(&values.join(","));
            out.push('\n');
        }
        out.push('\n');
        out.push_str(&signed_headers.join(";"));
        out.push('\n');
        out.push_str(&hex::encode(Sha256::digest(req.body)));
        out
    }

    pub(super) fn string_to_sign(
        amz_date: &str,
        scope: &Scope<'_>,
        canonical_request: &str,
    ) -> String {
        format!(
            "{ALGORITHM}\n{amz_date}\n{}/{}/{}/{TERMINATOR}\n{}",
            scope.date,
            scope.region,
            scope.service,
            hex::encode(Sha256::digest(canonical_request.as_bytes()))
        )
    }

    /// Pairs decoded (`+` as space, as `aws-sigv4` does), re-encoded, sorted by encoded
    /// key then value.
    fn canonical_query(query: &str) -> String {
        let mut pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
            .map(|(k, v)| {
                (
                    utf8_percent_encode(&k, QUERY_SET).to_string(),
                    utf8_percent_encode(&v, QUERY_SET).to_string(),
                )
            })
            .collect();
        pairs.sort();
        pairs
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&")
    }

    /// RFC 3986 §5.2.4 dot-segment removal with empty segments dropped, as `aws-sigv4`'s
    /// `normalize_uri_path` does.
    fn normalize_path(path: &str) -> String {
        if path.is_empty() {
            return "/".to_string();
        }
        let path = if path.starts_with('/') {
            path.to_string()
        } else {
            format!("/{path}")
        };
        if !(path.contains('.') || path.contains("//")) {
            return path;
        }
        let mut segments: Vec<&str> = Vec::new();
        for seg in path.split('/') {
            match seg {
                "" | "." => {}
                ".." => {
                    segments.pop();
                }
                s => segments.push(s),
            }
        }
        let mut out = format!("/{}", segments.join("/"));
        let ends_with_slash = ["/", "/.", "/./", "/..", "/../"]
            .iter()
            .any(|s| path.ends_with(s));
        if ends_with_slash && !out.ends_with('/') {
            out.push('/');
        }
        out
    }

    /// Trims spaces and collapses runs of spaces (SigV4's header value rule).
    fn trim_all(v: &str) -> String {
        let mut out = String::with_capacity(v.len());
        let mut prev_space = false;
        for c in v.trim_matches(' ').chars() {
            if c == ' ' {
                if !prev_space {
                    out.push(c);
                }
                prev_space = true;
            } else {
                out.push(c);
                prev_space = false;
            }
        }
        out
    }
}

/// Signs `req` in place as an AWS client does (aws-sigv4, default settings), then puts it
/// in the form a server receives: origin-form URI plus a `Host` header. `req`'s URI must
/// be absolute. The mocks' tests, and tools that drive the mocks directly, sign with this,
/// so no test carries its own copy of client signing.
pub fn sign_as_client(
    req: &mut http::Request<Vec<u8>>,
    who: &Identity,
    region: &str,
    service: &str,
    at: SystemTime,
) -> Result<(), String> {
    let creds = aws_credential_types::Credentials::new(
        &who.access_key_id,
        &who.secret_access_key,
        who.session_token.clone(),
        None,
        "pipecheck-mocks",
    );
    let identity = creds.into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(at)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| e.to_string())?
        .into();
    let uri = req.uri().clone();
    let authority = uri
        .authority()
        .ok_or("the URI to sign must be absolute")?
        .clone();
    let url = uri.to_string();
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let signable = SignableRequest::new(
        req.method().as_str(),
        url.as_str(),
        headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(req.body()),
    )
    .map_err(|e| e.to_string())?;
    let (instructions, _) = sign(signable, &params)
        .map_err(|e| e.to_string())?
        .into_parts();
    instructions.apply_to_request_http1x(req);
    let origin = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    *req.uri_mut() = origin
        .parse()
        .map_err(|e: http::uri::InvalidUri| e.to_string())?;
    let host = authority
        .as_str()
        .parse()
        .map_err(|e: http::header::InvalidHeaderValue| e.to_string())?;
    req.headers_mut().insert(header::HOST, host);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::collections::BTreeSet as Set;

    /// A body whose last byte never comes: refused at the timeout.
    #[tokio::test]
    async fn a_body_held_back_is_refused_at_the_timeout() {
        struct Never;
        impl http_body::Body for Never {
            type Data = Bytes;
            type Error = std::convert::Infallible;
            fn poll_frame(
                self: std::pin::Pin<&mut Self>,
                _: &mut std::task::Context<'_>,
            ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
                std::task::Poll::Pending
            }
        }
        let (parts, _) = http::Request::new(()).into_parts();
        let timeout = Duration::from_millis(100);
        let err = read_body_within(&parts, axum::body::Body::new(Never), 1 << 20, timeout)
            .await
            .unwrap_err();
        let VerifyFailure::BodyUnreadable(e) = err else {
            panic!("{err:?}")
        };
        assert!(e.to_string().contains("not received within 100 ms"), "{e}");
    }

    const REGION: &str = "us-east-1";
    const SERVICE: &str = "aps";
    const MAX_SKEW: Duration = Duration::from_secs(300);

    fn ids() -> (Identities, Identity) {
        let (ids, user) = Identities::with_default_user();
        ids.insert(Identity {
            access_key_id: "AKIAEXPIRED000000001".into(),
            secret_access_key: "expiredsecret".into(),
            session_token: None,
            arn: "arn:aws:iam::111122223333:user/old".into(),
            account: "111122223333".into(),
            user_id: "AIDAOLD".into(),
            allowed_actions: Set::new(),
            expired: true,
        });
        ids.insert(Identity {
            access_key_id: "ASIATEMPORARY0000001".into(),
            secret_access_key: "tempsecret".into(),
            session_token: Some("the-session-token".into()),
            arn: "arn:aws:sts::111122223333:assumed-role/r/s".into(),
            account: "111122223333".into(),
            user_id: "AROA:s".into(),
            allowed_actions: Set::new(),
            expired: false,
        });
        (ids, user)
    }

    fn t0() -> SystemTime {
        // 2024-05-01T12:00:00Z
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_714_564_800)
    }

    /// A request signed the way a client would: `aws-sigv4` with its default settings.
    #[allow(clippy::too_many_arguments)]
    fn signed(
        method: &str,
        uri: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        key: (&str, &str, Option<&str>),
        region: &str,
        service: &str,
        at: SystemTime,
    ) -> http::Request<Vec<u8>> {
        let mut b = http::Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let mut req = b.body(body.to_vec()).unwrap();
        let mut who = Identities::with_default_user().1;
        who.access_key_id = key.0.to_string();
        who.secret_access_key = key.1.to_string();
        who.session_token = key.2.map(String::from);
        sign_as_client(&mut req, &who, region, service, at).unwrap();
        req
    }

    fn rw(user: &Identity, at: SystemTime) -> http::Request<Vec<u8>> {
        signed(
            "POST",
            "http://127.0.0.1:4510/workspaces/ws-1/api/v1/remote_write",
            &[
                ("content-type", "application/x-protobuf"),
                ("content-encoding", "snappy"),
            ],
            b"\x00\x01payload",
            (&user.access_key_id, &user.secret_access_key, None),
            REGION,
            SERVICE,
            at,
        )
    }

    fn check(
        req: &http::Request<Vec<u8>>,
        ids: &Identities,
        now: SystemTime,
    ) -> Result<Identity, SigError> {
        let r = SigV4Request {
            method: req.method(),
            uri: req.uri(),
            headers: req.headers(),
            body: req.body(),
        };
        verify(&r, SERVICE, REGION, ids, now, MAX_SKEW)
    }

    #[test]
    fn accepts_a_request_signed_by_aws_sigv4() {
        let (ids, user) = ids();
        let got = check(&rw(&user, t0()), &ids, t0()).unwrap();
        assert_eq!(got.arn, user.arn);
    }

    #[test]
    fn accepts_query_strings_and_encoded_paths() {
        let (ids, user) = ids();
        let req = signed(
            "DELETE",
            "http://127.0.0.1:4510/tags/arn%3Aaws%3Aaps%3Aus-east-1%3A111122223333%3Aworkspace%2Fws-1?tagKeys=b&tagKeys=a%20b",
            &[],
            b"",
            (&user.access_key_id, &user.secret_access_key, None),
            REGION,
            SERVICE,
            t0(),
        );
        check(&req, &ids, t0()).unwrap();
    }

    #[test]
    fn accepts_session_tokens_and_checks_them() {
        let (ids, _) = ids();
        let key = (
            "ASIATEMPORARY0000001",
            "tempsecret",
            Some("the-session-token"),
        );
        let req = signed(
            "GET",
            "http://h/workspaces",
            &[],
            b"",
            key,
            REGION,
            SERVICE,
            t0(),
        );
        check(&req, &ids, t0()).unwrap();
        let wrong = ("ASIATEMPORARY0000001", "tempsecret", Some("another-token"));
        let req = signed(
            "GET",
            "http://h/workspaces",
            &[],
            b"",
            wrong,
            REGION,
            SERVICE,
            t0(),
        );
        let e = check(&req, &ids, t0()).unwrap_err();
        assert_eq!(e, SigError::InvalidSessionToken);
        assert_eq!(
            e.message(),
            "The security token included in the request is invalid."
        );
        let none = ("ASIATEMPORARY0000001", "tempsecret", None);
        let req = signed(
            "GET",
            "http://h/workspaces",
            &[],
            b"",
            none,
            REGION,
            SERVICE,
            t0(),
        );
        assert_eq!(
            check(&req, &ids, t0()).unwrap_err(),
            SigError::InvalidSessionToken
        );
    }

    #[test]
    fn tampered_body_is_a_mismatch_with_the_canonical_request_in_the_message() {
        let (ids, user) = ids();
        let mut req = rw(&user, t0());
        *req.body_mut() = b"other".to_vec();
        let e = check(&req, &ids, t0()).unwrap_err();
        assert!(matches!(e, SigError::SignatureMismatch { .. }));
        assert_eq!(e.status(), StatusCode::FORBIDDEN);
        assert_eq!(e.error_type(), "InvalidSignatureException");
        assert_eq!(e.sts_code(), "SignatureDoesNotMatch");
        let m = e.message();
        assert!(m.starts_with("The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.\n\nThe Canonical String for this request should have been\n'POST\n/workspaces/ws-1/api/v1/remote_write\n\n"), "{m}");
        let body_hash = hex::encode(Sha256::digest(b"other"));
        assert!(m.contains(&format!("{body_hash}'\n\nThe String-to-Sign should have been\n'AWS4-HMAC-SHA256\n20240501T120000Z\n20240501/us-east-1/aps/aws4_request\n")), "{m}");
        assert!(m.ends_with("'\n"));
    }

    #[test]
    fn signed_header_modified_is_a_mismatch_but_unsigned_extra_header_is_fine() {
        let (ids, user) = ids();
        let mut req = rw(&user, t0());
        req.headers_mut()
            .insert("x-unsigned-extra", "whatever".parse().unwrap());
        req.headers_mut()
            .insert(header::USER_AGENT, "proxy/1".parse().unwrap());
        check(&req, &ids, t0()).unwrap();

        let mut req = rw(&user, t0());
        req.headers_mut()
            .insert(header::CONTENT_TYPE, "text/plain".parse().unwrap());
        assert!(matches!(
            check(&req, &ids, t0()),
            Err(SigError::SignatureMismatch { .. })
        ));

        let mut req = rw(&user, t0());
        req.headers_mut()
            .insert(header::HOST, "127.0.0.1:9999".parse().unwrap());
        assert!(matches!(
            check(&req, &ids, t0()),
            Err(SigError::SignatureMismatch { .. })
        ));
    }

    #[test]
    fn tampered_path_or_query_is_a_mismatch() {
        let (ids, user) = ids();
        let mut req = rw(&user, t0());
        *req.uri_mut() = "/workspaces/ws-2/api/v1/remote_write".parse().unwrap();
        assert!(matches!(
            check(&req, &ids, t0()),
            Err(SigError::SignatureMismatch { .. })
        ));
        let mut req = rw(&user, t0());
        *req.uri_mut() = "/workspaces/ws-1/api/v1/remote_write?x=1".parse().unwrap();
        assert!(matches!(
            check(&req, &ids, t0()),
            Err(SigError::SignatureMismatch { .. })
        ));
    }

    #[test]
    fn wrong_secret_is_a_mismatch() {
        let (ids, user) = ids();
        let mut bad = user.clone();
        bad.secret_access_key = "not-the-secret".into();
        assert!(matches!(
            check(&rw(&bad, t0()), &ids, t0()),
            Err(SigError::SignatureMismatch { .. })
        ));
    }

    #[test]
    fn wrong_region_and_service_give_awss_scope_texts() {
        let (ids, user) = ids();
        let key = (
            user.access_key_id.as_str(),
            user.secret_access_key.as_str(),
            None,
        );
        let req = signed(
            "GET",
            "http://h/workspaces",
            &[],
            b"",
            key,
            "us-west-2",
            SERVICE,
            t0(),
        );
        let e = check(&req, &ids, t0()).unwrap_err();
        assert_eq!(
            e.message(),
            "Credential should be scoped to a valid region, not 'us-west-2'. "
        );
        assert_eq!(e.error_type(), "InvalidSignatureException");
        let req = signed(
            "GET",
            "http://h/workspaces",
            &[],
            b"",
            key,
            REGION,
            "execute-api",
            t0(),
        );
        let e = check(&req, &ids, t0()).unwrap_err();
        assert_eq!(
            e.message(),
            "Credential should be scoped to correct service: 'aps'. "
        );
    }

    #[test]
    fn skew_beyond_five_minutes_either_way() {
        let (ids, user) = ids();
        let six = Duration::from_secs(360);
        // Signed 6 minutes before the server's now.
        let e = check(&rw(&user, t0() - six), &ids, t0()).unwrap_err();
        assert_eq!(
            e.message(),
            "Signature expired: 20240501T115400Z is now earlier than 20240501T115500Z (20240501T120000Z - 5 min.)"
        );
        assert_eq!(e.error_type(), "InvalidSignatureException");
        // Signed 6 minutes after.
        let e = check(&rw(&user, t0() + six), &ids, t0()).unwrap_err();
        assert_eq!(
            e.message(),
            "Signature not yet current: 20240501T120600Z is still later than 20240501T120500Z (20240501T120000Z + 5 min.)"
        );
        // 4 minutes is within the window.
        check(&rw(&user, t0() - Duration::from_secs(240)), &ids, t0()).unwrap();
    }

    #[test]
    fn unknown_and_expired_keys() {
        let (ids, user) = ids();
        let mut stranger = user.clone();
        stranger.access_key_id = "AKIANOBODY0000000000".into();
        let e = check(&rw(&stranger, t0()), &ids, t0()).unwrap_err();
        assert_eq!(
            e.message(),
            "The security token included in the request is invalid."
        );
        assert_eq!(e.error_type(), "UnrecognizedClientException");
        assert_eq!(e.sts_code(), "InvalidClientTokenId");
        assert_eq!(e.sts_status(), StatusCode::FORBIDDEN);

        let mut old = user.clone();
        old.access_key_id = "AKIAEXPIRED000000001".into();
        old.secret_access_key = "expiredsecret".into();
        let e = check(&rw(&old, t0()), &ids, t0()).unwrap_err();
        assert_eq!(
            e.message(),
            "The security token included in the request is expired"
        );
        assert_eq!(e.sts_code(), "ExpiredToken");
        assert_eq!(e.sts_status(), StatusCode::BAD_REQUEST);
        assert_eq!(e.status(), StatusCode::FORBIDDEN);
    }

    #[test]
    fn missing_authorization() {
        let (ids, user) = ids();
        let mut req = rw(&user, t0());
        req.headers_mut().remove(header::AUTHORIZATION);
        let e = check(&req, &ids, t0()).unwrap_err();
        assert_eq!(e, SigError::MissingAuthenticationToken);
        assert_eq!(e.message(), "Missing Authentication Token");
        assert_eq!(e.error_type(), "MissingAuthenticationTokenException");
        assert_eq!(e.sts_message(), "Request is missing Authentication Token");

        *req.uri_mut() = "/x?X-Amz-Signature=abc&X-Amz-Credential=a".parse().unwrap();
        assert!(
            matches!(check(&req, &ids, t0()), Err(SigError::IncompleteSignature(m)) if m.contains("presigned"))
        );
    }

    #[test]
    fn missing_date() {
        let (ids, user) = ids();
        let mut req = rw(&user, t0());
        req.headers_mut().remove("x-amz-date");
        let auth = req.headers()[header::AUTHORIZATION]
            .to_str()
            .unwrap()
            .to_string();
        let e = check(&req, &ids, t0()).unwrap_err();
        assert_eq!(
            e.message(),
            format!(
                "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization={auth}"
            )
        );
        assert_eq!(e.error_type(), "IncompleteSignatureException");
        assert_eq!(e.sts_code(), "IncompleteSignature");
    }

    #[test]
    fn malformed_authorization_headers() {
        let (ids, user) = ids();
        let mut req = rw(&user, t0());
        req.headers_mut()
            .insert(header::AUTHORIZATION, "Bearer abc.def".parse().unwrap());
        assert_eq!(
            check(&req, &ids, t0()).unwrap_err().message(),
            "'abc.def' not a valid key=value pair (missing equal-sign) in Authorization header: 'Bearer abc.def'."
        );
        req.headers_mut().remove("x-amz-date");
        req.headers_mut()
            .insert(header::AUTHORIZATION, "eyJhbGciOi".parse().unwrap());
        assert_eq!(
            check(&req, &ids, t0()).unwrap_err().message(),
            "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. \
             Authorization header requires 'SignedHeaders' parameter. Authorization header requires existence of \
             either a 'X-Amz-Date' or a 'Date' header. Authorization=eyJhbGciOi"
        );
    }

    #[test]
    fn host_must_be_signed() {
        let (ids, user) = ids();
        let mut req = rw(&user, t0());
        let auth = req.headers()[header::AUTHORIZATION]
            .to_str()
            .unwrap()
            .replace("host;", "");
        req.headers_mut()
            .insert(header::AUTHORIZATION, auth.parse().unwrap());
        assert_eq!(
            check(&req, &ids, t0()).unwrap_err().message(),
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
        );
    }

    #[test]
    fn accepts_a_date_header_instead_of_x_amz_date() {
        let (ids, user) = ids();
        // Sign by hand with `Date` (as some old clients do): the canonical request names
        // `date`, and the string to sign carries the ISO form of it.
        let http_date = "Wed, 01 May 2024 12:00:00 GMT";
        let mut req = http::Request::builder()
            .method("GET")
            .uri("/workspaces")
            .header("host", "h")
            .header("date", http_date)
            .body(Vec::new())
            .unwrap();
        let signed_headers = vec!["date".to_string(), "host".to_string()];
        let r = SigV4Request {
            method: req.method(),
            uri: req.uri(),
            headers: req.headers(),
            body: req.body(),
        };
        let creq = canonical::canonical_request(&r, &signed_headers);
        let scope = Scope {
            access_key_id: &user.access_key_id,
            date: "20240501",
            region: REGION,
            service: SERVICE,
            terminator: TERMINATOR,
        };
        let sts = canonical::string_to_sign("20240501T120000Z", &scope, &creq);
        let key = aws_sigv4::sign::v4::generate_signing_key(
            &user.secret_access_key,
            t0(),
            REGION,
            SERVICE,
        );
        let sig = aws_sigv4::sign::v4::calculate_signature(key, sts.as_bytes());
        let auth = format!(
            "AWS4-HMAC-SHA256 Credential={}/20240501/{REGION}/{SERVICE}/aws4_request, SignedHeaders=date;host, Signature={sig}",
            user.access_key_id
        );
        req.headers_mut()
            .insert(header::AUTHORIZATION, auth.parse().unwrap());
        check(&req, &ids, t0()).unwrap();
    }

    /// The message builder and aws-sigv4 must agree, or mismatch messages would lie.
    #[test]
    fn canonical_builder_agrees_with_aws_sigv4() {
        let (_, user) = ids();
        let cases = [
            rw(&user, t0()),
            signed(
                "DELETE",
                "http://h/tags/arn%3Aaws%3Aaps%3Aus-east-1%3A1%3Aworkspace%2Fws-1?tagKeys=z&tagKeys=a+b&alias=%E2%9C%93",
                &[("x-custom", "  a   b  ")],
                b"",
                (&user.access_key_id, &user.secret_access_key, Some("tok")),
                REGION,
                SERVICE,
                t0(),
            ),
            signed(
                "POST",
                "http://h/a/./b/../c//d/",
                &[("content-type", "application/x-www-form-urlencoded")],
                b"Action=GetCallerIdentity&Version=2011-06-15",
                (&user.access_key_id, &user.secret_access_key, None),
                REGION,
                "sts",
                t0(),
            ),
        ];
        for req in &cases {
            let auth = req.headers()[header::AUTHORIZATION].to_str().unwrap();
            let parsed = parse_authorization(auth, true).unwrap();
            let scope = parse_credential(&parsed.credential).unwrap();
            let r = SigV4Request {
                method: req.method(),
                uri: req.uri(),
                headers: req.headers(),
                body: req.body(),
            };
            let creq = canonical::canonical_request(&r, &parsed.signed_headers);
            let sts = canonical::string_to_sign(&amz_date(t0()), &scope, &creq);
            let key = aws_sigv4::sign::v4::generate_signing_key(
                &user.secret_access_key,
                t0(),
                scope.region,
                scope.service,
            );
            assert_eq!(
                aws_sigv4::sign::v4::calculate_signature(key, sts.as_bytes()),
                parsed.signature,
                "canonical request:\n{creq}"
            );
        }
    }

    #[tokio::test]
    async fn read_verified_refuses_large_bodies_early() {
        let (ids, user) = ids();
        let clock = Clock::default();
        let req = rw(&user, SystemTime::now()).map(axum::body::Body::from);
        let (parts, body, who) = read_verified(req, SERVICE, REGION, &ids, &clock, MAX_SKEW, 1024)
            .await
            .unwrap();
        assert_eq!(parts.method, Method::POST);
        assert_eq!(&body[..], b"\x00\x01payload");
        assert_eq!(who.arn, user.arn);

        let mut req = rw(&user, SystemTime::now()).map(axum::body::Body::from);
        req.headers_mut()
            .insert(header::CONTENT_LENGTH, "9".parse().unwrap());
        let e = read_verified(req, SERVICE, REGION, &ids, &clock, MAX_SKEW, 4)
            .await
            .unwrap_err();
        assert!(matches!(e, VerifyFailure::BodyTooLarge { limit: 4 }));
        // No Content-Length: refused while reading.
        let req = rw(&user, SystemTime::now()).map(axum::body::Body::from);
        let e = read_verified(req, SERVICE, REGION, &ids, &clock, MAX_SKEW, 4)
            .await
            .unwrap_err();
        assert!(
            matches!(e, VerifyFailure::BodyTooLarge { limit: 4 }),
            "{e:?}"
        );
    }

    #[test]
    fn all_errors_are_403_on_amp() {
        let set: BTreeSet<u16> = [
            SigError::MissingAuthenticationToken,
            SigError::IncompleteSignature(String::new()),
            SigError::ExpiredToken {
                access_key_id: String::new(),
            },
        ]
        .iter()
        .map(|e| e.status().as_u16())
        .collect();
        assert_eq!(set, BTreeSet::from([403]));
    }
}
