//! Repeated-field limits checked on the bytes of a record (session, session record, prekeys,
//! group and broadcast records, rosters, audit logs) before prost decodes it.
//!
//! prost builds a struct for every element of a repeated field: tens of bytes for an element
//! that takes two bytes of input when empty. Decoding first and counting after let a record
//! made of empty elements cost 20 to 40 times its size (hundreds of MiB at the record limits)
//! before any limit was looked at. Here the counts are bounded and each element must be at
//! least as long as the smallest valid one, so decoding costs a small multiple of the input.
//! The walk has its own small reader (the crate's wire reader is tuned for ratchet messages).

/// The value of one field (a varint's value is not needed here).
#[derive(Clone, Copy)]
enum Value<'a> {
    Varint,
    Bytes(&'a [u8]),
}

fn varint(buf: &mut &[u8]) -> Result<u64, ()> {
    let mut value = 0u64;
    for i in 0..10 {
        let (&b, rest) = buf.split_first().ok_or(())?;
        *buf = rest;
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

/// The next field of `buf` as (number, value); fixed-width fields (which no record declares)
/// are skipped, as prost skips unknown fields: `None` for those. As strict as the crate's wire
/// reader: field 0, group wire types, overlong varints and truncation are errors.
fn next_field<'a>(buf: &mut &'a [u8]) -> Result<(u32, Option<Value<'a>>), ()> {
    let key = varint(buf)?;
    let number = u32::try_from(key >> 3).map_err(|_| ())?;
    if number == 0 {
        return Err(());
    }
    let mut take = |n: usize| -> Result<&'a [u8], ()> {
        if n > buf.len() {
            return Err(());
        }
        let (head, rest) = buf.split_at(n);
        *buf = rest;
        Ok(head)
    };
    match key & 7 {
        0 => varint(buf).map(|_| (number, Some(Value::Varint))),
        2 => {
            let len = usize::try_from(varint(buf)?).map_err(|_| ())?;
            if len > buf.len() {
                return Err(());
            }
            let (head, rest) = buf.split_at(len);
            *buf = rest;
            Ok((number, Some(Value::Bytes(head))))
        }
        1 => take(8).map(|_| (number, None)),
        5 => take(4).map(|_| (number, None)),
        _ => Err(()),
    }
}

/// Why a precheck failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Precheck {
    /// Not a well-formed message, or an element shorter than any valid one.
    Malformed,
    /// More elements than a limit allows.
    TooMany,
}

/// A repeated field of a message and its bounds.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rule {
    pub(crate) field: u32,
    /// Most elements.
    pub(crate) max: usize,
    /// Shortest valid element (message and bytes fields).
    pub(crate) min_len: usize,
    /// A scalar field: packed runs count one element per varint.
    pub(crate) scalar: bool,
}

impl Rule {
    /// A repeated message or bytes field.
    pub(crate) const fn elements(field: u32, max: usize, min_len: usize) -> Rule {
        Rule {
            field,
            max,
            min_len,
            scalar: false,
        }
    }

    /// A repeated scalar field.
    pub(crate) const fn scalars(field: u32, max: usize) -> Rule {
        Rule {
            field,
            max,
            min_len: 0,
            scalar: true,
        }
    }
}

/// One pass over the fields of `msg`, checking `rules`; `each` is called with the rule's index
/// and the bytes of every element of a message rule long enough to be valid (to check what it
/// nests). Returns the element counts.
///
/// A count over its limit wins over a malformed element anywhere in the message, as when the
/// decoded counts were checked first: the error does not depend on the order of the fields.
pub(crate) fn check<'a, const N: usize>(
    msg: &'a [u8],
    rules: [Rule; N],
    mut each: impl FnMut(usize, &'a [u8]) -> Result<(), Precheck>,
) -> Result<[usize; N], Precheck> {
    let mut counts = [0usize; N];
    let mut malformed = false;
    let mut rest = msg;
    while !rest.is_empty() {
        let Ok((number, value)) = next_field(&mut rest) else {
            malformed = true;
            break;
        };
        let (Some(i), Some(value)) = (rules.iter().position(|r| r.field == number), value) else {
            continue;
        };
        let rule = rules[i];
        counts[i] += match (rule.scalar, value) {
            (_, Value::Varint) if rule.scalar => 1,
            // A packed run: one value per final varint byte, and an empty run counts as one
            // (our encoder never writes one; millions of them would each cost a decode step).
            (true, Value::Bytes(b)) => b.iter().filter(|&&x| x & 0x80 == 0).count().max(1),
            (false, Value::Bytes(b)) => {
                if b.len() < rule.min_len {
                    malformed = true;
                } else {
                    match each(i, b) {
                        Ok(()) => {}
                        Err(Precheck::Malformed) => malformed = true,
                        Err(Precheck::TooMany) => return Err(Precheck::TooMany),
                    }
                }
                1
            }
            (_, Value::Varint) => {
                malformed = true;
                1
            }
        };
        if counts[i] > rule.max {
            return Err(Precheck::TooMany);
        }
    }
    if malformed {
        return Err(Precheck::Malformed);
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_lengths_and_precedence() {
        // Field 2 three times (lengths 1, 0, 2), field 1 between.
        let msg = [0x12, 1, 7, 0x08, 5, 0x12, 0, 0x12, 2, 1, 2];
        let mut seen = Vec::new();
        let counts = check(&msg, [Rule::elements(2, 3, 0)], |_, b| {
            seen.push(b.len());
            Ok(())
        });
        assert_eq!(counts, Ok([3]));
        assert_eq!(seen, [1, 0, 2]);
        let none = |_: usize, _: &[u8]| Ok(());
        assert_eq!(
            check(&msg, [Rule::elements(2, 2, 0)], none),
            Err(Precheck::TooMany)
        );
        // The short element comes first, the excess count after: the count wins.
        assert_eq!(
            check(&msg, [Rule::elements(2, 2, 1)], none),
            Err(Precheck::TooMany)
        );
        assert_eq!(
            check(&msg, [Rule::elements(2, 3, 1)], none),
            Err(Precheck::Malformed)
        );
        // A varint where a message is expected, and a truncated message.
        assert_eq!(
            check(&msg, [Rule::elements(1, 9, 0)], none),
            Err(Precheck::Malformed)
        );
        assert_eq!(
            check(&msg[..10], [Rule::elements(2, 9, 0)], none),
            Err(Precheck::Malformed)
        );
        // Packed (three values: 1, 300, 2) and unpacked (one) scalars of field 6.
        let scalars = [0x32, 4, 1, 0xac, 0x02, 2, 0x30, 9];
        assert_eq!(check(&scalars, [Rule::scalars(6, 4)], none), Ok([4]));
        assert_eq!(
            check(&scalars, [Rule::scalars(6, 3)], none),
            Err(Precheck::TooMany)
        );
        // Empty packed runs count one each.
        assert_eq!(
            check(&[0x32, 0, 0x32, 0], [Rule::scalars(6, 2)], none),
            Ok([2])
        );
        assert_eq!(
            check(&[0x32, 0, 0x32, 0], [Rule::scalars(6, 1)], none),
            Err(Precheck::TooMany)
        );
    }
}
