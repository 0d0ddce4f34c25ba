//! One request-driven stream: send the request, read events until the end sentinel or the close, and time it.
//!
//! # Hot path
//! The closure run per received event only compares the data with the sentinel, bumps
//! a counter and records the gap since the previous event into the request's own
//! histogram (created once per request): no allocation, no lock. The request's figures
//! go into the shared [`Tally`] once, when it is over.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use http::Method;

use crate::client::{ConnectOptions, Item, SseConnection, Target};
use crate::measure::histogram::{self, new_histogram};

/// The service-level objective a request must meet to count for goodput.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Slo {
    /// Longest time to the first event.
    pub ttft: Duration,
    /// Longest mean time per output event after the first.
    pub tpot: Duration,
}

/// What one request is.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// Where it goes (with its headers).
    pub target: &'a Target,
    /// Its method.
    pub method: Method,
    /// Its body.
    pub body: Bytes,
    /// Data that ends the stream (`[DONE]`); the close ends it too.
    pub end: Option<&'a str>,
    /// Limit for the whole request.
    pub timeout: Duration,
}

/// Figures of every finished request, merged.
#[derive(Debug)]
pub struct Tally {
    /// Time to the first event (from the start of the request, TCP connect included).
    pub ttft: Histogram<u64>,
    /// Gaps between consecutive events of a request.
    pub itl: Histogram<u64>,
    /// Per request: (last event − first event) / (events − 1).
    pub tpot: Histogram<u64>,
    /// Per request: start → end of the stream.
    pub e2el: Histogram<u64>,
    /// Requests that ended cleanly with at least one event.
    pub completed: u64,
    /// Requests that failed, by error kind.
    pub errors: BTreeMap<String, u64>,
    /// Events received (the sentinel not counted).
    pub events: u64,
    /// Completed requests that met the SLO.
    pub good: u64,
}

impl Default for Tally {
    fn default() -> Self {
        Self {
            ttft: new_histogram(),
            itl: new_histogram(),
            tpot: new_histogram(),
            e2el: new_histogram(),
            completed: 0,
            errors: BTreeMap::new(),
            events: 0,
            good: 0,
        }
    }
}

impl Tally {
    /// Requests that failed.
    pub fn failed(&self) -> u64 {
        self.errors.values().sum()
    }
}

/// State of one stream being read.
struct Reading {
    first: Option<Instant>,
    last: Option<Instant>,
    events: u64,
    ended: bool,
}

/// Runs `request` and adds its figures to `tally`.
pub async fn run(request: Request<'_>, slo: Slo, tally: &Mutex<Tally>) {
    let started = Instant::now();
    let mut gaps = new_histogram();
    let outcome = tokio::time::timeout(request.timeout, read(&request, &mut gaps)).await;
    let mut tally = tally.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let reading = match outcome {
        Ok(Ok(reading)) if reading.events > 0 => reading,
        Ok(Ok(_)) => return count_error(&mut tally, "no_events"),
        Ok(Err(kind)) => return count_error(&mut tally, kind),
        Err(_) => return count_error(&mut tally, "request_timeout"),
    };
    let end = Instant::now();
    let (Some(first), Some(last)) = (reading.first, reading.last) else {
        return count_error(&mut tally, "no_events");
    };
    let ttft = first - started;
    histogram::record(&mut tally.ttft, ttft);
    histogram::record(&mut tally.e2el, end - started);
    histogram::merge(&mut tally.itl, &gaps);
    let tpot =
        (reading.events > 1).then(|| (last - first) / u32::try_from(reading.events - 1).unwrap_or(u32::MAX));
    if let Some(tpot) = tpot {
        histogram::record(&mut tally.tpot, tpot);
    }
    tally.completed += 1;
    tally.events += reading.events;
    if ttft <= slo.ttft && tpot.is_none_or(|t| t <= slo.tpot) {
        tally.good += 1;
    }
}

fn count_error(tally: &mut Tally, kind: &str) {
    *tally.errors.entry(kind.to_owned()).or_default() += 1;
}

/// Sends the request and reads until the sentinel or a clean end.
async fn read(request: &Request<'_>, gaps: &mut Histogram<u64>) -> Result<Reading, &'static str> {
    let options = ConnectOptions {
        timeout: request.timeout,
        ..ConnectOptions::default()
    };
    let mut conn = SseConnection::open_request(
        request.target,
        &options,
        request.method.clone(),
        request.body.clone(),
    )
    .await
    .map_err(|e| e.kind().name())?;
    let mut reading = Reading {
        first: None,
        last: None,
        events: 0,
        ended: false,
    };
    let end = request.end.map(str::as_bytes);
    loop {
        let mut on_item = |item: Item<'_>, at: Instant| {
            let Item::Event(event) = item else { return };
            if reading.ended {
                return;
            }
            if end.is_some_and(|end| event.data == end) {
                reading.ended = true;
                return;
            }
            if let Some(last) = reading.last {
                histogram::record(gaps, at - last);
            }
            reading.first.get_or_insert(at);
            reading.last = Some(at);
            reading.events += 1;
        };
        match conn.read(&mut on_item).await {
            Ok(true) if reading.ended => return Ok(reading),
            Ok(true) => {}
            Ok(false) => return Ok(reading),
            Err(err) => return Err(err.kind().name()),
        }
    }
}
