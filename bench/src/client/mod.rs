//! The SSE client of the load generator: a WHATWG streaming parser and HTTP/1 connections on hyper.
//!
//! * [`parser`]: bytes in arbitrary chunks → [`Item`]s (events, comments, retry), no
//!   allocation per event.

pub mod parser;

pub use parser::{Event, Item, Parser, event_number};
