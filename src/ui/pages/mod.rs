//! The pages, as maud templates: every value is escaped by maud (`(expr)` is HTML-escaped in
//! text and attributes; there is no `PreEscaped` of anything from Redis). No inline script or
//! style: the CSP forbids both.

pub mod cron;
pub mod job;
pub mod jobs;
pub mod layout;
pub mod login;
pub mod overview;

pub use layout::Chrome;
