//! What the rest-json control planes (AMP, AMG, EKS) share, written once: AWS's rest-json
//! error answer, the ValidationException and its field list, request ids, JSON and empty
//! answers, body parsing, the SigV4 + IAM front end, `maxResults`/`nextToken`, resource
//! ARNs, and tags (validation, merge and the three `/tags/{resourceArn}` operations).
//!
//! A service keeps what is its own: its routes and resources, its error enum (whose
//! variants map to its exception names through [`ErrorResponse`]), and its [`Service`]
//! (and, with tags, [`Tagging`]) implementation.
//!
//! Every answer written here carries a fresh `x-amzn-RequestId`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, post};
use bytes::Bytes;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::clock::Clock;
use crate::identity::{Identities, Identity, MOCK_ACCOUNT};
use crate::sigv4::{self, SigError, VerifyFailure};

// ---------------------------------------------------------------------------------------
// Answers

/// A fresh `x-amzn-RequestId` value.
pub fn request_id() -> HeaderValue {
    HeaderValue::from_str(&uuid::Uuid::new_v4().to_string())
        .expect("a uuid is a valid header value")
}

/// `status` with a JSON body.
pub fn json_response(status: StatusCode, body: Value) -> Response {
    let mut resp = (status, body.to_string()).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(HeaderName::from_static("x-amzn-requestid"), request_id());
    resp
}

/// 200 with a JSON body.
pub fn ok(body: Value) -> Response {
    json_response(StatusCode::OK, body)
}

/// `status` without a body.
pub fn empty_response(status: StatusCode) -> Response {
    let mut resp = status.into_response();
    resp.headers_mut()
        .insert(HeaderName::from_static("x-amzn-requestid"), request_id());
    resp
}

/// The body of an error answer.
#[derive(Clone, Debug, PartialEq)]
pub enum ErrorBody {
    /// `application/json`.
    Json(Value),
    /// `text/plain; charset=utf-8` (the Cortex answers behind AMP's data plane).
    Text(String),
}

/// One error answer as AWS's rest-json services write it: the status, `x-amzn-ErrorType`
/// (which the Rust SDK cuts at `:` to pick the typed error; None where the service sends
/// none), the body (`{"message", …}` with the shape's other members), and `Retry-After: 1`
/// where the service sends it. Each service's error enum maps its variants to one of these.
#[derive(Clone, Debug, PartialEq)]
pub struct ErrorResponse {
    pub status: StatusCode,
    pub error_type: Option<&'static str>,
    pub body: ErrorBody,
    pub retry_after: bool,
}

impl ErrorResponse {
    /// `error_type` with the JSON `body`.
    pub fn json(status: StatusCode, error_type: &'static str, body: Value) -> Self {
        Self {
            status,
            error_type: Some(error_type),
            body: ErrorBody::Json(body),
            retry_after: false,
        }
    }

    /// `error_type` with `{"message": message}`.
    pub fn message(status: StatusCode, error_type: &'static str, message: &str) -> Self {
        Self::json(status, error_type, json!({ "message": message }))
    }

    /// A plain-text body and no `x-amzn-ErrorType`.
    pub fn text(status: StatusCode, text: String) -> Self {
        Self {
            status,
            error_type: None,
            body: ErrorBody::Text(text),
            retry_after: false,
        }
    }

    /// The front end's TPS limit: 429 `{"message":"Rate exceeded"}`.
    pub fn throttled() -> Self {
        Self::message(
            StatusCode::TOO_MANY_REQUESTS,
            "ThrottlingException",
            "Rate exceeded",
        )
    }

    /// 400 `ValidationException` `{message, reason, fieldList?}`.
    pub fn validation(v: &ValidationException) -> Self {
        Self::json(StatusCode::BAD_REQUEST, "ValidationException", v.body())
    }

    /// 404 `ResourceNotFoundException` `{message, resourceId, resourceType}`.
    pub fn not_found(r: &ResourceError) -> Self {
        Self::json(StatusCode::NOT_FOUND, "ResourceNotFoundException", r.body())
    }

    /// 409 `ConflictException` `{message, resourceId, resourceType}`.
    pub fn conflict(r: &ResourceError) -> Self {
        Self::json(StatusCode::CONFLICT, "ConflictException", r.body())
    }

    /// 404 for a path or method the mock does not serve. Not the service's answer: AWS's
    /// front end names unknown operations `UnknownOperationException`.
    pub fn unknown_operation(service: &str) -> Self {
        Self::message(
            StatusCode::NOT_FOUND,
            "UnknownOperationException",
            &format!("This operation is not served by the pipecheck mock of {service}."),
        )
    }

    /// 500 `InternalServerException` `{"message"}`.
    pub fn internal(message: &str) -> Self {
        Self::message(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerException",
            message,
        )
    }

    /// The same answer with `Retry-After: 1`.
    pub fn retry_after(self) -> Self {
        Self {
            retry_after: true,
            ..self
        }
    }
}

impl IntoResponse for ErrorResponse {
    fn into_response(self) -> Response {
        let (content_type, bytes) = match self.body {
            ErrorBody::Json(v) => ("application/json", v.to_string()),
            ErrorBody::Text(t) => ("text/plain; charset=utf-8", t),
        };
        let mut resp = (self.status, bytes).into_response();
        let h = resp.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        if let Some(t) = self.error_type {
            h.insert(
                HeaderName::from_static("x-amzn-errortype"),
                HeaderValue::from_static(t),
            );
        }
        if self.retry_after {
            h.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        h.insert(HeaderName::from_static("x-amzn-requestid"), request_id());
        resp
    }
}

/// What ResourceNotFoundException and ConflictException carry: `{message, resourceId,
/// resourceType}` (the message and type texts are the service's).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceError {
    pub message: String,
    pub resource_id: String,
    pub resource_type: String,
}

impl ResourceError {
    pub fn new(
        message: impl Into<String>,
        resource_id: impl Into<String>,
        resource_type: impl Into<String>,
    ) -> Self {
        Self {
            message: message.into(),
            resource_id: resource_id.into(),
            resource_type: resource_type.into(),
        }
    }

    fn body(&self) -> Value {
        json!({
            "message": self.message,
            "resourceId": self.resource_id,
            "resourceType": self.resource_type,
        })
    }
}

// ---------------------------------------------------------------------------------------
// Validation

/// `ValidationException.reason` (model enum).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValidationReason {
    UnknownOperation,
    CannotParse,
    FieldValidationFailed,
    Other,
}

impl ValidationReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UnknownOperation => "UNKNOWN_OPERATION",
            Self::CannotParse => "CANNOT_PARSE",
            Self::FieldValidationFailed => "FIELD_VALIDATION_FAILED",
            Self::Other => "OTHER",
        }
    }
}

/// One entry of `ValidationException.fieldList`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldViolation {
    /// The member, e.g. `maxResults`.
    pub name: String,
    /// e.g. `Value '0' at 'maxResults' failed to satisfy constraint: Member must have value
    /// greater than or equal to 1`.
    pub message: String,
}

impl FieldViolation {
    /// The usual AWS (Coral) constraint text [inferred for AMP and AMG].
    pub fn new(name: &str, value: &str, constraint: &str) -> Self {
        Self {
            name: name.to_string(),
            message: format!(
                "Value '{value}' at '{name}' failed to satisfy constraint: {constraint}"
            ),
        }
    }
}

/// A ValidationException: 400 `{message, reason, fieldList?}`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ValidationException {
    pub message: String,
    pub reason: ValidationReason,
    pub fields: Vec<FieldViolation>,
}

impl ValidationException {
    /// FIELD_VALIDATION_FAILED with AWS's summary line ("1 validation error detected: …;
    /// …") [inferred wording].
    pub fn fields(fields: Vec<FieldViolation>) -> Self {
        let n = fields.len();
        let plural = if n == 1 { "error" } else { "errors" };
        let details: Vec<&str> = fields.iter().map(|f| f.message.as_str()).collect();
        Self {
            message: format!("{n} validation {plural} detected: {}", details.join("; ")),
            reason: ValidationReason::FieldValidationFailed,
            fields,
        }
    }

    /// Ok when nothing is `bad`; else the FIELD_VALIDATION_FAILED error listing it.
    pub fn check(bad: Vec<FieldViolation>) -> Result<(), Self> {
        if bad.is_empty() {
            Ok(())
        } else {
            Err(Self::fields(bad))
        }
    }

    /// A reason without a field list.
    pub fn reason(reason: ValidationReason, message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            reason,
            fields: Vec::new(),
        }
    }

    pub fn body(&self) -> Value {
        let mut body = json!({ "message": self.message, "reason": self.reason.as_str() });
        if !self.fields.is_empty() {
            body["fieldList"] = self
                .fields
                .iter()
                .map(|f| json!({ "name": f.name, "message": f.message }))
                .collect();
        }
        body
    }
}

/// An empty body is an empty input; anything else must be the operation's JSON, else a
/// ValidationException CANNOT_PARSE [inferred wording].
pub fn parse_json<T: DeserializeOwned + Default>(body: &[u8]) -> Result<T, ValidationException> {
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| {
        ValidationException::reason(
            ValidationReason::CannotParse,
            format!("Could not parse request body: {e}"),
        )
    })
}

/// A required member: absent adds `Member must not be null`.
pub fn required<T>(bad: &mut Vec<FieldViolation>, name: &str, v: Option<T>) -> Option<T> {
    if v.is_none() {
        bad.push(FieldViolation::new(name, "null", "Member must not be null"));
    }
    v
}

/// A required string member of `min..=max` characters: `required` then `check_length`.
pub fn required_text(
    bad: &mut Vec<FieldViolation>,
    name: &str,
    v: Option<String>,
    min: usize,
    max: usize,
) -> Option<String> {
    let v = required(bad, name, v);
    if let Some(text) = &v {
        check_length(bad, name, text, min, max);
    }
    v
}

/// A string member of `min..=max` characters.
pub fn check_length(
    bad: &mut Vec<FieldViolation>,
    name: &str,
    value: &str,
    min: usize,
    max: usize,
) {
    let n = value.chars().count();
    if n < min {
        bad.push(FieldViolation::new(
            name,
            value,
            &format!("Member must have length greater than or equal to {min}"),
        ));
    } else if n > max {
        bad.push(FieldViolation::new(
            name,
            value,
            &format!("Member must have length less than or equal to {max}"),
        ));
    }
}

// ---------------------------------------------------------------------------------------
// The front end: SigV4, then IAM

/// IAM refused the action: `User: <arn> is not authorized to perform: <action> on
/// resource: <resource>` (the text of every AWS service here).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("User: {arn} is not authorized to perform: {action} on resource: {resource}")]
pub struct AccessDenied {
    pub arn: String,
    pub action: String,
    pub resource: String,
}

/// What the front end refuses before the service sees a request: the signature, a body
/// over the limit, the IAM action. Every rest-json service here answers these alike; what
/// an unreadable body is, each says itself (see [`Refusal::of`]).
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// 403 with the SigV4 error type and `{"message": …}`.
    #[error("SigV4 authentication failed")]
    Sig(#[from] SigError),
    /// 413 `RequestTooLongException` `{"message":"Request Too Long"}` (API Gateway's answer
    /// to a body over the limit) [inferred].
    #[error("request body larger than {limit} bytes")]
    RequestTooLong { limit: usize },
    /// 403 `AccessDeniedException` `{"message":"User: <arn> is not authorized to perform:
    /// <action> on resource: <resource>"}`.
    #[error("{} may not {} on {}", .0.arn, .0.action, .0.resource)]
    AccessDenied(#[from] AccessDenied),
}

impl Refusal {
    /// The front end's refusal in `e`; Err is a body that could not be read.
    pub fn of(e: VerifyFailure) -> Result<Self, axum::Error> {
        match e {
            VerifyFailure::Sig(e) => Ok(Self::Sig(e)),
            VerifyFailure::BodyTooLarge { limit } => Ok(Self::RequestTooLong { limit }),
            VerifyFailure::BodyUnreadable(e) => Err(e),
        }
    }

    pub fn response(&self) -> ErrorResponse {
        match self {
            Self::Sig(e) => ErrorResponse::message(e.status(), e.error_type(), &e.message()),
            Self::RequestTooLong { .. } => ErrorResponse::message(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestTooLongException",
                "Request Too Long",
            ),
            Self::AccessDenied(d) => ErrorResponse::message(
                StatusCode::FORBIDDEN,
                "AccessDeniedException",
                &d.to_string(),
            ),
        }
    }
}

/// What the front end of one endpoint checks a request against.
#[derive(Clone, Copy, Debug)]
pub struct FrontEnd<'a> {
    /// The SigV4 signing name, which is also the IAM action prefix: `aps`, `grafana`, `eks`.
    pub service: &'static str,
    /// The region whose SigV4 scope this endpoint accepts.
    pub region: &'a str,
    pub identities: &'a Identities,
    pub clock: &'a Clock,
    /// Allowed SigV4 clock skew.
    pub max_skew: Duration,
    /// Bodies over this are refused unread ([`VerifyFailure::BodyTooLarge`]).
    pub max_body: usize,
}

/// A rest-json service behind the SigV4 + IAM front end.
pub trait Service: Send + Sync + 'static {
    /// The service's refusals, the front end's among them.
    type Error: From<VerifyFailure> + From<Refusal> + IntoResponse + Send + 'static;

    fn front_end(&self) -> FrontEnd<'_>;
}

/// A request that passed SigV4 and IAM.
pub struct Call {
    pub parts: Parts,
    pub body: Bytes,
    pub caller: Identity,
}

impl Call {
    pub fn query(&self) -> Query {
        Query::of(&self.parts)
    }
}

/// Every operation's first steps, in AWS's order: SigV4 (the service's signing name, this
/// endpoint's region, the body limit), then the IAM `action` on `resource`.
pub async fn authorize<S: Service>(
    st: &S,
    req: Request,
    action: &str,
    resource: &str,
) -> Result<Call, S::Error> {
    let fe = st.front_end();
    let (parts, body, caller) = sigv4::read_verified(
        req,
        fe.service,
        fe.region,
        fe.identities,
        fe.clock,
        fe.max_skew,
        fe.max_body,
    )
    .await?;
    if !caller.allows(action) {
        let denied = AccessDenied {
            arn: caller.arn,
            action: action.to_string(),
            resource: resource.to_string(),
        };
        return Err(Refusal::AccessDenied(denied).into());
    }
    Ok(Call {
        parts,
        body,
        caller,
    })
}

// ---------------------------------------------------------------------------------------
// Query strings and pages

/// A request's query string, decoded.
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn of(parts: &Parts) -> Self {
        Self(
            parts
                .uri
                .query()
                .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
                .unwrap_or_default(),
        )
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name` (`tagKeys=a&tagKeys=b`).
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// `maxResults`: 1..=`max`, `default` when absent. Out of range or not an integer adds
    /// the field violation (and gives 0).
    pub fn max_results(&self, bad: &mut Vec<FieldViolation>, default: usize, max: usize) -> usize {
        let Some(raw) = self.get("maxResults") else {
            return default;
        };
        let constraint = match raw.parse::<i64>() {
            Ok(n) if n < 1 => "Member must have value greater than or equal to 1".to_string(),
            Ok(n) if n > max as i64 => {
                format!("Member must have value less than or equal to {max}")
            }
            Ok(n) => return n as usize,
            // [inferred] AWS may answer a non-number with a SerializationException.
            Err(_) => "Member must be an integer".to_string(),
        };
        bad.push(FieldViolation::new("maxResults", raw, &constraint));
        0
    }

    /// `nextToken` as `decode` reads it; a token it refuses adds the field violation.
    pub fn next_token<T>(
        &self,
        bad: &mut Vec<FieldViolation>,
        decode: impl FnOnce(&str) -> Option<T>,
    ) -> Option<T> {
        let token = self.get("nextToken")?;
        let decoded = decode(token);
        if decoded.is_none() {
            bad.push(FieldViolation::new(
                "nextToken",
                token,
                "Member must be a token from a previous response",
            ));
        }
        decoded
    }

    /// `maxResults` (1..=`max`, `max` when absent) and an offset `nextToken`, checked as a
    /// ValidationException.
    pub fn offset_page(&self, max: usize, token: OffsetToken) -> Result<Page, ValidationException> {
        let mut bad = Vec::new();
        let max = self.max_results(&mut bad, max, max);
        let offset = self.next_token(&mut bad, |t| token.decode(t)).unwrap_or(0);
        ValidationException::check(bad)?;
        Ok(Page { max, offset, token })
    }
}

/// An opaque page token: the hex of `text`.
pub fn encode_token(text: &str) -> String {
    hex::encode(text)
}

pub fn decode_token(token: &str) -> Option<String> {
    String::from_utf8(hex::decode(token).ok()?).ok()
}

/// Offset page tokens: the hex of `<prefix><offset of the next item>`.
#[derive(Clone, Copy, Debug)]
pub struct OffsetToken(pub &'static str);

impl OffsetToken {
    pub fn encode(self, offset: usize) -> String {
        encode_token(&format!("{}{offset}", self.0))
    }

    pub fn decode(self, token: &str) -> Option<usize> {
        decode_token(token)?.strip_prefix(self.0)?.parse().ok()
    }
}

/// One page of a list: at most `max` items from `offset`.
#[derive(Clone, Copy, Debug)]
pub struct Page {
    pub max: usize,
    pub offset: usize,
    pub token: OffsetToken,
}

impl Page {
    /// The page's items, and the token of the next page when items remain.
    pub fn apply<T>(&self, items: Vec<T>) -> (Vec<T>, Option<String>) {
        let total = items.len();
        let page: Vec<T> = items.into_iter().skip(self.offset).take(self.max).collect();
        let end = self.offset + page.len();
        let next = (end < total).then(|| self.token.encode(end));
        (page, next)
    }
}

/// `out` with `nextToken` added when there is one.
pub fn with_next_token(mut out: Value, next: Option<String>) -> Value {
    if let Some(t) = next {
        out["nextToken"] = json!(t);
    }
    out
}

// ---------------------------------------------------------------------------------------
// Resource ARNs

/// `arn:<partition>:<service>:<region>:<account>:<resource>` as the services check a
/// `resourceArn`: an `aws*` partition, a region, and a 12-digit account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arn<'a> {
    pub region: &'a str,
    pub account: &'a str,
    pub resource: &'a str,
}

impl<'a> Arn<'a> {
    /// None when `arn` is not a well-formed ARN of `service`.
    pub fn parse(arn: &'a str, service: &str) -> Option<Self> {
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        match parts.as_slice() {
            ["arn", partition, s, region, account, resource]
                if partition.starts_with("aws")
                    && *s == service
                    && !region.is_empty()
                    && account.len() == 12
                    && account.bytes().all(|b| b.is_ascii_digit()) =>
            {
                Some(Self {
                    region,
                    account,
                    resource,
                })
            }
            _ => None,
        }
    }

    /// `resourceArn` as the service models it: an ARN of `service` whose resource part
    /// `resource_ok` accepts; else a ValidationException quoting the model's `pattern`.
    pub fn checked(
        arn: &'a str,
        service: &str,
        resource_ok: impl FnOnce(&str) -> bool,
        pattern: &str,
    ) -> Result<Self, ValidationException> {
        Self::parse(arn, service)
            .filter(|a| resource_ok(a.resource))
            .ok_or_else(|| {
                ValidationException::fields(vec![FieldViolation::new(
                    "resourceArn",
                    arn,
                    &format!("Member must satisfy regular expression pattern: {pattern}"),
                )])
            })
    }

    /// Whether this endpoint (its region, the mock account) can see the resource.
    pub fn is_here(&self, region: &str) -> bool {
        self.region == region && self.account == MOCK_ACCOUNT
    }
}

// ---------------------------------------------------------------------------------------
// Tags

pub type Tags = BTreeMap<String, String>;

/// Tags a resource may carry.
pub const MAX_TAGS: usize = 50;

/// At most 50 tags; keys 1-128 characters, values 0-256.
pub fn check_tags(bad: &mut Vec<FieldViolation>, tags: &Tags) {
    if tags.len() > MAX_TAGS {
        bad.push(FieldViolation::new(
            "tags",
            &tags.len().to_string(),
            "Member must have length less than or equal to 50",
        ));
    }
    for (k, v) in tags {
        if !(1..=128).contains(&k.chars().count()) {
            bad.push(FieldViolation::new(
                "tags",
                k,
                "Map keys must satisfy constraint: [Member must have length less than or equal to 128, \
                 Member must have length greater than or equal to 1]",
            ));
        }
        if v.chars().count() > 256 {
            bad.push(FieldViolation::new(
                "tags",
                v,
                "Map value must satisfy constraint: [Member must have length less than or equal to 256]",
            ));
        }
    }
}

/// A service whose resources carry tags, served at `/tags/{resourceArn}` by
/// [`tag_routes`].
pub trait Tagging: Service<Error: From<ValidationException>> {
    /// Applies `f` to the tags of the resource `arn` names. An ARN the service does not
    /// accept, or one of a resource this endpoint cannot see, is the service's refusal.
    fn with_tags<R>(&self, arn: &str, f: impl FnOnce(&mut Tags) -> R) -> Result<R, Self::Error>;
}

/// TagResource (`POST`), ListTagsForResource (`GET`) and UntagResource (`DELETE`), for
/// `/tags/{resource_arn}` (the ARN arrives percent-encoded as one path segment; axum
/// decodes it). Each runs SigV4 -> IAM `<service>:<Operation>` on the ARN -> the ARN ->
/// input validation.
pub fn tag_routes<S: Tagging>() -> MethodRouter<Arc<S>> {
    post(tag_resource::<S>)
        .get(list_tags_for_resource::<S>)
        .delete(untag_resource::<S>)
}

fn tag_action<S: Service>(st: &S, operation: &str) -> String {
    format!("{}:{operation}", st.front_end().service)
}

#[derive(Deserialize, Default)]
struct TagResourceInput {
    tags: Option<Tags>,
}

/// `POST /tags/{resourceArn}` `{tags}` -> 200 `{}`. Tags merge into the existing ones.
async fn tag_resource<S: Tagging>(
    State(st): State<Arc<S>>,
    Path(arn): Path<String>,
    req: Request,
) -> Result<Response, S::Error> {
    let call = authorize(&*st, req, &tag_action(&*st, "TagResource"), &arn).await?;
    st.with_tags(&arn, |existing| {
        let input: TagResourceInput = parse_json(&call.body)?;
        let mut bad = Vec::new();
        let tags = required(&mut bad, "tags", input.tags).unwrap_or_default();
        check_tags(&mut bad, &tags);
        ValidationException::check(bad)?;
        let mut merged = existing.clone();
        merged.extend(tags);
        if merged.len() > MAX_TAGS {
            // [inferred] the 50-tag limit counts the tags the resource would end with.
            return Err(ValidationException::fields(vec![FieldViolation::new(
                "tags",
                &merged.len().to_string(),
                "Member must have length less than or equal to 50",
            )]));
        }
        *existing = merged;
        Ok(())
    })??;
    Ok(ok(json!({})))
}

/// `DELETE /tags/{resourceArn}?tagKeys=a&tagKeys=b` -> 200 `{}`.
async fn untag_resource<S: Tagging>(
    State(st): State<Arc<S>>,
    Path(arn): Path<String>,
    req: Request,
) -> Result<Response, S::Error> {
    let call = authorize(&*st, req, &tag_action(&*st, "UntagResource"), &arn).await?;
    let query = call.query();
    st.with_tags(&arn, |existing| {
        let keys = query.all("tagKeys");
        let mut bad = Vec::new();
        if keys.is_empty() {
            bad.push(FieldViolation::new(
                "tagKeys",
                "null",
                "Member must not be null",
            ));
        }
        for k in &keys {
            check_length(&mut bad, "tagKeys", k, 1, 128);
        }
        ValidationException::check(bad)?;
        for k in keys {
            existing.remove(k);
        }
        Ok::<_, ValidationException>(())
    })??;
    Ok(ok(json!({})))
}

/// `GET /tags/{resourceArn}` -> 200 `{tags}`.
async fn list_tags_for_resource<S: Tagging>(
    State(st): State<Arc<S>>,
    Path(arn): Path<String>,
    req: Request,
) -> Result<Response, S::Error> {
    authorize(&*st, req, &tag_action(&*st, "ListTagsForResource"), &arn).await?;
    let tags = st.with_tags(&arn, |tags| tags.clone())?;
    Ok(ok(json!({ "tags": tags })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_body_lists_fields_only_when_there_are_some() {
        let v = ValidationException::fields(vec![
            FieldViolation::new("a", "x", "c1"),
            FieldViolation::new("b", "y", "c2"),
        ]);
        assert_eq!(
            v.message,
            "2 validation errors detected: Value 'x' at 'a' failed to satisfy constraint: c1; \
             Value 'y' at 'b' failed to satisfy constraint: c2"
        );
        assert_eq!(v.body()["fieldList"][1]["name"], "b");
        let v = ValidationException::reason(ValidationReason::Other, "m");
        assert_eq!(v.body(), json!({ "message": "m", "reason": "OTHER" }));
    }

    #[test]
    fn offset_tokens_round_trip_and_refuse_other_prefixes() {
        let t = OffsetToken("offset:");
        assert_eq!(t.decode(&t.encode(42)), Some(42));
        assert_eq!(OffsetToken("eks-offset:").decode(&t.encode(42)), None);
        assert_eq!(t.decode("zz"), None);
        let page = Page {
            max: 2,
            offset: 1,
            token: t,
        };
        let (items, next) = page.apply(vec![1, 2, 3, 4]);
        assert_eq!(items, [2, 3]);
        assert_eq!(next.and_then(|n| t.decode(&n)), Some(3));
    }

    #[test]
    fn arns_need_partition_service_region_and_account() {
        let a = Arn::parse("arn:aws:aps:us-east-1:111122223333:workspace/ws-1", "aps").unwrap();
        assert_eq!(a.resource, "workspace/ws-1");
        assert!(a.is_here("us-east-1") && !a.is_here("eu-west-1"));
        assert!(Arn::parse("arn:aws:aps:us-east-1:111122223333:workspace/ws-1", "eks").is_none());
        assert!(Arn::parse("arn:aws:aps::111122223333:x", "aps").is_none());
        assert!(Arn::parse("arn:aws:aps:us-east-1:1:x", "aps").is_none());
        assert!(Arn::parse("not-an-arn", "aps").is_none());
    }
}

/// What the services' unit tests share: a default principal, signed requests, answers
/// taken apart.
#[cfg(test)]
pub(crate) mod testing {
    use std::time::SystemTime;

    use axum::Router;
    use axum::body::Body;
    use axum::http::HeaderMap;
    use tower::ServiceExt;

    use super::*;

    pub const REGION: &str = "us-east-1";

    /// Identities holding the default user (allowed everything), that user, and a clock.
    pub fn principal() -> (Arc<Identities>, Identity, Arc<Clock>) {
        let (ids, user) = Identities::with_default_user();
        (Arc::new(ids), user, Arc::new(Clock::default()))
    }

    /// `method http://<service>.local<path>` with `body`, SigV4-signed by `user` for
    /// `service` in [`REGION`], now.
    pub fn signed(
        user: &Identity,
        service: &str,
        method: &str,
        path: &str,
        body: &str,
    ) -> http::Request<Body> {
        let mut req = http::Request::builder()
            .method(method)
            .uri(format!("http://{service}.local{path}"))
            .body(body.as_bytes().to_vec())
            .unwrap();
        sigv4::sign_as_client(&mut req, user, REGION, service, SystemTime::now()).unwrap();
        req.map(Body::from)
    }

    /// An answer taken apart.
    pub struct Answer {
        pub status: StatusCode,
        pub headers: HeaderMap,
        pub body: Bytes,
    }

    impl Answer {
        pub async fn of(resp: Response) -> Self {
            let (parts, body) = resp.into_parts();
            let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
            Self {
                status: parts.status,
                headers: parts.headers,
                body,
            }
        }

        /// `req` through `app`.
        pub async fn send(app: Router, req: http::Request<Body>) -> Self {
            Self::of(app.oneshot(req).await.unwrap()).await
        }

        pub fn header(&self, name: &str) -> Option<String> {
            let v = self.headers.get(name)?;
            Some(v.to_str().unwrap().to_string())
        }

        /// The body as JSON; Null when it is empty or not JSON.
        pub fn json(&self) -> Value {
            serde_json::from_slice(&self.body).unwrap_or(Value::Null)
        }

        pub fn text(&self) -> String {
            String::from_utf8(self.body.to_vec()).unwrap()
        }
    }
}
