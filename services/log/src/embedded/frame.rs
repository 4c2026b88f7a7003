//! The on-disk record frame: how one record is laid out in a segment file.
//!
//! ```text
//! len u32 | crc32 u32 | offset u64 | timestamp_ms i64 | key_len u32 | key | value
//! ```
//!
//! All integers are little-endian. `len` counts every byte after itself, so
//! a reader can skip a frame after reading four bytes; `crc32` covers every
//! byte after itself, so a torn or bit-flipped frame is detected. The offset
//! is stored (not only implied by position) so that recovery can tell a
//! stale frame from a current one.

use std::ops::Range;

/// Bytes before the key: len, crc, offset, timestamp, key length.
pub(crate) const HEADER_LEN: usize = 4 + 4 + 8 + 8 + 4;
/// Smallest legal value of the `len` field (a record with empty key and value).
const MIN_LEN_FIELD: usize = HEADER_LEN - 4;
/// Upper bound on a frame, so a garbage length field is rejected at once
/// instead of making a reader allocate gigabytes.
pub(crate) const MAX_FRAME_LEN: usize = 1 << 30;

/// Size of the frame that stores a record with these key and value lengths.
pub(crate) fn frame_len(key_len: usize, value_len: usize) -> usize {
    HEADER_LEN + key_len + value_len
}

/// Appends one frame to `buf`.
pub(crate) fn encode(buf: &mut Vec<u8>, offset: u64, timestamp_ms: i64, key: &[u8], value: &[u8]) {
    let total = frame_len(key.len(), value.len());
    buf.reserve(total);
    let start = buf.len();
    // Frame sizes are capped by `max_record_bytes` (< 4 GiB) before we get here.
    buf.extend_from_slice(&((total - 4) as u32).to_le_bytes());
    buf.extend_from_slice(&[0; 4]); // crc, filled in below
    buf.extend_from_slice(&offset.to_le_bytes());
    buf.extend_from_slice(&timestamp_ms.to_le_bytes());
    buf.extend_from_slice(&(key.len() as u32).to_le_bytes());
    buf.extend_from_slice(key);
    buf.extend_from_slice(value);
    let crc = crc32fast::hash(&buf[start + 8..]);
    buf[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// One decoded frame; key and value are ranges into the parsed buffer so the
/// caller can slice a shared `Bytes` without copying.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FrameView {
    pub offset: u64,
    pub timestamp_ms: i64,
    pub key: Range<usize>,
    pub value: Range<usize>,
    /// Bytes the whole frame occupies, length field included.
    pub frame_len: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Parsed {
    Frame(FrameView),
    /// The buffer ends inside the frame. `frame_len` is known once the
    /// length field itself is complete, so a reader can fetch the rest.
    Incomplete {
        frame_len: Option<usize>,
    },
    /// The bytes are not a valid frame (bad length, key length or checksum).
    Invalid(&'static str),
}

/// Parses the frame at the start of `buf`, checking its CRC.
pub(crate) fn parse(buf: &[u8]) -> Parsed {
    let total = match frame_len_at(buf) {
        Ok(total) => total,
        Err(parsed) => return parsed,
    };
    if buf.len() < total {
        return Parsed::Incomplete {
            frame_len: Some(total),
        };
    }
    let stored_crc = u32_at(buf, 4);
    if crc32fast::hash(&buf[8..total]) != stored_crc {
        return Parsed::Invalid("checksum mismatch");
    }
    let key_len = u32_at(buf, 24) as usize;
    if HEADER_LEN + key_len > total {
        return Parsed::Invalid("key length past the end of the frame");
    }
    Parsed::Frame(FrameView {
        offset: u64_at(buf, 8),
        timestamp_ms: u64_at(buf, 16) as i64,
        key: HEADER_LEN..HEADER_LEN + key_len,
        value: HEADER_LEN + key_len..total,
        frame_len: total,
    })
}

/// Reads only the length and offset of the frame at the start of `buf`
/// (which must hold at least [`HEADER_LEN`] bytes), without the checksum:
/// used to index trusted segments without reading their payloads.
pub(crate) fn parse_header(buf: &[u8]) -> Result<(usize, u64), Parsed> {
    let total = frame_len_at(buf)?;
    if buf.len() < HEADER_LEN {
        return Err(Parsed::Incomplete {
            frame_len: Some(total),
        });
    }
    Ok((total, u64_at(buf, 8)))
}

/// The record timestamp in a complete header (bytes 16..24).
pub(crate) fn timestamp_in_header(header: &[u8; HEADER_LEN]) -> i64 {
    i64::from_le_bytes(header[16..24].try_into().unwrap_or([0; 8]))
}

fn frame_len_at(buf: &[u8]) -> Result<usize, Parsed> {
    if buf.len() < 4 {
        return Err(Parsed::Incomplete { frame_len: None });
    }
    let len_field = u32_at(buf, 0) as usize;
    if len_field < MIN_LEN_FIELD {
        return Err(Parsed::Invalid("frame length too small"));
    }
    if len_field + 4 > MAX_FRAME_LEN {
        return Err(Parsed::Invalid("frame length too large"));
    }
    Ok(len_field + 4)
}

fn u32_at(buf: &[u8], at: usize) -> u32 {
    let mut bytes = [0; 4];
    bytes.copy_from_slice(&buf[at..at + 4]);
    u32::from_le_bytes(bytes)
}

fn u64_at(buf: &[u8], at: usize) -> u64 {
    let mut bytes = [0; 8];
    bytes.copy_from_slice(&buf[at..at + 8]);
    u64::from_le_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(offset: u64, key: &[u8], value: &[u8]) -> Vec<u8> {
        let mut buf = Vec::new();
        encode(&mut buf, offset, -5, key, value);
        buf
    }

    #[test]
    fn encoded_frame_parses_back_to_the_same_record() {
        let buf = encoded(42, b"key", b"value");
        assert_eq!(buf.len(), frame_len(3, 5));
        let Parsed::Frame(frame) = parse(&buf) else {
            panic!("not a frame")
        };
        assert_eq!(frame.offset, 42);
        assert_eq!(frame.timestamp_ms, -5);
        assert_eq!(&buf[frame.key], b"key");
        assert_eq!(&buf[frame.value], b"value");
        assert_eq!(frame.frame_len, buf.len());
        assert_eq!(parse_header(&buf), Ok((buf.len(), 42)));
    }

    #[test]
    fn truncated_frame_is_incomplete_with_its_full_length() {
        let buf = encoded(1, b"", b"0123456789");
        assert_eq!(parse(&buf[..2]), Parsed::Incomplete { frame_len: None });
        assert_eq!(
            parse(&buf[..buf.len() - 1]),
            Parsed::Incomplete {
                frame_len: Some(buf.len())
            }
        );
    }

    #[test]
    fn flipped_bit_fails_the_checksum() {
        let mut buf = encoded(1, b"k", b"some value");
        let last = buf.len() - 1;
        buf[last] ^= 0x01;
        assert_eq!(parse(&buf), Parsed::Invalid("checksum mismatch"));
    }

    #[test]
    fn zeroed_bytes_are_not_a_frame() {
        assert_eq!(parse(&[0; 64]), Parsed::Invalid("frame length too small"));
    }
}
