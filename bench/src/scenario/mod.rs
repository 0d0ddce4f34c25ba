//! What runs: scenarios composed from parts rather than written as one loop each.
//!
//! A scenario ([`catalog::Definition`]) builds a [`plan::Plan`] from:
//! * who connects — [`population`]: how many clients, ramp, hold / churn / reconnect, frozen clients;
//! * how events arrive — [`feed`]: a generated `/sse` stream per connection, the hub `/events`
//!   at a fixed rate, or a burst of `POST /publish`;
//! * when to stop — [`plan::Stop`]: a duration, or a number of events per client;
//! * what happens mid-run — [`plan::Action`]: SIGTERM to the embedded server;
//! * what counts as failure — [`checks`], judged on the run's [`outcome`].
//!
//! How a plan is executed lives one stage up, in [`crate::runner`].

pub mod catalog;
pub mod checks;
pub mod feed;
pub mod outcome;
pub mod plan;
pub mod population;

pub use catalog::{ALL, Definition, find};
pub use plan::Plan;
