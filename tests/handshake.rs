//! Handshake attacks: bundles (signatures, malformed bytes, wrong identities, low-order keys),
//! identity-key validation, prekey messages (replays, reused one-time prekeys, wrong recipients,
//! low-order base keys) and low-order ratchet keys.
//!
//! Some tests need bundles signed over keys `PreKeys` would never generate (low-order signed
//! prekeys) and Edwards points the crate refuses to build (torsion, non-canonical). ed25519-dalek
//! is not a dev-dependency, so the `ed` module below is a small, slow, test-only Ed25519 (RFC
//! 8032) over a textbook field implementation. `ed_signer_matches_the_crate` checks it against
//! the crate: same public key from a seed, byte-identical signatures on real bundles.

mod common;

use common::{Pb, Responder, pb_decode, pb_encode, prekey_msg, round_trip, snap, snap_prekeys};
use rand::Rng;
use sealpost::consts::MAX_BUNDLE_SIZE;
use sealpost::hazmat;
use sealpost::{
    BundleError, DecryptError, Envelope, HandshakeError, IdentityKey, IdentityKeyPair, KeyError,
    PreKeyBundle, PreKeys, Session,
};

#[allow(clippy::needless_range_loop)]
mod ed {
    //! Test-only Ed25519 and edwards25519 arithmetic. Not constant time, not fast, not for use
    //! anywhere but here.

    /// A field element mod p = 2^255 - 19: four little-endian 64-bit limbs, fully reduced.
    pub type Fe = [u64; 4];

    pub const P: Fe = [
        0xffff_ffff_ffff_ffed,
        u64::MAX,
        u64::MAX,
        0x7fff_ffff_ffff_ffff,
    ];
    const ZERO: Fe = [0; 4];
    const ONE: Fe = [1, 0, 0, 0];

    fn geq(a: &Fe, b: &Fe) -> bool {
        for i in (0..4).rev() {
            if a[i] != b[i] {
                return a[i] > b[i];
            }
        }
        true
    }

    fn add_raw(a: &Fe, b: &Fe) -> (Fe, bool) {
        let mut r = [0u64; 4];
        let mut carry = false;
        for i in 0..4 {
            let (s1, c1) = a[i].overflowing_add(b[i]);
            let (s2, c2) = s1.overflowing_add(u64::from(carry));
            r[i] = s2;
            carry = c1 || c2;
        }
        (r, carry)
    }

    fn sub_raw(a: &Fe, b: &Fe) -> (Fe, bool) {
        let mut r = [0u64; 4];
        let mut borrow = false;
        for i in 0..4 {
            let (d1, b1) = a[i].overflowing_sub(b[i]);
            let (d2, b2) = d1.overflowing_sub(u64::from(borrow));
            r[i] = d2;
            borrow = b1 || b2;
        }
        (r, borrow)
    }

    pub fn add(a: &Fe, b: &Fe) -> Fe {
        let (s, carry) = add_raw(a, b);
        assert!(!carry);
        if geq(&s, &P) { sub_raw(&s, &P).0 } else { s }
    }

    pub fn sub(a: &Fe, b: &Fe) -> Fe {
        let (d, borrow) = sub_raw(a, b);
        if borrow { add_raw(&d, &P).0 } else { d }
    }

    /// `a + b` as 256-bit integers, without reduction (for non-canonical encodings).
    pub fn add_int(a: &Fe, b: &Fe) -> Fe {
        let (s, carry) = add_raw(a, b);
        assert!(!carry);
        s
    }

    pub fn neg(a: &Fe) -> Fe {
        sub(&ZERO, a)
    }

    fn wide_mul(a: &[u64; 4], b: &[u64; 4]) -> [u64; 8] {
        let mut r = [0u64; 8];
        for i in 0..4 {
            let mut carry: u128 = 0;
            for j in 0..4 {
                let cur = u128::from(r[i + j]) + u128::from(a[i]) * u128::from(b[j]) + carry;
                r[i + j] = cur as u64;
                carry = cur >> 64;
            }
            r[i + 4] = carry as u64;
        }
        r
    }

    pub fn mul(a: &Fe, b: &Fe) -> Fe {
        let r = wide_mul(a, b);
        // 2^256 = 38 (mod p).
        let mut out = [0u64; 4];
        let mut carry: u128 = 0;
        for i in 0..4 {
            let cur = u128::from(r[i]) + u128::from(r[i + 4]) * 38 + carry;
            out[i] = cur as u64;
            carry = cur >> 64;
        }
        let mut c = carry * 38;
        for i in 0..4 {
            let cur = u128::from(out[i]) + c;
            out[i] = cur as u64;
            c = cur >> 64;
        }
        if c != 0 {
            // Wrapped past 2^256: what is left is tiny.
            out[0] += 38;
        }
        // Fold bit 255: 2^255 = 19 (mod p).
        let top = out[3] >> 63;
        out[3] &= 0x7fff_ffff_ffff_ffff;
        let (s, carry) = add_raw(&out, &[19 * top, 0, 0, 0]);
        assert!(!carry);
        if geq(&s, &P) { sub_raw(&s, &P).0 } else { s }
    }

    pub fn pow(a: &Fe, e: &[u64; 4]) -> Fe {
        let mut r = ONE;
        for i in (0..256).rev() {
            r = mul(&r, &r);
            if (e[i / 64] >> (i % 64)) & 1 == 1 {
                r = mul(&r, a);
            }
        }
        r
    }

    pub fn inv(a: &Fe) -> Fe {
        // a^(p - 2)
        pow(
            a,
            &[
                0xffff_ffff_ffff_ffeb,
                u64::MAX,
                u64::MAX,
                0x7fff_ffff_ffff_ffff,
            ],
        )
    }

    pub fn small(v: u64) -> Fe {
        [v, 0, 0, 0]
    }

    pub fn from_bytes(b: &[u8; 32]) -> Fe {
        let mut r = [0u64; 4];
        for i in 0..4 {
            r[i] = u64::from_le_bytes(b[8 * i..8 * i + 8].try_into().unwrap());
        }
        r
    }

    pub fn to_bytes(a: &Fe) -> [u8; 32] {
        let mut out = [0u8; 32];
        for i in 0..4 {
            out[8 * i..8 * i + 8].copy_from_slice(&a[i].to_le_bytes());
        }
        out
    }

    /// A square root of `a`, if it has one.
    pub fn sqrt(a: &Fe) -> Option<Fe> {
        // p = 5 (mod 8): candidate a^((p+3)/8), fixed up by sqrt(-1) = 2^((p-1)/4).
        let x = pow(
            a,
            &[
                0xffff_ffff_ffff_fffe,
                u64::MAX,
                u64::MAX,
                0x0fff_ffff_ffff_ffff,
            ],
        );
        if mul(&x, &x) == *a {
            return Some(x);
        }
        if mul(&x, &x) == neg(a) {
            let sqrt_m1 = pow(
                &small(2),
                &[
                    0xffff_ffff_ffff_fffb,
                    u64::MAX,
                    u64::MAX,
                    0x1fff_ffff_ffff_ffff,
                ],
            );
            return Some(mul(&x, &sqrt_m1));
        }
        None
    }

    /// d = -121665 / 121666 and 2d (checked against their definition in `order8`).
    pub const D: Fe = [
        0x75eb_4dca_1359_78a3,
        0x0070_0a4d_4141_d8ab,
        0x8cc7_4079_7779_e898,
        0x5203_6cee_2b6f_fe73,
    ];
    const D2: Fe = [
        0xebd6_9b94_26b2_f159,
        0x00e0_149a_8283_b156,
        0x198e_80f2_eef3_d130,
        0x2406_d9dc_56df_fce7,
    ];

    pub fn d() -> Fe {
        D
    }

    /// A point in extended coordinates (X : Y : Z : T), x = X/Z, y = Y/Z, xy = T/Z.
    #[derive(Clone, Copy, Debug)]
    pub struct Point {
        x: Fe,
        y: Fe,
        z: Fe,
        t: Fe,
    }

    pub const IDENTITY: Point = Point {
        x: ZERO,
        y: ONE,
        z: ONE,
        t: ZERO,
    };

    impl Point {
        pub fn from_xy(x: Fe, y: Fe) -> Point {
            Point {
                x,
                y,
                z: ONE,
                t: mul(&x, &y),
            }
        }

        /// Complete addition (RFC 8032 5.1.4); also doubles.
        pub fn add(&self, o: &Point) -> Point {
            let a = mul(&sub(&self.y, &self.x), &sub(&o.y, &o.x));
            let b = mul(&add(&self.y, &self.x), &add(&o.y, &o.x));
            let c = mul(&mul(&self.t, &D2), &o.t);
            let dd = mul(&add(&self.z, &self.z), &o.z);
            let e = sub(&b, &a);
            let f = sub(&dd, &c);
            let g = add(&dd, &c);
            let h = add(&b, &a);
            Point {
                x: mul(&e, &f),
                y: mul(&g, &h),
                t: mul(&e, &h),
                z: mul(&f, &g),
            }
        }

        /// `k * self` for a little-endian 256-bit integer `k`.
        pub fn mul_bytes(&self, k: &[u8; 32]) -> Point {
            let mut r = IDENTITY;
            for i in (0..256).rev() {
                r = r.add(&r);
                if (k[i / 8] >> (i % 8)) & 1 == 1 {
                    r = r.add(self);
                }
            }
            r
        }

        pub fn affine(&self) -> (Fe, Fe) {
            let zi = inv(&self.z);
            (mul(&self.x, &zi), mul(&self.y, &zi))
        }

        pub fn encode(&self) -> [u8; 32] {
            let (x, y) = self.affine();
            let mut b = to_bytes(&y);
            b[31] |= ((x[0] & 1) as u8) << 7;
            b
        }

        pub fn is_identity(&self) -> bool {
            let (x, y) = self.affine();
            x == ZERO && y == ONE
        }

        /// The Montgomery u = (1 + y) / (1 - y) of this point (X25519 form).
        pub fn montgomery_u(&self) -> [u8; 32] {
            let (_, y) = self.affine();
            to_bytes(&mul(&add(&ONE, &y), &inv(&sub(&ONE, &y))))
        }
    }

    /// The x of a point with this y, choosing the parity `sign`, if the point exists.
    pub fn x_for_y(y: &Fe, sign: u8) -> Option<Fe> {
        let yy = mul(y, y);
        let u = sub(&yy, &ONE);
        let v = add(&mul(&d(), &yy), &ONE);
        let x = sqrt(&mul(&u, &inv(&v)))?;
        if (x[0] & 1) as u8 == sign {
            Some(x)
        } else {
            Some(neg(&x))
        }
    }

    pub fn decode(b: &[u8; 32]) -> Option<Point> {
        let mut yb = *b;
        yb[31] &= 0x7f;
        let y = from_bytes(&yb);
        assert!(!geq(&y, &P), "decode only canonical encodings");
        let x = x_for_y(&y, b[31] >> 7)?;
        Some(Point::from_xy(x, y))
    }

    pub fn base() -> Point {
        let y = mul(&small(4), &inv(&small(5)));
        Point::from_xy(x_for_y(&y, 0).unwrap(), y)
    }

    /// The group order L = 2^252 + 27742317777372353535851937790883648493.
    pub const L: [u64; 4] = [
        0x5812_631a_5cf5_d3ed,
        0x14de_f9de_a2f7_9cd6,
        0,
        0x1000_0000_0000_0000,
    ];

    /// A little-endian integer of any length, reduced mod L.
    pub fn reduce_l(bytes: &[u8]) -> [u64; 4] {
        let mut r = [0u64; 4];
        for i in (0..bytes.len() * 8).rev() {
            let bit = u64::from((bytes[i / 8] >> (i % 8)) & 1);
            let (mut d, _) = add_raw(&r, &r);
            d[0] |= bit;
            r = if geq(&d, &L) { sub_raw(&d, &L).0 } else { d };
        }
        r
    }

    fn limbs_to_bytes(a: &[u64]) -> Vec<u8> {
        a.iter().flat_map(|l| l.to_le_bytes()).collect()
    }

    pub fn scalar_bytes(a: &[u64; 4]) -> [u8; 32] {
        limbs_to_bytes(a).try_into().unwrap()
    }

    /// (a + b * c) mod L.
    pub fn muladd_l(a: &[u64; 4], b: &[u64; 4], c: &[u64; 4]) -> [u64; 4] {
        let bc = reduce_l(&limbs_to_bytes(&wide_mul(b, c)));
        let (s, _) = add_raw(a, &bc);
        if geq(&s, &L) { sub_raw(&s, &L).0 } else { s }
    }

    // --- SHA-512 (FIPS 180-4) ---------------------------------------------------------------

    #[rustfmt::skip]
    const K: [u64; 80] = [
        0x428a2f98d728ae22, 0x7137449123ef65cd, 0xb5c0fbcfec4d3b2f, 0xe9b5dba58189dbbc,
        0x3956c25bf348b538, 0x59f111f1b605d019, 0x923f82a4af194f9b, 0xab1c5ed5da6d8118,
        0xd807aa98a3030242, 0x12835b0145706fbe, 0x243185be4ee4b28c, 0x550c7dc3d5ffb4e2,
        0x72be5d74f27b896f, 0x80deb1fe3b1696b1, 0x9bdc06a725c71235, 0xc19bf174cf692694,
        0xe49b69c19ef14ad2, 0xefbe4786384f25e3, 0x0fc19dc68b8cd5b5, 0x240ca1cc77ac9c65,
        0x2de92c6f592b0275, 0x4a7484aa6ea6e483, 0x5cb0a9dcbd41fbd4, 0x76f988da831153b5,
        0x983e5152ee66dfab, 0xa831c66d2db43210, 0xb00327c898fb213f, 0xbf597fc7beef0ee4,
        0xc6e00bf33da88fc2, 0xd5a79147930aa725, 0x06ca6351e003826f, 0x142929670a0e6e70,
        0x27b70a8546d22ffc, 0x2e1b21385c26c926, 0x4d2c6dfc5ac42aed, 0x53380d139d95b3df,
        0x650a73548baf63de, 0x766a0abb3c77b2a8, 0x81c2c92e47edaee6, 0x92722c851482353b,
        0xa2bfe8a14cf10364, 0xa81a664bbc423001, 0xc24b8b70d0f89791, 0xc76c51a30654be30,
        0xd192e819d6ef5218, 0xd69906245565a910, 0xf40e35855771202a, 0x106aa07032bbd1b8,
        0x19a4c116b8d2d0c8, 0x1e376c085141ab53, 0x2748774cdf8eeb99, 0x34b0bcb5e19b48a8,
        0x391c0cb3c5c95a63, 0x4ed8aa4ae3418acb, 0x5b9cca4f7763e373, 0x682e6ff3d6b2b8a3,
        0x748f82ee5defb2fc, 0x78a5636f43172f60, 0x84c87814a1f0ab72, 0x8cc702081a6439ec,
        0x90befffa23631e28, 0xa4506cebde82bde9, 0xbef9a3f7b2c67915, 0xc67178f2e372532b,
        0xca273eceea26619c, 0xd186b8c721c0c207, 0xeada7dd6cde0eb1e, 0xf57d4f7fee6ed178,
        0x06f067aa72176fba, 0x0a637dc5a2c898a6, 0x113f9804bef90dae, 0x1b710b35131c471b,
        0x28db77f523047d84, 0x32caab7b40c72493, 0x3c9ebe0a15c9bebc, 0x431d67c49c100d4c,
        0x4cc5d4becb3e42b6, 0x597f299cfc657e2a, 0x5fcb6fab3ad6faec, 0x6c44198c4a475817,
    ];

    pub fn sha512(data: &[u8]) -> [u8; 64] {
        let mut h: [u64; 8] = [
            0x6a09e667f3bcc908,
            0xbb67ae8584caa73b,
            0x3c6ef372fe94f82b,
            0xa54ff53a5f1d36f1,
            0x510e527fade682d1,
            0x9b05688c2b3e6c1f,
            0x1f83d9abfb41bd6b,
            0x5be0cd19137e2179,
        ];
        let mut msg = data.to_vec();
        msg.push(0x80);
        while msg.len() % 128 != 112 {
            msg.push(0);
        }
        msg.extend_from_slice(&((data.len() as u128) * 8).to_be_bytes());
        for block in msg.chunks(128) {
            let mut w = [0u64; 80];
            for t in 0..16 {
                w[t] = u64::from_be_bytes(block[8 * t..8 * t + 8].try_into().unwrap());
            }
            for t in 16..80 {
                let s0 = w[t - 15].rotate_right(1) ^ w[t - 15].rotate_right(8) ^ (w[t - 15] >> 7);
                let s1 = w[t - 2].rotate_right(19) ^ w[t - 2].rotate_right(61) ^ (w[t - 2] >> 6);
                w[t] = w[t - 16]
                    .wrapping_add(s0)
                    .wrapping_add(w[t - 7])
                    .wrapping_add(s1);
            }
            let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = h;
            for t in 0..80 {
                let s1 = e.rotate_right(14) ^ e.rotate_right(18) ^ e.rotate_right(41);
                let ch = (e & f) ^ (!e & g);
                let t1 = hh
                    .wrapping_add(s1)
                    .wrapping_add(ch)
                    .wrapping_add(K[t])
                    .wrapping_add(w[t]);
                let s0 = a.rotate_right(28) ^ a.rotate_right(34) ^ a.rotate_right(39);
                let maj = (a & b) ^ (a & c) ^ (b & c);
                let t2 = s0.wrapping_add(maj);
                hh = g;
                g = f;
                f = e;
                e = d.wrapping_add(t1);
                d = c;
                c = b;
                b = a;
                a = t1.wrapping_add(t2);
            }
            for (x, y) in h.iter_mut().zip([a, b, c, d, e, f, g, hh]) {
                *x = x.wrapping_add(y);
            }
        }
        let mut out = [0u8; 64];
        for (i, x) in h.iter().enumerate() {
            out[8 * i..8 * i + 8].copy_from_slice(&x.to_be_bytes());
        }
        out
    }

    // --- Ed25519 (RFC 8032 5.1.5, 5.1.6) ----------------------------------------------------

    fn expand(seed: &[u8; 32]) -> ([u8; 32], [u8; 32]) {
        let h = sha512(seed);
        let mut a: [u8; 32] = h[..32].try_into().unwrap();
        a[0] &= 248;
        a[31] &= 127;
        a[31] |= 64;
        (a, h[32..].try_into().unwrap())
    }

    pub fn public_key(seed: &[u8; 32]) -> [u8; 32] {
        base().mul_bytes(&expand(seed).0).encode()
    }

    pub fn sign(seed: &[u8; 32], msg: &[u8]) -> [u8; 64] {
        let (a, prefix) = expand(seed);
        let public = base().mul_bytes(&a).encode();
        let r = reduce_l(&sha512(&[&prefix[..], msg].concat()));
        let big_r = base().mul_bytes(&scalar_bytes(&r)).encode();
        let k = reduce_l(&sha512(&[&big_r[..], &public[..], msg].concat()));
        let s = muladd_l(&r, &k, &reduce_l(&a));
        let mut sig = [0u8; 64];
        sig[..32].copy_from_slice(&big_r);
        sig[32..].copy_from_slice(&scalar_bytes(&s));
        sig
    }

    /// A point of order exactly 8 (the torsion part of a random point).
    pub fn order8() -> Point {
        assert_eq!(D, mul(&neg(&small(121_665)), &inv(&small(121_666))));
        assert_eq!(D2, add(&D, &D));
        let l = scalar_bytes(&L);
        for y in 2u64.. {
            let Some(x) = x_for_y(&small(y), 0) else {
                continue;
            };
            let t = Point::from_xy(x, small(y)).mul_bytes(&l);
            let t4 = t.add(&t).add(&t.add(&t));
            if !t4.is_identity() {
                return t;
            }
        }
        unreachable!()
    }
}

/// Byte offsets in `bundle` where field `first` starts and where the field after `last` starts
/// (fields in increasing order, as every encoder here writes them).
fn field_span(bundle: &[u8], first: u32, last: u32) -> (usize, usize) {
    let f = pb_decode(bundle);
    let before = |n: u32| {
        pb_encode(
            &f.iter()
                .filter(|(k, _)| *k < n)
                .cloned()
                .collect::<Vec<_>>(),
        )
        .len()
    };
    (before(first), before(last + 1))
}

/// `"sealpost spk v1" || id (BE) || key`.
fn spk_message(id: u32, key: &[u8; 32]) -> Vec<u8> {
    [&b"sealpost spk v1"[..], &id.to_be_bytes(), key].concat()
}

/// Bundle bytes built field by field (`wire.proto` `PreKeyBundle`).
fn bundle_bytes(
    identity: &[u8; 32],
    spk_id: u32,
    spk: &[u8; 32],
    sig: &[u8; 64],
    opk: Option<(u32, [u8; 32])>,
) -> Vec<u8> {
    let mut f = vec![(1, Pb::Bytes(identity.to_vec()))];
    if spk_id != 0 {
        f.push((2, Pb::Varint(u64::from(spk_id))));
    }
    f.push((3, Pb::Bytes(spk.to_vec())));
    f.push((4, Pb::Bytes(sig.to_vec())));
    if let Some((id, key)) = opk {
        f.push((5, Pb::Varint(u64::from(id))));
        f.push((6, Pb::Bytes(key.to_vec())));
    }
    pb_encode(&f)
}

/// X25519 public keys of low order (RFC 7748 u-coordinates; X25519 ignores bit 255): computed
/// here from the curve, each checked to give an all-zero shared secret.
fn low_order_x25519_keys() -> Vec<[u8; 32]> {
    let t8 = ed::order8();
    let t8x3 = t8.add(&t8).add(&t8);
    let p_minus_1 = ed::to_bytes(&ed::sub(&ed::P, &ed::small(1)));
    let mut p = ed::to_bytes(&ed::P);
    let mut keys = vec![
        [0u8; 32],                   // u = 0: image of (0, -1), order 2
        ed::to_bytes(&ed::small(1)), // u = 1: image of the order-4 points (x, 0)
        p_minus_1,                   // u = -1 (on the twist)
        t8.montgomery_u(),           // the two u of the order-8 points
        t8x3.montgomery_u(),
        p, // u = p, a non-canonical 0
    ];
    p[0] += 1;
    keys.push(p); // u = p + 1 (non-canonical 1)
    let high: Vec<[u8; 32]> = keys
        .iter()
        .map(|k| {
            let mut k = *k;
            k[31] |= 0x80;
            k
        })
        .collect();
    keys.extend(high);
    let probe = [0x77u8; 32];
    for k in &keys {
        assert_eq!(
            hazmat::x25519(&probe, k),
            [0u8; 32],
            "{k:02x?} is low order"
        );
    }
    let mut dedup = keys.clone();
    dedup.sort();
    dedup.dedup();
    assert_eq!(dedup.len(), 14);
    keys
}

#[test]
fn ed_signer_matches_the_crate() {
    assert_eq!(
        hex::encode(ed::sha512(b"abc")),
        "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a\
         2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"
    );
    assert_eq!(
        hex::encode(ed::sha512(&[b'a'; 200])),
        "4b11459c33f52a22ee8236782714c150a3b2c60994e9acee17fe68947a3e6789\
         f31e7668394592da7bef827cddca88c4e6f86e4df7ed1ae6cba71f3e98faee9f"
    );
    assert_eq!(
        hex::encode(ed::base().encode()),
        "5866666666666666666666666666666666666666666666666666666666666666"
    );
    let mut rng = common::rng(200);
    for _ in 0..3 {
        let mut seed = [0u8; 32];
        rng.fill_bytes(&mut seed);
        let id = IdentityKeyPair::from_seed(&seed);
        assert_eq!(&ed::public_key(&seed), id.public_key().as_bytes());
        // Ed25519 signatures are deterministic: ours must equal the crate's on its bundles.
        let mut prekeys = PreKeys::new();
        for _ in 0..2 {
            prekeys.generate_signed_prekey(&id, 5, &mut rng).unwrap();
        }
        let bundle = pb_decode(&prekeys.bundle(&id, None).unwrap().to_bytes());
        let spk_id = common::pb_get(&bundle, 2).map_or(0, Pb::varint) as u32;
        assert_eq!(spk_id, 1);
        let spk: [u8; 32] = common::pb_get(&bundle, 3)
            .unwrap()
            .bytes()
            .try_into()
            .unwrap();
        let sig = common::pb_get(&bundle, 4).unwrap().bytes();
        assert_eq!(&ed::sign(&seed, &spk_message(spk_id, &spk))[..], sig);
        // And a hand-built bundle with our signature verifies.
        let ours = bundle_bytes(
            id.public_key().as_bytes(),
            7,
            &spk,
            &ed::sign(&seed, &spk_message(7, &spk)),
            None,
        );
        let v = PreKeyBundle::from_bytes(&ours)
            .unwrap()
            .verify_allowing_classical()
            .unwrap();
        assert_eq!(v.signed_prekey_id(), 7);
        // Without an ML-KEM prekey it is a classical bundle, which plain `verify` refuses.
        assert_eq!(
            PreKeyBundle::from_bytes(&ours)
                .unwrap()
                .verify()
                .unwrap_err(),
            BundleError::MissingKemPreKey
        );
    }
}

#[test]
fn low_order_signed_prekey_is_non_contributory() {
    let mut rng = common::rng(201);
    let seed = [0x11u8; 32];
    let bob = IdentityKeyPair::from_seed(&seed);
    let alice = IdentityKeyPair::generate(&mut rng);
    for key in low_order_x25519_keys() {
        let sig = ed::sign(&seed, &spk_message(3, &key));
        let bytes = bundle_bytes(bob.public_key().as_bytes(), 3, &key, &sig, None);
        // The signature is genuine: verification passes, the handshake refuses the key.
        let bundle = PreKeyBundle::from_bytes(&bytes)
            .unwrap()
            .verify_allowing_classical()
            .unwrap();
        assert_eq!(
            Session::initiate(&alice, &bundle, &mut rng).unwrap_err(),
            HandshakeError::NonContributory,
            "signed prekey {key:02x?}"
        );
    }
}

#[test]
fn low_order_one_time_prekey_is_non_contributory() {
    // One-time prekeys are not signed: anyone on the path can swap them.
    let mut rng = common::rng(202);
    let bob = Responder::new(&mut rng, 1);
    let alice = IdentityKeyPair::generate(&mut rng);
    let real = pb_decode(&bob.bundle(Some(bob.otk_ids[0])));
    for key in low_order_x25519_keys() {
        let mut f = real.clone();
        common::pb_set(&mut f, 6, Pb::Bytes(key.to_vec()));
        let bundle = common::verified(&pb_encode(&f));
        assert_eq!(bundle.one_time_prekey_id(), Some(bob.otk_ids[0]));
        assert_eq!(
            Session::initiate(&alice, &bundle, &mut rng).unwrap_err(),
            HandshakeError::NonContributory
        );
    }
}

#[test]
fn identity_key_validation() {
    let valid = IdentityKeyPair::from_seed(&[3u8; 32]);
    let a = ed::decode(valid.public_key().as_bytes()).unwrap();
    assert_eq!(a.encode(), *valid.public_key().as_bytes());
    assert!(IdentityKey::from_bytes(valid.public_key().as_bytes()).is_ok());

    // All eight points of the small-order subgroup.
    let t8 = ed::order8();
    let mut t = ed::IDENTITY;
    for i in 0..8 {
        assert_eq!(
            IdentityKey::from_bytes(&t.encode()).unwrap_err(),
            KeyError::SmallOrder,
            "torsion point {i}"
        );
        t = t.add(&t8);
    }
    assert!(t.is_identity());

    // x = 0 with the sign bit set: (0, 1) and (0, -1).
    for y in [ed::small(1), ed::sub(&ed::P, &ed::small(1))] {
        let mut b = ed::to_bytes(&y);
        b[31] |= 0x80;
        assert_eq!(
            IdentityKey::from_bytes(&b).unwrap_err(),
            KeyError::NonCanonical
        );
    }
    // y >= p: y + p for the small y that are on the curve.
    let mut non_canonical = 0;
    for y in 0u64..19 {
        if ed::x_for_y(&ed::small(y), 0).is_none() {
            continue;
        }
        let b = ed::to_bytes(&ed::add_int(&ed::P, &ed::small(y)));
        assert_eq!(
            IdentityKey::from_bytes(&b).unwrap_err(),
            KeyError::NonCanonical,
            "y = p + {y}"
        );
        non_canonical += 1;
    }
    assert!(non_canonical >= 3);

    // Prime-order point plus a torsion component, for components of order 2, 4 and 8.
    let t2 = t8.add(&t8).add(&t8.add(&t8));
    let t4 = t8.add(&t8);
    for (name, tor) in [("2", t2), ("4", t4), ("8", t8)] {
        let p = a.add(&tor);
        assert_eq!(
            IdentityKey::from_bytes(&p.encode()).unwrap_err(),
            KeyError::Torsion,
            "order-{name} torsion"
        );
    }
    // Not on the curve.
    let mut off = 0;
    for y in 2u64..60 {
        if ed::x_for_y(&ed::small(y), 0).is_some() {
            continue;
        }
        assert_eq!(
            IdentityKey::from_bytes(&ed::to_bytes(&ed::small(y))).unwrap_err(),
            KeyError::NotOnCurve
        );
        off += 1;
    }
    assert!(off >= 10);
    for len in [0usize, 31, 33, 64] {
        assert_eq!(
            IdentityKey::from_bytes(&vec![1u8; len]).unwrap_err(),
            KeyError::InvalidLength
        );
    }
}

#[test]
fn bundles_with_invalid_identity_keys_are_refused() {
    let mut rng = common::rng(203);
    let bob = Responder::new(&mut rng, 0);
    let real = pb_decode(&bob.bundle(None));
    let t8 = ed::order8();
    let a = ed::decode(bob.identity.public_key().as_bytes()).unwrap();
    for (key, err) in [
        (t8.encode(), KeyError::SmallOrder),
        (ed::IDENTITY.encode(), KeyError::SmallOrder),
        (a.add(&t8).encode(), KeyError::Torsion),
        (
            ed::to_bytes(&ed::add_int(&ed::P, &ed::small(1))),
            KeyError::NonCanonical,
        ),
    ] {
        let mut f = real.clone();
        common::pb_set(&mut f, 1, Pb::Bytes(key.to_vec()));
        let b = PreKeyBundle::from_bytes(&pb_encode(&f)).unwrap();
        assert_eq!(b.verify().unwrap_err(), BundleError::InvalidIdentity(err));
    }
}

#[test]
fn bad_signatures_are_refused() {
    let mut rng = common::rng(204);
    let bob = Responder::new(&mut rng, 2);
    let real = bob.bundle(Some(bob.otk_ids[1]));
    let f = pb_decode(&real);
    let spk: [u8; 32] = common::pb_get(&f, 3).unwrap().bytes().try_into().unwrap();
    let sig: [u8; 64] = common::pb_get(&f, 4).unwrap().bytes().try_into().unwrap();
    let edited = |field: u32, v: Pb| {
        let mut f = f.clone();
        common::pb_set(&mut f, field, v);
        PreKeyBundle::from_bytes(&pb_encode(&f)).unwrap().verify()
    };
    // Bits of R and of S (every byte is covered by the bundle bit-flip test).
    for i in [0usize, 13, 31, 32, 45, 63] {
        for bit in [0u8, 6] {
            let mut s = sig;
            s[i] ^= 1 << bit;
            assert_eq!(
                edited(4, Pb::Bytes(s.to_vec())).unwrap_err(),
                BundleError::BadSignature
            );
        }
    }
    // Another key or id under the same signature.
    let mut other = spk;
    other[0] ^= 1;
    assert_eq!(
        edited(3, Pb::Bytes(other.to_vec())).unwrap_err(),
        BundleError::BadSignature
    );
    assert_eq!(
        edited(2, Pb::Varint(1)).unwrap_err(),
        BundleError::BadSignature
    );
    // S + L (non-canonical S) is a valid equation but rejected by verify_strict.
    let s_plus_l = {
        let s = ed::from_bytes(&sig[32..].try_into().unwrap());
        let sum = ed::add_int(&s, &ed::L);
        let mut out = sig;
        out[32..].copy_from_slice(&ed::to_bytes(&sum));
        out
    };
    assert_eq!(
        edited(4, Pb::Bytes(s_plus_l.to_vec())).unwrap_err(),
        BundleError::BadSignature
    );
    // Someone else's valid signature on the same key.
    let mallory = [0x42u8; 32];
    let forged = ed::sign(&mallory, &spk_message(0, &spk));
    assert_eq!(
        edited(4, Pb::Bytes(forged.to_vec())).unwrap_err(),
        BundleError::BadSignature
    );
    // The signature of the right identity over a key of its choosing, under a different
    // identity key.
    let mut f2 = f.clone();
    common::pb_set(&mut f2, 1, Pb::Bytes(ed::public_key(&mallory).to_vec()));
    assert_eq!(
        PreKeyBundle::from_bytes(&pb_encode(&f2))
            .unwrap()
            .verify()
            .unwrap_err(),
        BundleError::BadSignature
    );
}

#[test]
fn bit_flips_across_a_bundle_fail_outside_the_unsigned_one_time_prekey() {
    let mut rng = common::rng(205);
    let bob = Responder::new(&mut rng, 3);
    let real = bob.bundle(Some(bob.otk_ids[2]));
    let original = common::verified(&real);
    // The one-time prekey (fields 5 and 6) is not signed; everything else is, the ML-KEM
    // prekey (fields 7 to 9, the tail) included.
    let (opk_start, opk_end) = field_span(&real, 5, 6);
    assert_eq!(real[opk_start], 5 << 3);
    assert_eq!(real[opk_end], 7 << 3);
    let mut unsigned_ok = 0;
    // Every third byte, one bit each (rotating through the bit positions): a flip that reaches
    // the checks costs point validation and an Ed25519 verification, ~20 ms in a debug build.
    // (`bad_signatures_are_refused` covers the signature bytes specifically.)
    for pos in (0..real.len()).step_by(3) {
        let bit = (pos % 8) as u8;
        let bytes = common::flipped(&real, pos, bit);
        let result = PreKeyBundle::from_bytes(&bytes).and_then(PreKeyBundle::verify);
        match result {
            Err(_) => {}
            Ok(v) => {
                assert!(
                    (opk_start..opk_end).contains(&pos),
                    "flip at {pos} bit {bit} outside the one-time prekey verified"
                );
                assert_eq!(v.identity(), original.identity());
                assert_eq!(v.signed_prekey_id(), original.signed_prekey_id());
                unsigned_ok += 1;
            }
        }
    }
    assert!(unsigned_ok > 0);
}

#[test]
fn malformed_bundles_are_refused() {
    let mut rng = common::rng(206);
    let bob = Responder::new(&mut rng, 1);
    let real = bob.bundle(Some(bob.otk_ids[0]));
    let f = pb_decode(&real);
    let (opk_start, kem_start) = field_span(&real, 5, 6);
    for len in 0..real.len() {
        // Every prefix that cuts a field or leaves out a required one is malformed; the
        // prefixes that end right before the one-time prekey or the ML-KEM prekey fields are
        // valid classical bundles, which only `verify_allowing_classical` takes.
        let r = PreKeyBundle::from_bytes(&real[..len]);
        if len == opk_start || len == kem_start {
            let b = r.unwrap();
            assert_eq!(
                b.clone().verify().unwrap_err(),
                BundleError::MissingKemPreKey
            );
            assert!(b.verify_allowing_classical().is_ok());
        } else {
            assert_eq!(r.unwrap_err(), BundleError::Malformed, "prefix {len}");
        }
    }
    let with = |edit: common::FieldEdit<'_>| {
        let mut f = f.clone();
        edit(&mut f);
        PreKeyBundle::from_bytes(&pb_encode(&f))
    };
    let cases: Vec<(&str, common::BoxedEdit)> = vec![
        (
            "short identity",
            Box::new(|f| common::pb_set(f, 1, Pb::Bytes(vec![1; 31]))),
        ),
        (
            "long identity",
            Box::new(|f| common::pb_set(f, 1, Pb::Bytes(vec![1; 33]))),
        ),
        ("no identity", Box::new(|f| f.retain(|(n, _)| *n != 1))),
        (
            "short spk",
            Box::new(|f| common::pb_set(f, 3, Pb::Bytes(vec![1; 31]))),
        ),
        ("no spk", Box::new(|f| f.retain(|(n, _)| *n != 3))),
        (
            "short sig",
            Box::new(|f| common::pb_set(f, 4, Pb::Bytes(vec![1; 63]))),
        ),
        ("no sig", Box::new(|f| f.retain(|(n, _)| *n != 4))),
        ("opk id only", Box::new(|f| f.retain(|(n, _)| *n != 6))),
        ("opk key only", Box::new(|f| f.retain(|(n, _)| *n != 5))),
        (
            "short opk",
            Box::new(|f| common::pb_set(f, 6, Pb::Bytes(vec![1; 31]))),
        ),
        (
            "identity as varint",
            Box::new(|f| common::pb_set(f, 1, Pb::Varint(5))),
        ),
        (
            "kem id only",
            Box::new(|f| f.retain(|(n, _)| *n != 8 && *n != 9)),
        ),
        ("kem without id", Box::new(|f| f.retain(|(n, _)| *n != 7))),
        (
            "kem without signature",
            Box::new(|f| f.retain(|(n, _)| *n != 9)),
        ),
        ("kem without key", Box::new(|f| f.retain(|(n, _)| *n != 8))),
        (
            "short kem key",
            Box::new(|f| common::pb_set(f, 8, Pb::Bytes(vec![1; 1183]))),
        ),
        (
            "long kem key",
            Box::new(|f| common::pb_set(f, 8, Pb::Bytes(vec![1; 1185]))),
        ),
        (
            "short kem signature",
            Box::new(|f| common::pb_set(f, 9, Pb::Bytes(vec![1; 63]))),
        ),
    ];
    for (name, edit) in &cases {
        assert_eq!(
            with(edit.as_ref()).unwrap_err(),
            BundleError::Malformed,
            "{name}"
        );
    }
    // Over the size limit, even as otherwise valid protobuf.
    let mut big = real.clone();
    big.extend(common::padding_field(MAX_BUNDLE_SIZE + 1 - real.len()));
    assert_eq!(
        PreKeyBundle::from_bytes(&big).unwrap_err(),
        BundleError::Malformed
    );
    let mut fits = real.clone();
    fits.extend(common::padding_field(MAX_BUNDLE_SIZE - real.len()));
    assert!(PreKeyBundle::from_bytes(&fits).unwrap().verify().is_ok());
    let mut garbage = common::rng(207);
    for len in [1usize, 7, 100, 500] {
        let mut b = vec![0u8; len];
        garbage.fill_bytes(&mut b);
        assert!(
            PreKeyBundle::from_bytes(&b)
                .and_then(PreKeyBundle::verify)
                .is_err()
        );
    }
}

#[test]
fn verify_for_another_identity_and_own_bundle() {
    let mut rng = common::rng(208);
    let bob = Responder::new(&mut rng, 0);
    let carol = IdentityKeyPair::generate(&mut rng);
    let bytes = bob.bundle(None);
    let b = PreKeyBundle::from_bytes(&bytes).unwrap();
    assert_eq!(
        b.clone().verify_for(carol.public_key()).unwrap_err(),
        BundleError::UnexpectedIdentity
    );
    let v = b.verify_for(bob.identity.public_key()).unwrap();
    assert_eq!(v.identity(), bob.identity.public_key());
    // Starting a session with one's own bundle.
    assert_eq!(
        Session::initiate(&bob.identity, &v, &mut rng).unwrap_err(),
        HandshakeError::WrongRecipient
    );
}

/// Bob (with `otks` one-time prekeys) and Alice's identity.
fn setup(seed: u64, otks: usize) -> (Responder, IdentityKeyPair, rand::rngs::ChaCha20Rng) {
    let mut rng = common::rng(seed);
    let bob = Responder::new(&mut rng, otks);
    let alice = IdentityKeyPair::generate(&mut rng);
    (bob, alice, rng)
}

#[test]
fn replayed_prekey_message_without_one_time_prekey() {
    let (mut bob, alice_id, mut rng) = setup(209, 0);
    let mut alice =
        Session::initiate(&alice_id, &common::verified(&bob.bundle(None)), &mut rng).unwrap();
    let m = alice.encrypt(&mut rng, b"first").unwrap();
    let m2 = alice.encrypt(&mut rng, b"second").unwrap();
    let (mut bob_s, _) = bob.accept(&m);
    let before = snap_prekeys(&bob.prekeys);
    for wire in [&m, &m2] {
        assert_eq!(
            Session::accept(&bob.identity, &mut bob.prekeys, &prekey_msg(wire)).unwrap_err(),
            HandshakeError::Replayed
        );
        assert_eq!(snap_prekeys(&bob.prekeys), before);
    }
    // In the existing session the first is a duplicate, the second simply the next message.
    let s = snap(&bob_s);
    assert_eq!(
        bob_s.decrypt(&m),
        Err(DecryptError::Duplicate { counter: 0 })
    );
    assert_eq!(snap(&bob_s), s);
    assert_eq!(bob_s.decrypt(&m2).unwrap(), b"second");
    assert_eq!(
        bob_s.decrypt(&m2),
        Err(DecryptError::Duplicate { counter: 1 })
    );
    // Even after the session is gone (Bob deleted it), the replay is refused.
    drop(bob_s);
    assert_eq!(
        Session::accept(&bob.identity, &mut bob.prekeys, &prekey_msg(&m)).unwrap_err(),
        HandshakeError::Replayed
    );
    assert_eq!(snap_prekeys(&bob.prekeys), before);
}

#[test]
fn replayed_prekey_message_with_one_time_prekey() {
    let (mut bob, alice_id, mut rng) = setup(210, 2);
    let otk = bob.otk_ids[1];
    let mut alice = Session::initiate(
        &alice_id,
        &common::verified(&bob.bundle(Some(otk))),
        &mut rng,
    )
    .unwrap();
    let m = alice.encrypt(&mut rng, b"first").unwrap();
    let rev = bob.prekeys.revision();
    let (_bob_s, _) = bob.accept(&m);
    assert!(bob.prekeys.revision() > rev);
    assert_eq!(
        bob.prekeys.one_time_prekey_ids().collect::<Vec<_>>(),
        [bob.otk_ids[0]]
    );
    let before = snap_prekeys(&bob.prekeys);
    assert_eq!(
        Session::accept(&bob.identity, &mut bob.prekeys, &prekey_msg(&m)).unwrap_err(),
        HandshakeError::UnknownOneTimePreKey(otk)
    );
    assert_eq!(snap_prekeys(&bob.prekeys), before);
}

#[test]
fn one_time_prekey_reused_by_a_second_initiator() {
    let (mut bob, alice_id, mut rng) = setup(211, 2);
    let carol_id = IdentityKeyPair::generate(&mut rng);
    let otk = bob.otk_ids[0];
    // Both fetched the same bundle (a directory that hands out one key twice).
    let bundle = common::verified(&bob.bundle(Some(otk)));
    let mut alice = Session::initiate(&alice_id, &bundle, &mut rng).unwrap();
    let mut carol = Session::initiate(&carol_id, &bundle, &mut rng).unwrap();
    let from_alice = alice.encrypt(&mut rng, b"alice").unwrap();
    let from_carol = carol.encrypt(&mut rng, b"carol").unwrap();
    let (_, pt) = bob.accept(&from_alice);
    assert_eq!(pt, b"alice");
    let before = snap_prekeys(&bob.prekeys);
    assert_eq!(
        Session::accept(&bob.identity, &mut bob.prekeys, &prekey_msg(&from_carol)).unwrap_err(),
        HandshakeError::UnknownOneTimePreKey(otk)
    );
    assert_eq!(snap_prekeys(&bob.prekeys), before);
    // A failed accept does not consume: the other one-time prekey is still there and usable.
    let fresh = common::verified(&bob.bundle(Some(bob.otk_ids[1])));
    let mut carol = Session::initiate(&carol_id, &fresh, &mut rng).unwrap();
    let (_, pt) = bob.accept(&carol.encrypt(&mut rng, b"again").unwrap());
    assert_eq!(pt, b"again");
    assert_eq!(bob.prekeys.one_time_prekey_ids().count(), 0);
}

#[test]
fn failed_accept_consumes_nothing() {
    let (mut bob, alice_id, mut rng) = setup(212, 1);
    let otk = bob.otk_ids[0];
    let mut alice = Session::initiate(
        &alice_id,
        &common::verified(&bob.bundle(Some(otk))),
        &mut rng,
    )
    .unwrap();
    let m = alice.encrypt(&mut rng, b"first").unwrap();
    // The same handshake with a corrupted ciphertext fails authentication...
    let mut parts = common::split_wire(&m);
    let last = parts.ciphertext.len() - 1;
    parts.ciphertext[last] ^= 1;
    let bad = common::join_wire(&parts);
    let before = snap_prekeys(&bob.prekeys);
    let rev = bob.prekeys.revision();
    assert_eq!(
        Session::accept(&bob.identity, &mut bob.prekeys, &prekey_msg(&bad)).unwrap_err(),
        HandshakeError::Decrypt(DecryptError::InvalidMessage)
    );
    assert_eq!(snap_prekeys(&bob.prekeys), before);
    assert_eq!(bob.prekeys.revision(), rev);
    // ...and the genuine message still works afterwards.
    let (_, pt) = bob.accept(&m);
    assert_eq!(pt, b"first");
}

#[test]
fn unknown_and_removed_signed_prekeys() {
    let (mut bob, alice_id, mut rng) = setup(213, 0);
    let bundle = common::verified(&bob.bundle(None));
    let spk = bundle.signed_prekey_id();
    let mut alice = Session::initiate(&alice_id, &bundle, &mut rng).unwrap();
    let m = alice.encrypt(&mut rng, b"x").unwrap();
    // Rotate: a new signed prekey, then the old one is deleted.
    bob.prekeys
        .generate_signed_prekey(&bob.identity, 2, &mut rng)
        .unwrap();
    bob.prekeys.remove_signed_prekey(spk).unwrap();
    let before = snap_prekeys(&bob.prekeys);
    assert_eq!(
        Session::accept(&bob.identity, &mut bob.prekeys, &prekey_msg(&m)).unwrap_err(),
        HandshakeError::UnknownSignedPreKey(spk)
    );
    assert_eq!(snap_prekeys(&bob.prekeys), before);
    // A forged id that never existed.
    let mut parts = common::split_wire(&m);
    common::pb_set(parts.prekey.as_mut().unwrap(), 3, Pb::Varint(999));
    assert_eq!(
        Session::accept(
            &bob.identity,
            &mut bob.prekeys,
            &prekey_msg(&common::join_wire(&parts))
        )
        .unwrap_err(),
        HandshakeError::UnknownSignedPreKey(999)
    );
    assert_eq!(snap_prekeys(&bob.prekeys), before);
}

#[test]
fn prekey_message_for_another_responder() {
    let (mut bob, alice_id, mut rng) = setup(214, 1);
    // Carol has prekeys with the same ids (ids start at 0 everywhere).
    let mut carol = Responder::new(&mut rng, 1);
    let mut alice = Session::initiate(
        &alice_id,
        &common::verified(&bob.bundle(Some(bob.otk_ids[0]))),
        &mut rng,
    )
    .unwrap();
    let m = alice.encrypt(&mut rng, b"for bob").unwrap();
    let before = snap_prekeys(&carol.prekeys);
    let err = Session::accept(&carol.identity, &mut carol.prekeys, &prekey_msg(&m)).unwrap_err();
    assert_eq!(err, HandshakeError::Decrypt(DecryptError::WrongSession));
    assert_eq!(snap_prekeys(&carol.prekeys), before);
    // Bob still can.
    assert_eq!(bob.accept(&m).1, b"for bob");
}

#[test]
fn prekey_message_naming_the_responder_as_sender() {
    let (mut bob, alice_id, mut rng) = setup(215, 0);
    let mut alice =
        Session::initiate(&alice_id, &common::verified(&bob.bundle(None)), &mut rng).unwrap();
    let m = alice.encrypt(&mut rng, b"x").unwrap();
    let mut parts = common::split_wire(&m);
    common::pb_set(
        parts.prekey.as_mut().unwrap(),
        1,
        Pb::Bytes(bob.identity.public_key().to_bytes().to_vec()),
    );
    let forged = common::join_wire(&parts);
    let before = snap_prekeys(&bob.prekeys);
    assert_eq!(
        Session::accept(&bob.identity, &mut bob.prekeys, &prekey_msg(&forged)).unwrap_err(),
        HandshakeError::WrongRecipient
    );
    assert_eq!(snap_prekeys(&bob.prekeys), before);
    // A sender identity that fails validation does not even parse.
    for bad in [ed::order8().encode(), [0u8; 32]] {
        let mut parts = common::split_wire(&m);
        common::pb_set(parts.prekey.as_mut().unwrap(), 1, Pb::Bytes(bad.to_vec()));
        assert!(matches!(
            Envelope::parse(&common::join_wire(&parts)),
            Err(DecryptError::Malformed)
        ));
    }
}

#[test]
fn prekey_message_with_a_low_order_base_key() {
    let (mut bob, alice_id, mut rng) = setup(216, 1);
    let otk = bob.otk_ids[0];
    for opk in [None, Some(otk)] {
        let mut alice =
            Session::initiate(&alice_id, &common::verified(&bob.bundle(opk)), &mut rng).unwrap();
        let m = alice.encrypt(&mut rng, b"x").unwrap();
        let before = snap_prekeys(&bob.prekeys);
        for key in low_order_x25519_keys() {
            let mut parts = common::split_wire(&m);
            common::pb_set(parts.prekey.as_mut().unwrap(), 2, Pb::Bytes(key.to_vec()));
            let forged = common::join_wire(&parts);
            // Non-canonical encodings (bit 255 set, or >= p) are refused when parsing; the
            // canonical low-order points by the contributory check.
            match Envelope::parse(&forged) {
                Err(e) => {
                    assert_eq!(e, sealpost::DecryptError::Malformed, "base key {key:02x?}");
                    assert!(
                        key[31] & 0x80 != 0 || key[31] == 0x7f,
                        "base key {key:02x?}"
                    );
                }
                Ok(_) => assert_eq!(
                    Session::accept(&bob.identity, &mut bob.prekeys, &prekey_msg(&forged))
                        .unwrap_err(),
                    HandshakeError::NonContributory,
                    "base key {key:02x?}"
                ),
            }
            assert_eq!(snap_prekeys(&bob.prekeys), before);
        }
    }
}

/// The PQXDH secret of Alice's session: `Session::initiate` draws EK_A first and the ML-KEM
/// encapsulation randomness second, so a twin RNG with the same seed and the same earlier draws
/// yields both.
struct Known {
    bob: Responder,
    alice_id: IdentityKeyPair,
    alice: Session,
    bob_s: Session,
    sk: [u8; 32],
    rng: rand::rngs::ChaCha20Rng,
}

fn known_session(seed: u64) -> Known {
    let (mut bob, alice_id, mut rng) = setup(seed, 0);
    let (_, _, mut twin) = setup(seed, 0);
    let mut ek = [0u8; 32];
    twin.fill_bytes(&mut ek);
    let mut m = [0u8; 32];
    twin.fill_bytes(&mut m);
    let bundle = common::verified(&bob.bundle(None));
    let mut alice = Session::initiate(&alice_id, &bundle, &mut rng).unwrap();
    assert!(alice.is_post_quantum());
    assert_eq!(&hazmat::x25519_public(&ek), alice.base_key());
    let sk = hazmat::pqxdh_initiator(&alice_id, &ek, &m, &bundle)
        .unwrap()
        .shared_secret;
    let m = alice.encrypt(&mut rng, b"hello").unwrap();
    // The tag of Alice's first ratchet key under this SK is what her message carries.
    let h = common::header_of(&m);
    assert_eq!(hazmat::session_tag(&sk, &h.ratchet_key), h.tag);
    let (bob_s, _) = bob.accept(&m);
    Known {
        bob,
        alice_id,
        alice,
        bob_s,
        sk,
        rng,
    }
}

/// A ratchet message on a new ratchet key, with the right session tag and garbage ciphertext.
fn on_new_ratchet_key(sk: &[u8; 32], key: &[u8; 32], with_tag: bool) -> Vec<u8> {
    let tag = if with_tag {
        hazmat::session_tag(sk, key)
    } else {
        [0u8; 8]
    };
    let header = hazmat::encode_header(key, 0, 0, &[1, 2, 3, 4], &tag);
    hazmat::encode_envelope(None, &header, &[0x33; 40])
}

#[test]
fn ratchet_messages_with_low_order_ratchet_keys() {
    let mut k = known_session(217);
    let rng = &mut k.rng;
    // Both sides must be ready to accept a new ratchet key (they sent since their last step).
    round_trip(&mut k.bob_s, &mut k.alice, rng, b"reply");
    round_trip(&mut k.alice, &mut k.bob_s, rng, b"ack");
    round_trip(&mut k.bob_s, &mut k.alice, rng, b"reply 2");
    let _ = k.alice.encrypt(rng, b"pending").unwrap();
    for session in [&mut k.alice, &mut k.bob_s] {
        let before = snap(session);
        for key in low_order_x25519_keys() {
            assert_eq!(
                session.decrypt(&on_new_ratchet_key(&k.sk, &key, true)),
                Err(DecryptError::NonContributory),
                "ratchet key {key:02x?}"
            );
            assert_eq!(
                session.decrypt(&on_new_ratchet_key(&k.sk, &key, false)),
                Err(DecryptError::WrongSession)
            );
            assert_eq!(snap(session), before);
        }
        // A well-formed key with the right tag gets as far as authentication.
        let fine = hazmat::x25519_public(&[9u8; 32]);
        assert_eq!(
            session.decrypt(&on_new_ratchet_key(&k.sk, &fine, true)),
            Err(DecryptError::InvalidMessage)
        );
        assert_eq!(snap(session), before);
    }
    round_trip(&mut k.bob_s, &mut k.alice, rng, b"unharmed");
}

#[test]
fn prekey_message_whose_first_ratchet_key_is_low_order() {
    // Alice's handshake is sound but her first ratchet key is low order: the X3DH passes, the
    // first DH ratchet step does not.
    let (mut bob, alice_id, _) = setup(218, 0);
    let bundle = common::verified(&bob.bundle(None));
    let ek = [0x21u8; 32];
    let pq = hazmat::pqxdh_initiator(&alice_id, &ek, &[0x22; 32], &bundle).unwrap();
    let sk = pq.shared_secret;
    let kem = (
        bundle.kem_prekey_id().unwrap(),
        pq.kem_ciphertext.as_slice().try_into().unwrap(),
    );
    let before = snap_prekeys(&bob.prekeys);
    for key in low_order_x25519_keys() {
        let header = hazmat::encode_header(&key, 0, 0, &[0; 4], &hazmat::session_tag(&sk, &key));
        let wire = hazmat::encode_envelope_with_kem(
            Some((
                alice_id.public_key().to_bytes(),
                hazmat::x25519_public(&ek),
                bundle.signed_prekey_id(),
                None,
            )),
            Some(kem),
            &header,
            &[0x44; 32],
        );
        assert_eq!(
            Session::accept(&bob.identity, &mut bob.prekeys, &prekey_msg(&wire)).unwrap_err(),
            HandshakeError::Decrypt(DecryptError::NonContributory)
        );
        assert_eq!(snap_prekeys(&bob.prekeys), before);
    }
}

#[test]
fn prekey_messages_to_existing_sessions() {
    let mut k = known_session(219);
    let rng = &mut k.rng;
    // A second handshake from Alice (she reinstalled) is a new session, not this one.
    let mut again =
        Session::initiate(&k.alice_id, &common::verified(&k.bob.bundle(None)), rng).unwrap();
    let other = again.encrypt(rng, b"new install").unwrap();
    let before = snap(&k.bob_s);
    assert_eq!(k.bob_s.decrypt(&other), Err(DecryptError::NewSession));
    assert_eq!(snap(&k.bob_s), before);
    // A prekey message from someone else is an identity mismatch, with both keys reported.
    let (_, dave_id, mut rng2) = setup(220, 0);
    let mut dave =
        Session::initiate(&dave_id, &common::verified(&k.bob.bundle(None)), &mut rng2).unwrap();
    let from_dave = dave.encrypt(&mut rng2, b"hi").unwrap();
    match k.bob_s.decrypt(&from_dave) {
        Err(DecryptError::UntrustedIdentity(m)) => {
            assert_eq!(&m.expected, k.alice_id.public_key());
            assert_eq!(&m.received, dave_id.public_key());
        }
        other => panic!("expected UntrustedIdentity, got {other:?}"),
    }
    assert_eq!(snap(&k.bob_s), before);
    // The initiator never takes prekey messages into its session.
    let a_before = snap(&k.alice);
    let to_alice = {
        let mut p = common::split_wire(&other);
        common::pb_set(
            p.prekey.as_mut().unwrap(),
            1,
            Pb::Bytes(k.bob.identity.public_key().to_bytes().to_vec()),
        );
        common::join_wire(&p)
    };
    assert_eq!(k.alice.decrypt(&to_alice), Err(DecryptError::NewSession));
    assert_eq!(snap(&k.alice), a_before);
    // Bob can still accept the reinstall as its own session.
    let (_, pt) = k.bob.accept(&other);
    assert_eq!(pt, b"new install");
}

#[test]
fn message_for_bob_given_to_carols_session() {
    let mut rng = common::rng(221);
    let mut bob = Responder::new(&mut rng, 0);
    let mut carol = Responder::new(&mut rng, 0);
    let alice_id = IdentityKeyPair::generate(&mut rng);
    let mut to_bob =
        Session::initiate(&alice_id, &common::verified(&bob.bundle(None)), &mut rng).unwrap();
    let mut to_carol =
        Session::initiate(&alice_id, &common::verified(&carol.bundle(None)), &mut rng).unwrap();
    let (mut bob_s, _) = bob.accept(&to_bob.encrypt(&mut rng, b"b").unwrap());
    let (mut carol_s, _) = carol.accept(&to_carol.encrypt(&mut rng, b"c").unwrap());
    round_trip(&mut bob_s, &mut to_bob, &mut rng, b"from bob");
    round_trip(&mut carol_s, &mut to_carol, &mut rng, b"from carol");
    // Alice's next messages to Bob: a new chain and then the same chain.
    let m1 = to_bob.encrypt(&mut rng, b"for bob 1").unwrap();
    let m2 = to_bob.encrypt(&mut rng, b"for bob 2").unwrap();
    let from_bob = bob_s.encrypt(&mut rng, b"bob to alice").unwrap();
    let before = snap(&carol_s);
    for m in [&m1, &m2] {
        assert_eq!(carol_s.decrypt(m), Err(DecryptError::WrongSession));
        assert_eq!(snap(&carol_s), before);
    }
    // Bob's message to Alice, given to Alice's session with Carol.
    let a_before = snap(&to_carol);
    assert!(to_carol.decrypt(&from_bob).is_err());
    assert_eq!(snap(&to_carol), a_before);
    // Bob's own message given back to Bob.
    let b_before = snap(&bob_s);
    assert!(bob_s.decrypt(&from_bob).is_err());
    assert_eq!(snap(&bob_s), b_before);
    assert_eq!(bob_s.decrypt(&m2).unwrap(), b"for bob 2");
    assert_eq!(bob_s.decrypt(&m1).unwrap(), b"for bob 1");
}

#[test]
fn unreduced_kem_prekey_with_a_genuine_signature_is_refused() {
    let seed = [0x13u8; 32];
    let bob = IdentityKeyPair::from_seed(&seed);
    let mut rng = common::rng(230);
    let mut prekeys = PreKeys::new();
    prekeys.generate_signed_prekey(&bob, 0, &mut rng).unwrap();
    let real = pb_decode(&prekeys.bundle(&bob, None).unwrap().to_bytes());
    let id = u32::try_from(common::pb_get(&real, 7).unwrap().varint()).unwrap();
    let key = common::pb_get(&real, 8).unwrap().bytes().to_vec();
    let kem_message =
        |key: &[u8]| [&b"sealpost kem prekey v1"[..], &id.to_be_bytes(), key].concat();
    // The test signer reproduces the crate's KEM prekey signature byte for byte.
    assert_eq!(
        &ed::sign(&seed, &kem_message(&key))[..],
        common::pb_get(&real, 9).unwrap().bytes()
    );
    // The first 12-bit coefficient set to 4095, not reduced modulo q = 3329 (FIPS 203 §7.2),
    // and genuinely signed by Bob.
    let mut bad = key.clone();
    bad[0] = 0xff;
    bad[1] |= 0x0f;
    let mut f = real.clone();
    common::pb_set(&mut f, 8, Pb::Bytes(bad.clone()));
    common::pb_set(
        &mut f,
        9,
        Pb::Bytes(ed::sign(&seed, &kem_message(&bad)).to_vec()),
    );
    let bundle = PreKeyBundle::from_bytes(&pb_encode(&f)).unwrap();
    assert_eq!(
        bundle.clone().verify().unwrap_err(),
        BundleError::InvalidKemPreKey
    );
    assert_eq!(
        bundle.verify_allowing_classical().unwrap_err(),
        BundleError::InvalidKemPreKey
    );
}
