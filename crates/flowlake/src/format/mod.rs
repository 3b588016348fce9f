//! The lake's format, below both the read path and the writers: where files live
//! ([`paths`]), the event schema ([`schema`]), one event as a row ([`event`]) and the day
//! manifests ([`manifest`]).

pub mod event;
pub mod manifest;
pub mod paths;
pub mod schema;
