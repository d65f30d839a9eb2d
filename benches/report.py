#!/usr/bin/env python3
"""Run sealpost's criterion benches and regenerate BENCHMARKS.md from their output.

    python3 benches/report.py                  # default build, criterion's default times
    python3 benches/report.py --quick          # CI: short warm-up and measurement
    python3 benches/report.py --variants all   # also the soft-Poly1305 and target-cpu=native builds
    python3 benches/report.py --no-run --variants all   # rewrite from the estimates on disk
    python3 benches/report.py --plots          # also criterion's HTML report (needs gnuplot)

Every number in the output comes from target/criterion/**/new/estimates.json (medians) and
from the sizes the record and archive benches write (sealpost-sizes*.json); none is typed by
hand. Exits
non-zero if cargo bench fails or if any estimate the report needs was not written by this run.
Standard library only.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The default build runs every bench; the other builds only those of the cross-build table.
BENCHES = ["ratchet", "handshake", "record", "archive", "group"]
VARIANT_BENCHES = ["ratchet", "handshake", "record"]
QUICK_ARGS = ["--warm-up-time", "0.5", "--measurement-time", "1"]
# Criterion's defaults (3 s + 5 s per benchmark) make three builds take an hour on two cores.
FULL_ARGS = ["--warm-up-time", "1", "--measurement-time", "4"]
SIZES_GLOB = "sealpost-sizes*.json"

# name -> (RUSTFLAGS or None for "as in the environment", target dir relative to ROOT or None
# for the normal one, description)
VARIANTS = {
    "default": (None, None, "plain release build (what an application gets by default)"),
    "soft": ('--cfg poly1305_backend="soft"', "target/bench-soft", "poly1305 soft backend"),
    "native": ("-C target-cpu=native", "target/bench-native", "target-cpu=native"),
}


def fail(msg: str) -> None:
    print(f"report.py: error: {msg}", file=sys.stderr)
    sys.exit(1)


def target_dir(variant: str) -> Path:
    rel = VARIANTS[variant][1]
    if rel is not None:
        return ROOT / rel
    env = os.environ.get("CARGO_TARGET_DIR")
    return Path(env) if env else ROOT / "target"


def criterion_home(variant: str) -> Path:
    return target_dir(variant) / "criterion"


def rustflags(variant: str) -> str:
    flags = VARIANTS[variant][0]
    if flags is None:
        return os.environ.get("RUSTFLAGS", "")
    return flags


def benches(variant: str) -> list[str]:
    return BENCHES if variant == "default" else VARIANT_BENCHES


def run_variant(variant: str, quick: bool, plots: bool, extra: list[str]) -> float:
    """Runs the benches of one build; returns the time it started (to reject stale output)."""
    env = dict(os.environ)
    env.pop("CARGO_ENCODED_RUSTFLAGS", None)
    flags = rustflags(variant)
    if flags:
        env["RUSTFLAGS"] = flags
    else:
        env.pop("RUSTFLAGS", None)
    env["CARGO_TARGET_DIR"] = str(target_dir(variant))
    env["CRITERION_HOME"] = str(criterion_home(variant))
    env["SEALPOST_PAIRED_SECS"] = "0.5" if quick else "3"
    cmd = ["cargo", "bench"]
    for b in benches(variant):
        cmd += ["--bench", b]
    cmd += ["--"] + ([] if plots else ["--noplot"]) + (QUICK_ARGS if quick else FULL_ARGS) + extra
    print(f"== {variant}: RUSTFLAGS={flags!r} {' '.join(shlex.quote(c) for c in cmd)}", flush=True)
    start = time.time() - 1
    proc = subprocess.run(cmd, cwd=ROOT, env=env)
    if proc.returncode != 0:
        fail(f"cargo bench failed for the {variant} build (exit {proc.returncode})")
    return start


def load_estimates(home: Path, since: float | None) -> dict[str, dict]:
    """full_id -> {median, lo, hi} (ns), for estimates written after `since`."""
    out = {}
    if not home.is_dir():
        return out
    for est in home.glob("**/new/estimates.json"):
        if since is not None and est.stat().st_mtime < since:
            continue
        meta = est.with_name("benchmark.json")
        try:
            full_id = json.loads(meta.read_text())["full_id"]
            median = json.loads(est.read_text())["median"]
        except (OSError, KeyError, ValueError):
            continue
        ci = median["confidence_interval"]
        out[full_id] = {
            "median": median["point_estimate"],
            "lo": ci["lower_bound"],
            "hi": ci["upper_bound"],
        }
    return out


def load_paired(home: Path, since: float | None) -> dict[str, dict]:
    """"op_id|floor_id" -> {median, q1, q3, pairs} from the benches' paired measurements."""
    out = {}
    for path in home.glob("sealpost-paired-*.json"):
        if since is not None and path.stat().st_mtime < since:
            continue
        out.update(json.loads(path.read_text()))
    return out


def load_sizes(home: Path, since: float | None) -> dict[str, int]:
    """Sizes from every sealpost-sizes*.json written after `since`, merged."""
    out = {}
    for path in sorted(home.glob(SIZES_GLOB)):
        if since is None or path.stat().st_mtime >= since:
            out.update(json.loads(path.read_text()))
    return out


def fmt_ns(ns: float | None) -> str:
    if ns is None:
        return "—"
    if ns < 1_000:
        return f"{ns:.0f} ns"
    if ns < 1_000_000:
        return f"{ns / 1_000:.2f} µs"
    return f"{ns / 1_000_000:.2f} ms"


def fmt_size(n: int) -> str:
    return f"{n:,} B"


def kib(n: int) -> str:
    return {64: "64 B", 256: "256 B", 1024: "1 KiB", 2048: "2 KiB", 65536: "64 KiB"}.get(n, f"{n} B")


# Rows of the main table: (label, operation id, floor id, max ratio or None, note).
def main_rows() -> list[tuple[str, str, str, float | None, str]]:
    rows = []
    for op, what in [("encrypt", "encrypt_into"), ("decrypt", "decrypt_into")]:
        rows.append((f"{what} 64 B", f"{op}/{what}/64", f"{op}/floor_dispatch/64", 1.2,
                     "floor with the fast AEAD (libcrux at this size)"))
        rows.append((f"{what} 64 B", f"{op}/{what}/64", f"{op}/floor/64", None,
                     "floor with chacha20poly1305 0.11 alone (before the size dispatch of src/aead.rs)"))
        rows.append((f"{what} 1 KiB", f"{op}/{what}/1024", f"{op}/floor/1024", 1.2, ""))
        rows.append((f"{what} 64 KiB", f"{op}/{what}/65536", f"{op}/floor/65536", None, ""))
        alloc = op
        rows.append((f"{alloc} (allocating) 64 B", f"{op}/{alloc}/64", f"{op}/floor/64", None,
                     "returns a new Vec"))
        rows.append((f"{alloc} (allocating) 1 KiB", f"{op}/{alloc}/1024", f"{op}/floor/1024",
                     None, "returns a new Vec"))
    rows += [
        ("DH ratchet step, send (64 B)", "dh_ratchet/send", "dh_ratchet/floor_send", 1.1,
         "keygen + DH + KDF_RK + tag + message"),
        ("DH ratchet step, receive (64 B)", "dh_ratchet/receive", "dh_ratchet/floor_receive", 1.1,
         "tag check + DH + KDF_RK + KDF_CK + open"),
        ("handshake, classical initiator", "handshake/initiator", "handshake/floor_initiator", 1.1,
         "X3DH to a classical responder: bundle parse+verify, initiate, first 64 B message"),
        ("handshake, classical responder", "handshake/responder", "handshake/floor_responder", 1.1,
         "X3DH: parse + accept of the prekey message"),
        ("handshake, PQ initiator", "handshake/pq_initiator", "handshake/floor_pq_initiator", 1.1,
         "PQXDH (default): as classical + KEM prekey signature, ML-KEM key check, encapsulation"),
        ("handshake, PQ responder", "handshake/pq_responder", "handshake/floor_pq_responder", 1.1,
         "PQXDH (default): as classical + ML-KEM keygen from seed, decapsulation, SHA-256(ct)"),
        ("bundle verify, classical", "primitives/bundle_verify", "primitives/floor_bundle_verify",
         None, "part of the classical initiator's work"),
        ("bundle verify, PQ", "primitives/pq_bundle_verify", "primitives/floor_pq_bundle_verify",
         None, "part of the PQ initiator's work (2 signatures + ML-KEM key check)"),
        ("in-order decrypt, 2,000 stored skipped keys", "skipped/in_order_decrypt/2000",
         "skipped/in_order_decrypt/0", 1.2, "floor = same with 0 stored keys (flatness)"),
        ("out-of-order decrypt, 2,000 stored skipped keys", "skipped/out_of_order_decrypt/2000",
         "skipped/out_of_order_decrypt/64", 1.2, "floor = same with 64 stored keys (flatness)"),
    ]
    return rows


# Scaling tables: (column, id pattern); {k} is the row's parameter.
SKIPPED_COLS = [
    ("in-order decrypt 64 B", "skipped/in_order_decrypt/{k}"),
    ("encrypt_into 64 B", "skipped/encrypt_into/{k}"),
    ("out-of-order decrypt 64 B", "skipped/out_of_order_decrypt/{k_ooo}"),
    ("record encode", "record/encode/{k}"),
    ("record decode (untrusted)", "record/decode/{k}"),
    ("record seal", "record/seal/{k}"),
    ("record open", "record/open/{k}"),
]
SKIPPED_K = [0, 1000, 2000]
SIZE_KEYS = {0: "record_established", 1000: "record_skipped_1000", 2000: "record_skipped_2000"}
ARCHIVE_COLS = [
    ("decrypt 64 B, new chain of the oldest session", "archive/decrypt_valid_new_chain/{k}"),
    ("forged message, same tag", "archive/decrypt_forged_new_chain/{k}"),
    ("record open", "archive/open/{k}"),
    ("record seal", "archive/seal/{k}"),
    ("record decode (untrusted)", "archive/decode/{k}"),
]
ARCHIVE_K = [0, 40]
GROUP_COLS = [
    ("group encrypt 64 B", "group_size/encrypt_64/{k}"),
    ("group decrypt 64 B (admin holds N chains)", "group_size/decrypt_64/{k}"),
    ("distribution to N members", "distribution/{k}"),
]
GROUP_K = [10, 100, 1000]
FANOUT_IDS = ["fanout_1000/broadcast/64", "fanout_1000/pairwise_x1000/64"]

AEAD_ROWS = (
    [(f"chacha20poly1305 0.11 seal {kib(n)}", f"aead/chacha20poly1305_seal/{n}")
     for n in [64, 256, 1024, 2048, 65536]]
    + [(f"libcrux-chacha20poly1305 seal {kib(n)}", f"aead/libcrux_seal/{n}")
       for n in [64, 256, 1024, 2048, 65536]]
    + [(f"size dispatch (src/aead.rs) seal {kib(n)}", f"aead/dispatch_seal/{n}") for n in [64, 1024, 65536]]
    + [(f"chacha20poly1305 0.11 open {kib(n)}", f"aead/chacha20poly1305_open/{n}")
       for n in [64, 1024, 65536]]
    + [(f"libcrux-chacha20poly1305 open {kib(n)}", f"aead/libcrux_open/{n}")
       for n in [64, 1024, 65536]]
)
SUITE_ROWS = [
    ("sealpost encrypt_into 64 B", "encrypt/encrypt_into/64"),
    ("sealpost decrypt_into 64 B", "decrypt/decrypt_into/64"),
    ("sealpost encrypt_into 1 KiB", "encrypt/encrypt_into/1024"),
    ("sealpost encrypt_into 64 KiB", "encrypt/encrypt_into/65536"),
    ("encrypt floor 64 B, fast AEAD", "encrypt/floor_dispatch/64"),
    ("DH ratchet send", "dh_ratchet/send"),
    ("handshake initiator, classical", "handshake/initiator"),
    ("handshake responder, classical", "handshake/responder"),
    ("handshake initiator, PQ", "handshake/pq_initiator"),
    ("handshake responder, PQ", "handshake/pq_responder"),
    ("X25519 DH", "primitives/x25519_dh"),
    ("X25519 keygen (base point)", "primitives/x25519_keygen"),
    ("Ed25519 verify_strict", "primitives/ed25519_verify_strict"),
    ("is_torsion_free", "primitives/is_torsion_free"),
    ("KDF_CK (2 HMAC-SHA256)", "kdf/kdf_ck"),
    ("record decode, untrusted (fresh)", "record/decode/0"),
    ("record open (fresh)", "record/open/0"),
]
# The two ways to persist and reload a fresh session record (DESIGN.md §9: < 10 µs).
RECORD_IDS = ["record/seal_open/0", "record/encode_decode/0", "record/identity_validation/0",
              "record/floor_identity_validation/0"]
RECORD_PAIR = "record/encode_decode/0|record/floor_identity_validation/0"


def scaling_id(pattern: str, k: int) -> str:
    return pattern.format(k=k, k_ooo=k if k else 64)


def required_ids(variant: str) -> set[str]:
    ids = {i for _, i in AEAD_ROWS} | {i for _, i in SUITE_ROWS}
    if variant != "default":
        return ids
    for _, op, floor, _, _ in main_rows():
        ids |= {op, floor}
    ids |= set(RECORD_IDS) | set(FANOUT_IDS)
    for cols, ks in [(SKIPPED_COLS, SKIPPED_K), (ARCHIVE_COLS, ARCHIVE_K), (GROUP_COLS, GROUP_K)]:
        ids |= {scaling_id(p, k) for _, p in cols for k in ks}
    return ids


REQUIRED_SIZES = ["record_established", "seal_overhead", "record_archived_40"] + list(SIZE_KEYS.values())


def sh(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def machine() -> list[str]:
    model, flags = "unknown", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and model == "unknown":
                model = value.strip()
            if key.strip() == "flags" and not flags:
                flags = set(value.split())
    except OSError:
        pass
    simd = [f for f in ["avx2", "avx512f", "avx512ifma"] if f in flags]
    return [
        f"- CPU: {model} ({', '.join(simd) or 'no AVX2'}), {os.cpu_count()} logical cores "
        f"(nproc: {sh(['nproc'])})",
        f"- {sh(['rustc', '-V'])}; {sh(['cargo', '-V'])}; {platform.system()} {platform.release()}",
    ]


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def svg_plot(title: str, xlabel: str, ks, series: list[tuple[str, list]]) -> str:
    """A small self-contained SVG line chart: one line per series, x = the table's rows (evenly
    spaced, labelled with their k), y = median time from 0. No plotting library needed."""
    W, H, L, R, T, B = 640, 360, 70, 170, 40, 50
    vals = [v for _, ys in series for v in ys if v is not None]
    top = max(vals) * 1.1 if vals else 1.0
    unit, div = (("ms", 1e6) if top >= 1e6 else ("µs", 1e3) if top >= 1e3 else ("ns", 1.0))
    x = lambda i: L + (W - L - R) * (i / max(1, len(ks) - 1))  # noqa: E731
    y = lambda v: T + (H - T - B) * (1 - v / top)  # noqa: E731
    colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]
    o = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
         f'font-family="sans-serif" font-size="11">',
         f'<rect width="{W}" height="{H}" fill="white"/>',
         f'<text x="{W / 2}" y="20" text-anchor="middle" font-size="13">{title}</text>',
         f'<line x1="{L}" y1="{H - B}" x2="{W - R}" y2="{H - B}" stroke="black"/>',
         f'<line x1="{L}" y1="{T}" x2="{L}" y2="{H - B}" stroke="black"/>',
         f'<text x="{(L + W - R) / 2}" y="{H - 12}" text-anchor="middle">{xlabel}</text>']
    for t in range(5):
        v = top * t / 4
        o.append(f'<text x="{L - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{v / div:.3g} {unit}</text>')
        o.append(f'<line x1="{L}" y1="{y(v):.1f}" x2="{W - R}" y2="{y(v):.1f}" stroke="#ddd"/>')
    for i, k in enumerate(ks):
        o.append(f'<text x="{x(i):.1f}" y="{H - B + 16}" text-anchor="middle">{k:,}</text>')
    for n, (name, ys) in enumerate(series):
        c = colors[n % len(colors)]
        pts = [(x(i), y(v)) for i, v in enumerate(ys) if v is not None]
        if pts:
            o.append(f'<polyline fill="none" stroke="{c}" stroke-width="2" points="'
                     + " ".join(f"{a:.1f},{b:.1f}" for a, b in pts) + '"/>')
            o += [f'<circle cx="{a:.1f}" cy="{b:.1f}" r="3" fill="{c}"/>' for a, b in pts]
        ly = T + 14 * n + 6
        o.append(f'<line x1="{W - R + 10}" y1="{ly}" x2="{W - R + 28}" y2="{ly}" stroke="{c}" '
                 f'stroke-width="2"/><text x="{W - R + 32}" y="{ly + 4}">{name}</text>')
    o.append("</svg>")
    return "\n".join(o) + "\n"


PLOTS: dict[str, str] = {}


def render(results: dict, paired: dict, sizes: dict, ran: dict, quick: bool,
           args_line: str, plot_dir: str = "") -> str:
    d = results.get("default", {})
    med = lambda r, i: r.get(i, {}).get("median")  # noqa: E731
    out = []
    w = out.append
    w("# sealpost benchmarks")
    w("")
    w("Generated by `benches/report.py` from criterion's estimates (medians); do not edit by hand.")
    w(f"Mode: **{'quick (CI: short warm-up and measurement — indicative only)' if quick else 'full'}**; "
      f"generated {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC.")
    w("")
    w("A *floor* is the same operation composed directly from the primitive crates, doing only "
      "the work the protocol cannot avoid, measured in the same binary and run; each floor is "
      "checked to produce the same bytes (or recover the same plaintext) as sealpost before it "
      "is timed (`benches/common/mod.rs`). The machine is shared with other builds, so absolute "
      "medians are noisy, and criterion times an operation and its floor at different moments. "
      "The *paired ratio* is therefore measured as well: operation and floor run in alternating "
      "blocks of about 0.5 ms (op, floor, floor, op, ...), and the column gives the median and "
      "interquartile range of the per-block-pair ratios. Targets are judged on it where it exists.")
    w("")
    w("## Operations against their floors (default build)")
    w("")
    w("| operation | median | floor | ratio | paired ratio [IQR] | target | met? | floor is |")
    w("| --- | ---: | ---: | ---: | ---: | ---: | :---: | --- |")
    for label, op, floor, limit, note in main_rows():
        a, b = med(d, op), med(d, floor)
        r = ratio(a, b)
        pr = paired.get(f"{op}|{floor}")
        judged = pr["median"] if pr else r
        target = f"≤ {limit:.1f}x" if limit else "—"
        met = "—" if limit is None or judged is None else ("yes" if judged <= limit else "**no**")
        pcell = f"{pr['median']:.2f}x [{pr['q1']:.2f}–{pr['q3']:.2f}]" if pr else "—"
        w(f"| {label} | {fmt_ns(a)} | {fmt_ns(b)} | {f'{r:.2f}x' if r else '—'} | {pcell} | {target} "
          f"| {met} | `{floor}`{' — ' + note if note else ''} |")
    # Records: both persist-and-reload paths, timed as one cycle each. The target is judged on
    # the path a gateway uses (seal + open); the untrusted path is reported beside it.
    gateway, untrusted = med(d, "record/seal_open/0"), med(d, "record/encode_decode/0")
    validation = med(d, "record/identity_validation/0")
    below = lambda v: "—" if v is None else ("yes" if v < 10_000 else "**no**")  # noqa: E731
    w(f"| record seal + open, fresh session: **the gateway's path** | {fmt_ns(gateway)} | — | — "
      f"| — | < 10 µs | {below(gateway)} | `SessionRecord::seal` + `open` (what `Store` does per "
      f"message): AEAD under the storage key, then decoding that checks identity keys' encodings "
      f"only (PROTOCOL.md §6.4); seal {fmt_ns(med(d, 'record/seal/0'))}, open "
      f"{fmt_ns(med(d, 'record/open/0'))} |")
    vfloor = med(d, "record/floor_identity_validation/0")
    r = ratio(untrusted, vfloor)
    pr = paired.get(RECORD_PAIR)
    pcell = f"{pr['median']:.2f}x [{pr['q1']:.2f}–{pr['q3']:.2f}]" if pr else "—"
    w(f"| record encode + decode, fresh session: untrusted bytes | {fmt_ns(untrusted)} "
      f"| {fmt_ns(vfloor)} | {f'{r:.2f}x' if r else '—'} | {pcell} | (< 10 µs) | {below(untrusted)} "
      f"| `record/floor_identity_validation/0` — `SessionRecord::to_bytes` + `from_bytes`, which "
      f"validates both identity keys in full; the floor is those two validations from "
      f"curve25519-dalek alone (`IdentityKey::from_bytes` twice: {fmt_ns(validation)}); encode "
      f"{fmt_ns(med(d, 'record/encode/0'))}, decode {fmt_ns(med(d, 'record/decode/0'))} |")
    n = sizes.get("record_established")
    if n is not None:
        w(f"| record size, fresh session | {fmt_size(n)} | — | — | — | < 1 KiB | "
          f"{'yes' if n < 1024 else '**no**'} | `SessionRecord::to_bytes` after one round trip; "
          f"sealed: {fmt_size(n + sizes.get('seal_overhead', 0))} |")
    w("")
    w("The record target (DESIGN.md §9: session record encode + decode < 10 µs) is judged on the "
      "row marked as the gateway's path: a gateway or `Store` keeps records sealed and reloads "
      "them with `open` for every message. `open` first authenticates the bytes with the storage "
      "key; since sealpost seals only identity keys that passed validation, it then checks their "
      "encodings but not the curve (decompression, small order, torsion). `from_bytes` cannot "
      "know where its bytes come from and validates both identity keys in full, whose floor "
      f"alone is {fmt_ns(vfloor)}; that row is reported beside it, with the target in "
      "parentheses, not judged.")
    w("")

    def scaling(title: str, head: str, cols, ks, size_of, note: str) -> None:
        w(f"## {title} (default build)")
        w("")
        name = title.lower().replace(" ", "-") + ".svg"
        PLOTS[name] = svg_plot(title, head, ks,
                               [(c, [med(d, scaling_id(p, k)) for k in ks]) for c, p in cols])
        w(f"![{title}]({plot_dir}{name})")
        w("")
        w(f"| {head} | " + " | ".join(c for c, _ in cols) + (" | record size |" if size_of else " |"))
        w("| ---: |" + " ---: |" * (len(cols) + (1 if size_of else 0)))
        for k in ks:
            cells = [fmt_ns(med(d, scaling_id(p, k))) for _, p in cols]
            if size_of:
                size = sizes.get(size_of(k))
                cells.append(fmt_size(size) if size is not None else "—")
            w(f"| {k:,} | " + " | ".join(cells) + " |")
        w("")
        w(note)
        w("")

    scaling("Cost against stored skipped keys", "stored skipped keys", SKIPPED_COLS, SKIPPED_K,
            SIZE_KEYS.get,
            "Out-of-order decryption needs a stored key: its 0 row is a session holding 64 keys. "
            "Each timed batch starts from a copy of a session with that many keys and uses up 64 of "
            "them in shuffled order. Record encode, decode, seal and open grow with the keys by "
            "nature (every key is written and read).")
    scaling("Cost against archived sessions", "archived sessions", ARCHIVE_COLS, ARCHIVE_K,
            lambda k: f"record_archived_{k}",
            "A record with that many previous sessions besides the current one (the customer "
            "reinstalled each time). The valid message comes from the oldest session on a new "
            "ratchet key, so it is found by its session tag; the forged one carries the same tag "
            "with a flipped ciphertext bit, so it costs one DH step before the AEAD refuses it. "
            "Loading and storing the record grow with its size by nature; `from_bytes` validates "
            "each distinct identity key once per record, not once per session.")
    bc, pw = (med(d, i) for i in FANOUT_IDS)
    dist = {k: med(d, f"distribution/{k}") for k in GROUP_K}
    per_member = ", ".join(
        f"{fmt_ns(dist[k] / k) if dist[k] is not None else '—'} at N = {k:,}" for k in GROUP_K)
    scaling("Cost against group size", "members N", GROUP_COLS, GROUP_K, None,
            "Encrypting and decrypting a group message does no per-member work (the sender chain "
            "is found by sender, a map lookup). Handing a new chain to N members grows by nature: "
            f"one pairwise encryption each (per member: {per_member}). A broadcast of 64 B to "
            f"1,000 subscribers costs {fmt_ns(bc)}, against {fmt_ns(pw)} for 1,000 pairwise "
            "encryptions of it.")
    w(f"The plots above are SVG files in `{plot_dir}` written by this script from the same medians. "
      "Plots of every benchmark are also in criterion's HTML report, "
      "`target/criterion/report/index.html` (under `CARGO_TARGET_DIR` if set); criterion writes "
      "it only with a plotting backend and without `--noplot`: run `python3 benches/report.py "
      "--plots` with gnuplot on the PATH (the crate builds criterion without its plotters feature).")
    if sizes:
        w("")
        w("Sizes: " + ", ".join(f"{k} = {fmt_size(v)}" for k, v in sorted(sizes.items())) + ".")
    w("")
    w("## ChaCha20-Poly1305 with a fresh key, and the suite in three builds")
    w("")
    variants = [v for v in VARIANTS if v in results]
    w("`soft` = `RUSTFLAGS='--cfg poly1305_backend=\"soft\"'`, `native` = "
      "`RUSTFLAGS='-C target-cpu=native'`, each in its own target dir. libcrux-chacha20poly1305 "
      "and the size dispatch of src/aead.rs (libcrux up to 1 KiB, chacha20poly1305 above) are "
      "checked to give the same bytes as chacha20poly1305 for every size 0..=2100 B, 4 KiB and "
      "64 KiB before timing. Columns from different builds are different runs.")
    w("")
    w("| operation | " + " | ".join(variants) + " |")
    w("| --- |" + " ---: |" * len(variants))
    for label, i in AEAD_ROWS + SUITE_ROWS:
        w(f"| {label} | " + " | ".join(fmt_ns(med(results[v], i)) for v in variants) + " |")
    w("")
    w("## Machine and build")
    w("")
    out.extend(machine())
    crit = " ".join(QUICK_ARGS if quick else FULL_ARGS)
    w(f"- criterion: `{crit}` per benchmark (handshake group: 30 samples; distribution and "
      f"fanout_1000: 20); paired ratios: "
      f"{'0.5' if quick else '3'} s per pair")
    for v in variants:
        info = ran.get(v, {})
        w(f"- `{v}` build ({VARIANTS[v][2]}): RUSTFLAGS=`{rustflags(v) or '(none)'}`, target dir "
          f"`{target_dir(v).relative_to(ROOT) if target_dir(v).is_relative_to(ROOT) else target_dir(v)}`"
          + (f"; load average before/after: {info['load_before']} / {info['load_after']}"
             if info else "; estimates read from disk (--no-run)"))
    w("")
    w("## Reproduce")
    w("")
    w("```sh")
    w(f"python3 benches/report.py {args_line}".rstrip())
    w("# or by hand: the default build, then one of the others")
    w("cargo bench " + " ".join(f"--bench {b}" for b in BENCHES))
    w("RUSTFLAGS='--cfg poly1305_backend=\"soft\"' CARGO_TARGET_DIR=target/bench-soft \\")
    w("  cargo bench " + " ".join(f"--bench {b}" for b in VARIANT_BENCHES))
    w("```")
    w("")
    w("## All medians")
    w("")
    w("| benchmark | " + " | ".join(variants) + " |")
    w("| --- |" + " ---: |" * len(variants))
    all_ids = sorted(set().union(*(results[v].keys() for v in variants)))
    for i in all_ids:
        w(f"| `{i}` | " + " | ".join(fmt_ns(med(results[v], i)) for v in variants) + " |")
    w("")
    return "\n".join(out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="short warm-up/measurement (CI)")
    p.add_argument("--variants", default="default",
                   help="comma-separated builds to run: default,soft,native or all")
    p.add_argument("--no-run", action="store_true", help="only read existing estimates")
    p.add_argument("--plots", action="store_true",
                   help="let criterion write its HTML report with plots (needs gnuplot)")
    p.add_argument("--output", default=str(ROOT / "BENCHMARKS.md"))
    p.add_argument("criterion_args", nargs="*", help="passed to criterion after `--`")
    a = p.parse_args()
    variants = list(VARIANTS) if a.variants == "all" else a.variants.split(",")
    for v in variants:
        if v not in VARIANTS:
            fail(f"unknown variant {v!r}")
    if "default" not in variants:
        fail("the default build is required (the main tables come from it)")

    results, ran, sizes, paired = {}, {}, {}, {}
    t0 = time.time()
    for v in variants:
        since = None
        if not a.no_run:
            before = "%.2f" % os.getloadavg()[0]
            since = run_variant(v, a.quick, a.plots, a.criterion_args)
            ran[v] = {"load_before": before, "load_after": "%.2f" % os.getloadavg()[0]}
        results[v] = load_estimates(criterion_home(v), since)
        missing = sorted(required_ids(v) - results[v].keys())
        if missing:
            fail(f"{v} build: {len(missing)} estimates missing or stale: {', '.join(missing[:8])}"
                 + (" ..." if len(missing) > 8 else ""))
        if v == "default":
            paired = load_paired(criterion_home(v), since)
            want = {f"{op}|{floor}" for _, op, floor, limit, _ in main_rows() if limit}
            want.add(RECORD_PAIR)
            if not a.no_run and want - paired.keys():
                fail(f"paired ratios missing: {', '.join(sorted(want - paired.keys()))}")
            sizes = load_sizes(criterion_home(v), since)
            missing = [k for k in REQUIRED_SIZES if k not in sizes]
            if missing:
                fail(f"sizes missing or stale in {criterion_home(v)}: {', '.join(missing)}")

    args_line = " ".join(
        (["--quick"] if a.quick else [])
        + ([f"--variants {','.join(variants)}"] if variants != ["default"] else [])
        + (["--plots"] if a.plots else [])
    )
    out = Path(a.output)
    plots = ROOT / "benches" / "plots" if out.resolve() == (ROOT / "BENCHMARKS.md").resolve() \
        else out.parent / (out.stem + "-plots")
    rel = os.path.relpath(plots, out.parent) + "/"
    text = render(results, paired, sizes, ran, a.quick, args_line, rel)
    plots.mkdir(parents=True, exist_ok=True)
    for name, svg in PLOTS.items():
        (plots / name).write_text(svg)
    out.write_text(text)
    print(f"wrote {a.output} ({len(results['default'])} estimates, {time.time() - t0:.0f} s)")


if __name__ == "__main__":
    main()
