//! The error codes of the HTTP layer's refusals, beside those of SPEC §5 (the OpenAPI
//! document lists them with their statuses).

pub const OVERLOADED: &str = "overloaded";
pub const TIMEOUT: &str = "timeout";
pub const NOT_ACCEPTABLE: &str = "not_acceptable";
pub const UNSUPPORTED_MEDIA_TYPE: &str = "unsupported_media_type";
pub const PAYLOAD_TOO_LARGE: &str = "payload_too_large";
pub const METHOD_NOT_ALLOWED: &str = "method_not_allowed";
/// hyper refused the request head: too many or too large header fields (431).
pub const REQUEST_HEADER_FIELDS_TOO_LARGE: &str = "request_header_fields_too_large";
/// hyper refused the request head: the URI is too long (414).
pub const URI_TOO_LONG: &str = "uri_too_long";
