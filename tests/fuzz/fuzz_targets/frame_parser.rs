//! Fuzz the `-vv` frame-header parser: any bytes, split anywhere, must never panic,
//! and splitting must not change what is parsed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsprobe::frame::FrameParser;

fuzz_target!(|data: &[u8]| {
    let (split_at, bytes) = match data.split_first() {
        Some((&first, rest)) => (first as usize, rest),
        None => return,
    };
    let mut whole = Vec::new();
    FrameParser::frames_only().feed(bytes, &mut whole);
    let mut pieces = Vec::new();
    let mut parser = FrameParser::frames_only();
    for chunk in bytes.chunks(split_at.max(1)) {
        parser.feed(chunk, &mut pieces);
    }
    assert_eq!(whole, pieces);
    let mut after_http = Vec::new();
    FrameParser::after_http().feed(bytes, &mut after_http);
});
