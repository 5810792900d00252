//! The pure parsers of wsprobe, also built as a library so that the fuzz targets
//! in `tests/fuzz/` can drive them; the program itself is `src/main.rs`.

#![forbid(unsafe_code)]

pub mod frame;
pub mod slash;
