//! gzip members (RFC 1952) written with a reusable raw-deflate compressor.
//!
//! A `/metrics` response with `Content-Encoding: gzip` is two members back to back: the
//! self-metrics, compressed per scrape (a few KB), then the usage exposition compressed once
//! per publish. Concatenated members are one valid gzip stream (RFC 1952 section 2.2); Go's
//! `compress/gzip` reader, which Prometheus uses, reads them as one body (multistream is its
//! default), and so do curl and Python.

use std::cell::RefCell;

use flate2::{Compress, Compression, Crc, FlushCompress, Status};

/// The usage exposition: compressed once per publish, read by every scrape, so it is worth a
/// better ratio than the per-scrape part.
pub const PUBLISH_LEVEL: u32 = 6;
/// The self-metrics: compressed on every gzip scrape, so speed first.
pub const SCRAPE_LEVEL: u32 = 1;

/// Member header: magic, deflate, no flags, no mtime, no extra flags, OS unknown.
const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// Appends `input` to `out` as one gzip member.
pub fn member(input: &[u8], level: u32, out: &mut Vec<u8>) {
    let mut deflate = Compress::new(Compression::new(level), false);
    member_with(&mut deflate, input, out);
}

/// Appends `input` to `out` as one gzip member, with this thread's fast compressor (its
/// ~300 KB of tables are allocated once per thread, not per scrape).
pub fn small_member(input: &[u8], out: &mut Vec<u8>) {
    thread_local! {
        static DEFLATE: RefCell<Compress> =
            RefCell::new(Compress::new(Compression::new(SCRAPE_LEVEL), false));
    }
    DEFLATE.with(|d| {
        let mut d = d.borrow_mut();
        d.reset();
        member_with(&mut d, input, out);
    });
}

fn member_with(deflate: &mut Compress, input: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&HEADER);
    // Text compresses well; start at a quarter and grow as needed.
    out.reserve(input.len() / 4 + 64);
    let start_in = deflate.total_in();
    loop {
        let consumed = (deflate.total_in() - start_in) as usize;
        match deflate.compress_vec(&input[consumed..], out, FlushCompress::Finish) {
            Ok(Status::StreamEnd) => break,
            Ok(_) => out.reserve(out.capacity().max(4096)),
            // Raw deflate over a complete in-memory input cannot fail; an empty member would
            // still be valid gzip for what was written so far.
            Err(e) => {
                tracing::error!(error = %e, "gzip compression failed");
                break;
            }
        }
    }
    let mut crc = Crc::new();
    crc.update(input);
    out.extend_from_slice(&crc.sum().to_le_bytes());
    out.extend_from_slice(&(input.len() as u32).to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn concatenated_members_read_back_as_one_stream() {
        let big: String = (0..20_000)
            .map(|i| format!("llm_tokens_total{{model=\"m{i}\"}} {i}\n"))
            .collect();
        let mut gz = Vec::new();
        small_member(b"first\n", &mut gz);
        member(big.as_bytes(), PUBLISH_LEVEL, &mut gz);
        small_member(b"", &mut gz);
        assert!(gz.len() < big.len() / 4, "compressed: {}", gz.len());
        let mut text = String::new();
        flate2::read::MultiGzDecoder::new(&gz[..])
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, format!("first\n{big}"));
    }
}
