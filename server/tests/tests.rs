//! Integration tests of the reference server: real HTTP over loopback, servers on port 0, bounded waits.

mod util;

mod eviction;
mod fanout;
mod http2;
mod lean;
mod lifecycle;
mod limits;
mod params;
mod replay;
mod slow_clients;
mod timeouts;
