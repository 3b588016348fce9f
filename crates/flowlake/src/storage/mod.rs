//! Object storage under the read path and the writers: lake locations ([`location`]),
//! local and S3 object stores with their settings ([`store`]) and credentials
//! ([`credentials`]), request counting ([`counting`]), and the version pinning that lets a
//! query notice a file that changed under it ([`versions`]).

pub mod counting;
pub mod credentials;
pub mod listing;
pub mod location;
pub mod store;
pub mod versions;

pub use counting::{RequestCounts, RequestTotals};
pub use location::LakeLocation;
pub use store::{S3Credentials, S3Options};
