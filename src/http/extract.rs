//! Extractors whose refusals come in the API's error shape: a JSON body that names the
//! wrong field, and path and query parts that say what could not be read.

use rateline_domain::ErrorCode;
use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use rateline_domain::{Invalid, LineId, PersonId, SessionId};

use super::error::ApiError;
use crate::engine::{line_not_found, person_not_found, session_not_found};

/// Like `axum::Json`, but a malformed body is a 400 that names the field and the problem.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    ErrorCode::BodyTooLarge,
                    "the request body is larger than server.body_limit_bytes allows",
                )
            } else {
                ApiError::new(
                    ErrorCode::UnreadableBody,
                    format!("the request body could not be read: {e}"),
                )
            }
        })?;
        parse(&bytes).map(ApiJson)
    }
}

/// One path segment, e.g. the `{id}` of `/v1/sessions/{id}`, composed as every id Rateline
/// keeps is (see [`rateline_domain::normalize_id`]) and read as `T`: the text as it is
/// (`String`), or the id of a thing that exists ([`SessionId`], [`LineId`], [`PersonId`]).
pub struct ApiPath<T = String>(pub T);

/// What a path segment is read as.
pub trait PathSegment: Sized {
    /// `segment`, composed, as this; or the answer for a path that names nothing.
    fn read(segment: String) -> Result<Self, ApiError>;
}

impl PathSegment for String {
    fn read(segment: String) -> Result<Self, ApiError> {
        Ok(segment)
    }
}

/// A typed id in a path names a thing that exists. One that is not well formed names
/// nothing, so it gets the very 404 an unknown one gets: a lookup never says more about an
/// id than whether it is there. (A `PUT` that makes the thing reads its path as text and
/// checks the id as a field, so that the 422 says what is wrong with it.)
macro_rules! existing_id {
    ($($id:ident as $field:literal, else $missing:path;)*) => {$(
        impl PathSegment for $id {
            fn read(segment: String) -> Result<Self, ApiError> {
                $id::parse($field, &segment).map_err(|_| $missing(&segment).into())
            }
        }
    )*};
}

existing_id! {
    SessionId as "session_id", else session_not_found;
    LineId as "line_id", else line_not_found;
    PersonId as "person_id", else person_not_found;
}

impl<S: Send + Sync, T: PathSegment> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(segment) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| {
                ApiError::new(
                    ErrorCode::InvalidPath,
                    format!("the path cannot be read: {e}"),
                )
            })?;
        T::read(rateline_domain::normalize_id(&segment)).map(ApiPath)
    }
}

/// The address of the client that made the request (see [`super::limits::client_ip`]); `None`
/// where the server runs without one (never in `rateline serve`).
pub struct ClientIp(pub Option<std::net::IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(super::limits::client_ip_of(&parts.extensions)))
    }
}

/// The query string as name → value.
pub struct ApiQuery(pub HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for ApiQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map(|Query(q)| ApiQuery(q))
            .map_err(|e| {
                ApiError::new(
                    ErrorCode::InvalidParameter,
                    format!("the query string cannot be read: {e}"),
                )
            })
    }
}

impl ApiQuery {
    /// Refuses a parameter not in `known` (a comma-separated list): a misspelt filter
    /// would otherwise be ignored and the answer silently cover everything.
    pub fn only(&self, known: &str) -> Result<(), ApiError> {
        match self.0.keys().find(|k| !known.split(", ").any(|p| p == *k)) {
            Some(unknown) => Err(ApiError::new(
                ErrorCode::UnknownParameter,
                format!("unknown query parameter '{unknown}': use {known}"),
            )),
            None => Ok(()),
        }
    }
}

/// Parses a JSON body, naming the path of the offending field.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    // An id that breaks the rules is refused while the body is read; it is answered like a
    // value refused after reading (422), not like a wrong shape (400).
    let (value, refused) =
        rateline_domain::refusal_of(|| serde_path_to_error::deserialize(&mut de));
    let value = value.map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if let Some(refused) = refused {
            ApiError::from(Invalid::new(path, refused.message))
        } else if inner.is_syntax() || inner.is_eof() {
            ApiError::new(
                ErrorCode::MalformedJson,
                format!("the body is not valid JSON: {inner}"),
            )
        } else {
            let message = if path == "." {
                format!("the body does not have the expected shape: {inner}")
            } else {
                format!("{path}: {inner}")
            };
            ApiError::wrong_shape(message, (path != ".").then_some(path))
        }
    })?;
    // Text after the value would otherwise be ignored, and a body spliced from two
    // accepted as its first half.
    de.end().map_err(|e| {
        ApiError::new(
            ErrorCode::MalformedJson,
            format!("the body is not valid JSON: {e}"),
        )
    })?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Body {
        client: Client,
    }
    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Client {
        id: String,
    }

    #[test]
    fn a_wrong_type_names_the_nested_field() {
        let err = parse::<Body>(br#"{"client": {"id": 7}}"#).unwrap_err();
        assert_eq!(
            (err.status, err.code),
            (StatusCode::BAD_REQUEST, ErrorCode::InvalidField)
        );
        assert_eq!(err.field.as_deref(), Some("client.id"));
    }

    #[test]
    fn text_after_the_body_is_malformed_json() {
        let err = parse::<Client>(br#"{"id": "c"} {"id": "d"}"#).unwrap_err();
        assert_eq!(err.code, ErrorCode::MalformedJson);
        assert!(
            err.message.contains("trailing characters"),
            "{}",
            err.message
        );
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Named {
        client: NamedClient,
    }
    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct NamedClient {
        id: rateline_domain::Id,
    }

    #[test]
    fn a_refused_id_is_a_422_naming_the_field_and_the_character() {
        let err = parse::<Named>("{\"client\": {\"id\": \"c\u{200B}1\"}}".as_bytes()).unwrap_err();
        assert_eq!(
            (err.status, err.code),
            (StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::InvalidField)
        );
        assert_eq!(err.field.as_deref(), Some("client.id"));
        assert!(err.message.contains("U+200B"), "{}", err.message);
        // The same body with a number where the id belongs is the wrong shape.
        let err = parse::<Named>(br#"{"client": {"id": 7}}"#).unwrap_err();
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
        // A good id reads, composed.
        let named = parse::<Named>("{\"client\": {\"id\": \"jose\u{301}\"}}".as_bytes()).unwrap();
        assert_eq!(named.client.id.as_str(), "jos\u{e9}");
    }

    #[test]
    fn broken_json_is_malformed_json() {
        let err = parse::<Body>(br#"{"client": "#).unwrap_err();
        assert_eq!(err.code, ErrorCode::MalformedJson);
    }
}
