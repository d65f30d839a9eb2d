//! A minimal, strict protobuf reader and writer for the hot-path wire messages.
//!
//! The schema is `proto/wire.proto`; prost compiles it for everything else. Ratchet messages are
//! read and written here instead so that decoding borrows from the input (no allocation, no copy
//! of the ciphertext) and encoding writes straight into the caller's buffer. Tests check that
//! both directions agree byte for byte with prost.
//!
//! Strictness beyond protobuf: a known field may appear at most once, must have its declared
//! wire type, and varints are at most 10 bytes; unknown fields are skipped as protobuf requires.

/// Wire type of a varint field.
pub(crate) const VARINT: u8 = 0;
/// Wire type of a length-delimited field.
pub(crate) const LEN: u8 = 2;
const I64: u8 = 1;
const I32: u8 = 5;

/// The value of one field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Value<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
}

/// Reads the fields of one message, in order.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    #[inline]
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    #[inline]
    fn varint(&mut self) -> Result<u64, ()> {
        // One byte: every field key here, and most lengths and counters.
        if let Some((&b, rest)) = self.buf.split_first()
            && b < 0x80
        {
            self.buf = rest;
            return Ok(u64::from(b));
        }
        let mut value = 0u64;
        for i in 0..10 {
            let (&b, rest) = self.buf.split_first().ok_or(())?;
            self.buf = rest;
            if i == 9 && b > 1 {
                return Err(());
            }
            value |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(())
    }

    #[inline]
    fn take(&mut self, n: usize) -> Result<&'a [u8], ()> {
        if n > self.buf.len() {
            return Err(());
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    #[inline]
    fn next_field(&mut self) -> Result<(u32, Option<(u8, Value<'a>)>), ()> {
        let key = self.varint()?;
        let field = u32::try_from(key >> 3).map_err(|_| ())?;
        if field == 0 {
            return Err(());
        }
        let wire_type = (key & 7) as u8;
        match wire_type {
            VARINT => Ok((field, Some((VARINT, Value::Varint(self.varint()?))))),
            LEN => {
                let len = usize::try_from(self.varint()?).map_err(|_| ())?;
                Ok((field, Some((LEN, Value::Bytes(self.take(len)?)))))
            }
            I64 => self.take(8).map(|_| (field, None)),
            I32 => self.take(4).map(|_| (field, None)),
            _ => Err(()),
        }
    }
}

/// Decodes the fields `0..N` of a message into slots, enforcing at-most-once and wire types.
/// `schema[i]` is the wire type of field `i + 1`; other field numbers are skipped.
#[inline]
pub(crate) fn read_fields<'a, const N: usize>(
    buf: &'a [u8],
    schema: [u8; N],
) -> Result<[Option<Value<'a>>; N], ()> {
    let mut slots = [None; N];
    let mut reader = Reader::new(buf);
    while !reader.buf.is_empty() {
        // Fields of wire types this crate never declares (I64, I32) are skipped.
        let (field, Some((wt, value))) = reader.next_field()? else {
            continue;
        };
        let idx = field as usize - 1;
        if idx >= N {
            continue;
        }
        if schema[idx] != wt || slots[idx].is_some() {
            return Err(());
        }
        slots[idx] = Some(value);
    }
    Ok(slots)
}

/// A varint field's value as `u32`, absent meaning 0 (proto3).
#[inline]
pub(crate) fn as_u32(v: Option<Value<'_>>) -> Result<u32, ()> {
    match v {
        None => Ok(0),
        Some(Value::Varint(x)) => u32::try_from(x).map_err(|_| ()),
        Some(Value::Bytes(_)) => Err(()),
    }
}

/// An `optional uint32` field: presence is kept.
#[inline]
pub(crate) fn as_opt_u32(v: Option<Value<'_>>) -> Result<Option<u32>, ()> {
    match v {
        None => Ok(None),
        other => as_u32(other).map(Some),
    }
}

/// A bytes field, absent meaning empty (proto3).
#[inline]
pub(crate) fn as_bytes(v: Option<Value<'_>>) -> Result<&[u8], ()> {
    match v {
        None => Ok(&[]),
        Some(Value::Bytes(b)) => Ok(b),
        Some(Value::Varint(_)) => Err(()),
    }
}

/// A bytes field of exactly `N` bytes.
#[inline]
pub(crate) fn as_array<const N: usize>(v: Option<Value<'_>>) -> Result<[u8; N], ()> {
    as_bytes(v)?.try_into().map_err(|_| ())
}

/// Length of `v` as a varint.
pub(crate) const fn varint_len(v: u64) -> usize {
    let bits = 64 - (v | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// Appends varints and fields, the way prost encodes them (field order by number, proto3
/// defaults omitted unless the field is `optional`).
pub(crate) trait Writer {
    fn put(&mut self, bytes: &[u8]);

    fn put_varint(&mut self, mut v: u64) {
        let mut buf = [0u8; 10];
        let mut i = 0;
        while v >= 0x80 {
            buf[i] = (v as u8) | 0x80;
            v >>= 7;
            i += 1;
        }
        buf[i] = v as u8;
        self.put(&buf[..=i]);
    }

    fn put_key(&mut self, field: u32, wire_type: u8) {
        self.put_varint((u64::from(field) << 3) | u64::from(wire_type));
    }

    /// A proto3 `uint32`: omitted when zero.
    fn put_u32(&mut self, field: u32, v: u32) {
        if v != 0 {
            self.put_key(field, VARINT);
            self.put_varint(u64::from(v));
        }
    }

    /// An `optional uint32`: written when present, even if zero.
    fn put_opt_u32(&mut self, field: u32, v: Option<u32>) {
        if let Some(v) = v {
            self.put_key(field, VARINT);
            self.put_varint(u64::from(v));
        }
    }

    /// A proto3 `bytes`: omitted when empty.
    fn put_bytes(&mut self, field: u32, b: &[u8]) {
        if !b.is_empty() {
            self.put_len_prefix(field, b.len());
            self.put(b);
        }
    }

    /// The key and length of a length-delimited field whose body the caller writes next.
    fn put_len_prefix(&mut self, field: u32, len: usize) {
        self.put_key(field, LEN);
        self.put_varint(len as u64);
    }
}

/// Size of a bytes/message field of body length `len` (0 when omitted as empty).
pub(crate) const fn len_field_size(field: u32, len: usize) -> usize {
    if len == 0 {
        0
    } else {
        varint_len((field as u64) << 3) + varint_len(len as u64) + len
    }
}

/// Size of a proto3 `uint32` field (0 when omitted as zero).
pub(crate) const fn u32_field_size(field: u32, v: u32) -> usize {
    if v == 0 {
        0
    } else {
        varint_len((field as u64) << 3) + varint_len(v as u64)
    }
}

impl Writer for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

/// A fixed stack buffer for small messages (headers).
pub(crate) struct StackBuf<const N: usize> {
    pub(crate) buf: [u8; N],
    pub(crate) len: usize,
}

impl<const N: usize> StackBuf<N> {
    pub(crate) fn new() -> Self {
        StackBuf {
            buf: [0u8; N],
            len: 0,
        }
    }

    pub(crate) fn as_slice(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl<const N: usize> Writer for StackBuf<N> {
    fn put(&mut self, bytes: &[u8]) {
        // Callers size N for the largest message they write; a longer write is a bug caught by
        // the header-size test, and truncating here can only make authentication fail.
        let end = (self.len + bytes.len()).min(N);
        let n = end - self.len;
        self.buf[self.len..end].copy_from_slice(&bytes[..n]);
        self.len = end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_round_trip_and_len() {
        for v in [0u64, 1, 127, 128, 300, u32::MAX as u64, u64::MAX] {
            let mut b = Vec::new();
            b.put_varint(v);
            assert_eq!(b.len(), varint_len(v));
            let mut r = Reader::new(&b);
            assert_eq!(r.varint(), Ok(v));
        }
    }

    #[test]
    fn rejects_overlong_varint_and_truncation() {
        assert!(Reader::new(&[0x80; 11]).varint().is_err());
        assert!(
            Reader::new(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02])
                .varint()
                .is_err()
        );
        assert_eq!(read_fields(&[0x0a, 0x05, 1, 2], [LEN]), Err(()));
        assert_eq!(read_fields(&[0x08, 1, 0x08, 2], [VARINT]), Err(()));
        assert_eq!(read_fields(&[0x0a, 0x00], [VARINT]), Err(()));
        // Field 0 and group wire types are invalid.
        assert_eq!(read_fields(&[0x00, 0x00], [VARINT]), Err(()));
        assert_eq!(read_fields(&[0x0b], [VARINT]), Err(()));
    }

    #[test]
    fn skips_unknown_fields() {
        let mut b = Vec::new();
        b.put_u32(1, 5);
        b.put_bytes(9, b"xyz");
        b.put_key(10, 5);
        b.put(&[0, 0, 0, 0]);
        let f = read_fields(&b, [VARINT]).unwrap();
        assert_eq!(as_u32(f[0]), Ok(5));
    }
}
