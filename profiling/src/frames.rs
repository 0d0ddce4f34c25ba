//! The hottest functions of a pprof report by self time, with names shortened for reading.
//!
//! A sample's self time goes to the function of its innermost frame as the binary has it
//! (functions inlined into it are folded in, as perf does), skipping the sampler's own
//! frames (the unwinder that runs inside pprof's signal handler).

use std::collections::HashMap;

use sse_bench::source_path::short_path;

use crate::summary::{TopFrame, per};

/// The hottest functions by self time (the function of each sample's innermost frame), and the
/// total number of samples.
pub fn top_frames(report: &pprof::Report, limit: usize) -> (Vec<TopFrame>, u64) {
    let mut by_function: HashMap<String, u64> = HashMap::new();
    let mut total = 0;
    for (frames, &count) in &report.data {
        let count = count.max(0) as u64;
        total += count;
        // The innermost frame's function as the binary has it (its last symbol: the
        // first ones are functions inlined into it), as perf reports self time; frames
        // of the sampler itself (the unwinder inside the signal handler) are skipped.
        let leaf = frames
            .frames
            .iter()
            .filter_map(|symbols| symbols.last())
            .find(|symbol| !is_sampler_frame(&symbol.name()))
            .map_or_else(
                || "[unknown]".to_owned(),
                |symbol| {
                    let name = symbol.name();
                    let file = symbol.filename();
                    match short_path(&file) {
                        "" => without_generics(strip_hash(&name)),
                        path => format!("{} ({path})", without_generics(strip_hash(&name))),
                    }
                },
            );
        *by_function.entry(leaf).or_default() += count;
    }
    let mut top: Vec<TopFrame> = by_function
        .into_iter()
        .map(|(function, samples)| TopFrame {
            share: per(samples as f64, total),
            function,
            samples,
        })
        .collect();
    top.sort_by(|a, b| {
        b.samples
            .cmp(&a.samples)
            .then_with(|| a.function.cmp(&b.function))
    });
    top.truncate(limit);
    (top, total)
}

/// Whether a function belongs to the sampler (pprof's signal handler and its unwinder).
fn is_sampler_frame(name: &str) -> bool {
    ["backtrace::", "pprof::", "perf_signal_handler", "__restore_rt"]
        .iter()
        .any(|prefix| name.starts_with(prefix))
}

/// Drops generic argument lists (`poll<hyper::Foo<u8>>` → `poll`) but keeps qualified
/// paths (`<MapErr<B, F> as Body>::poll_frame` → `<MapErr as Body>::poll_frame`).
fn without_generics(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut depth = 0usize;
    // The last character outside generics, and the last character seen at all.
    let (mut prev, mut last) = (' ', ' ');
    for c in name.chars() {
        match c {
            '<' if depth > 0 || prev.is_alphanumeric() || prev == '_' || prev == '}' => depth += 1,
            // `->` inside `fn(A) -> B` is not a closing bracket.
            '>' if depth > 0 && last != '-' => depth -= 1,
            _ if depth > 0 => {}
            _ => out.push(c),
        }
        if depth == 0 && c != '>' {
            prev = c;
        }
        last = c;
    }
    out
}

/// `path::to::function::h0123456789abcdef` → `path::to::function`.
fn strip_hash(name: &str) -> &str {
    match name.rsplit_once("::h") {
        Some((head, hash)) if hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => head,
        _ => name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampler_frames_are_recognised() {
        assert!(is_sampler_frame("backtrace::backtrace::trace_unsynchronized"));
        assert!(is_sampler_frame("pprof::profiler::perf_signal_handler"));
        assert!(!is_sampler_frame("hyper::proto::h1::io::Buffered::poll_flush"));
    }

    #[test]
    fn hashes_are_stripped_from_symbols() {
        assert_eq!(
            strip_hash("hyper::proto::h1::dispatch::poll::h0123456789abcdef"),
            "hyper::proto::h1::dispatch::poll"
        );
        assert_eq!(strip_hash("tokio::runtime::h2"), "tokio::runtime::h2");
        assert_eq!(strip_hash("write"), "write");
    }

    #[test]
    fn names_are_shortened_for_reading() {
        assert_eq!(without_generics("fold<hyper::X<u8>, usize>"), "fold");
        assert_eq!(
            without_generics("<http_body_util::MapErr<B,F> as http_body::Body>::poll_frame"),
            "<http_body_util::MapErr as http_body::Body>::poll_frame"
        );
        assert_eq!(without_generics("core::fmt::write"), "core::fmt::write");
        assert_eq!(
            without_generics("poll_frame<S, fn(axum::Error) -> axum::Error, axum::Error>"),
            "poll_frame"
        );
    }
}
