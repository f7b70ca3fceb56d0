//! One gzip member (RFC 1952) per `/metrics` response, built from a part compressed per scrape
//! and a part compressed once per publish.
//!
//! The usage exposition is compressed once per publish as raw deflate ending in a final block
//! ([`Deflated`]). Each gzip scrape writes the member header, the self-metrics (a few KB) as
//! stored deflate blocks (byte-aligned, not final), the published deflate as it is, and the
//! trailer: the CRC-32 of both
//! texts, combined (`crc32_combine`), and their length. Deflate allows blocks of independent
//! compressors to follow each other this way (pigz joins its parallel parts the same way), so
//! the response is one ordinary member. Two members back to back would also be valid gzip,
//! but curl and several other clients read only the first one.

use bytes::Bytes;
use flate2::{Compress, Compression, Crc, FlushCompress, Status};

/// The usage exposition: compressed once per publish, read by every scrape, so it is worth a
/// better ratio than the per-scrape part.
pub const PUBLISH_LEVEL: u32 = 6;

/// Member header: magic, deflate, no flags, no mtime, no extra flags, OS unknown.
const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// A text compressed as raw deflate ending in a final block, with its CRC-32 and length: the
/// tail of every gzip response until the next publish.
#[derive(Debug)]
pub struct Deflated {
    pub raw: Bytes,
    crc: Crc,
}

impl Deflated {
    pub fn new(text: &[u8], level: u32, capacity: usize) -> Deflated {
        let mut raw = Vec::with_capacity(capacity);
        let mut deflate = Compress::new(Compression::new(level), false);
        compress(&mut deflate, text, FlushCompress::Finish, &mut raw);
        let mut crc = Crc::new();
        crc.update(text);
        Deflated {
            raw: Bytes::from(raw),
            crc,
        }
    }

    /// The text back (for plain scrapes).
    pub fn inflate(&self) -> std::io::Result<Vec<u8>> {
        use std::io::Read;
        let mut text = Vec::with_capacity(self.crc.amount() as usize);
        flate2::read::DeflateDecoder::new(&self.raw[..]).read_to_end(&mut text)?;
        Ok(text)
    }
}

/// The longest stored deflate block (RFC 1951 section 3.2.4: LEN is 16 bits).
const STORED_MAX: usize = 65_535;

/// The gzip response for `head` followed by `tail`: the header and `head` as stored deflate
/// blocks (its first chunk), then `tail.raw` (shared, not copied), then the trailer.
///
/// `head` (the self-metrics, ~8 KB) is stored, not compressed. Compressing it saved ~6 KB per
/// scrape, but took a ~320 KB compressor on every worker thread and a burst of allocations per
/// scrape that fragmented the heap under load (at 10k series, idle 17.0 → 16.1 MiB and
/// 19.2 → 18.3 MiB after 30 s at 64 connections once stored). Stored blocks end on a byte
/// boundary and are not final, so `tail` continues the stream.
pub fn member_around(head: &[u8], tail: &Deflated) -> [Bytes; 3] {
    let blocks = head.len().div_ceil(STORED_MAX);
    let mut first = Vec::with_capacity(HEADER.len() + head.len() + 5 * blocks);
    first.extend_from_slice(&HEADER);
    for chunk in head.chunks(STORED_MAX) {
        // BFINAL 0, BTYPE 00 (stored), the rest of the byte padding; then LEN and its
        // one's complement NLEN, little-endian; then the bytes as they are.
        first.push(0);
        let len = chunk.len() as u16;
        first.extend_from_slice(&len.to_le_bytes());
        first.extend_from_slice(&(!len).to_le_bytes());
        first.extend_from_slice(chunk);
    }
    let mut crc = Crc::new();
    crc.update(head);
    crc.combine(&tail.crc);
    let mut trailer = Vec::with_capacity(8);
    trailer.extend_from_slice(&crc.sum().to_le_bytes());
    trailer.extend_from_slice(&crc.amount().to_le_bytes());
    [Bytes::from(first), tail.raw.clone(), Bytes::from(trailer)]
}

/// Appends the raw deflate of `input` to `out`, flushed with `flush`.
fn compress(deflate: &mut Compress, input: &[u8], flush: FlushCompress, out: &mut Vec<u8>) {
    // Text compresses well; start at a quarter and grow as needed.
    out.reserve(input.len() / 4 + 64);
    let start_in = deflate.total_in();
    loop {
        let consumed = (deflate.total_in() - start_in) as usize;
        let before = out.len();
        match deflate.compress_vec(&input[consumed..], out, flush) {
            Ok(Status::StreamEnd) => break,
            // A flush is complete once all input is taken and the output was not full.
            Ok(_)
                if !matches!(flush, FlushCompress::Finish)
                    && (deflate.total_in() - start_in) as usize == input.len()
                    && out.len() < out.capacity() =>
            {
                break
            }
            Ok(_) => {
                if out.len() == before && out.len() < out.capacity() {
                    // No progress with room left cannot happen for in-memory input; stop
                    // rather than spin.
                    tracing::error!("gzip compression made no progress");
                    break;
                }
                out.reserve(out.capacity().max(4096));
            }
            // Raw deflate over a complete in-memory input cannot fail.
            Err(e) => {
                tracing::error!(error = %e, "gzip compression failed");
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn joined(parts: &[Bytes]) -> Vec<u8> {
        parts.iter().flat_map(|b| b.iter().copied()).collect()
    }

    /// The self-metrics and the usage go out as one gzip member: a single-member reader
    /// (curl --compressed) stops after the first member and would miss the usage.
    #[test]
    fn the_response_is_one_member_a_single_member_reader_reads_whole() {
        let big: String = (0..20_000)
            .map(|i| format!("llm_tokens_total{{model=\"m{i}\"}} {i}\n"))
            .collect();
        let usage = Deflated::new(big.as_bytes(), PUBLISH_LEVEL, 0);
        // The longest head spans several stored blocks.
        let long = big.repeat(4);
        for head in ["first\n".to_string(), String::new(), long] {
            let gz = joined(&member_around(head.as_bytes(), &usage));
            let mut text = String::new();
            // GzDecoder reads one member and checks its CRC and length.
            flate2::read::GzDecoder::new(&gz[..])
                .read_to_string(&mut text)
                .unwrap();
            assert_eq!(text, format!("{head}{big}"));
        }
        assert!(usage.raw.len() < big.len() / 4, "{}", usage.raw.len());
        assert_eq!(usage.inflate().unwrap(), big.as_bytes());
    }

    #[test]
    fn an_empty_usage_part_is_still_a_valid_member() {
        let empty = Deflated::new(b"", PUBLISH_LEVEL, 0);
        let gz = joined(&member_around(b"up 1\n", &empty));
        let mut text = String::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "up 1\n");
    }
}
