//! The lake's format, below both the read path and the writers: where files live
//! ([`paths`]), the catalog files' entries ([`catalog_files`]), the event schema
//! ([`schema`]), one event as a row ([`event`]) and the day manifests ([`manifest`]).

pub mod catalog_files;
pub mod event;
pub mod manifest;
pub mod paths;
pub mod schema;
