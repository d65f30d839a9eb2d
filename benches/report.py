#!/usr/bin/env python3
"""Run sealpost's criterion benches and regenerate BENCHMARKS.md from their output.

    python3 benches/report.py                  # default build, criterion's default times
    python3 benches/report.py --quick          # CI: short warm-up and measurement
    python3 benches/report.py --variants all   # also the soft-Poly1305 and target-cpu=native builds
    python3 benches/report.py --no-run --variants all   # rewrite from the estimates on disk

Every number in the output comes from target/criterion/**/new/estimates.json (medians) and
from the sizes the record bench writes (sealpost-sizes.json); none is typed by hand. Exits
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
BENCHES = ["ratchet", "handshake", "record"]
QUICK_ARGS = ["--warm-up-time", "0.5", "--measurement-time", "1"]
# Criterion's defaults (3 s + 5 s per benchmark) make three builds take an hour on two cores.
FULL_ARGS = ["--warm-up-time", "1", "--measurement-time", "4"]
SIZES_FILE = "sealpost-sizes.json"

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


def run_variant(variant: str, quick: bool, extra: list[str]) -> float:
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
    for b in BENCHES:
        cmd += ["--bench", b]
    cmd += ["--", "--noplot"] + (QUICK_ARGS if quick else FULL_ARGS) + extra
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


def load_sizes(home: Path, since: float | None) -> dict[str, int] | None:
    path = home / SIZES_FILE
    if not path.is_file() or (since is not None and path.stat().st_mtime < since):
        return None
    return json.loads(path.read_text())


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


SCALING_IDS = {
    "in-order decrypt 64 B": "skipped/in_order_decrypt/{k}",
    "encrypt_into 64 B": "skipped/encrypt_into/{k}",
    "out-of-order decrypt 64 B": "skipped/out_of_order_decrypt/{k_ooo}",
    "record encode": "record/encode/{k}",
    "record decode": "record/decode/{k}",
}
SCALING_K = [0, 1000, 2000]
SIZE_KEYS = {0: "record_established", 1000: "record_skipped_1000", 2000: "record_skipped_2000"}

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
    ("record decode (fresh)", "record/decode/0"),
]


def required_ids() -> set[str]:
    ids = set()
    for _, op, floor, _, _ in main_rows():
        ids |= {op, floor}
    for pattern in SCALING_IDS.values():
        for k in SCALING_K:
            ids.add(pattern.format(k=k, k_ooo=k if k else 64))
    ids |= {i for _, i in AEAD_ROWS} | {i for _, i in SUITE_ROWS}
    return ids


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


def render(results: dict, paired: dict, sizes: dict | None, ran: dict, quick: bool,
           args_line: str) -> str:
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
    enc, dec = med(d, "record/encode/0"), med(d, "record/decode/0")
    both = enc + dec if enc is not None and dec is not None else None
    met = "—" if both is None else ("yes" if both < 10_000 else "**no**")
    w(f"| record encode + decode, fresh session | {fmt_ns(both)} | — | — | — | < 10 µs | {met} "
      f"| encode {fmt_ns(enc)} + decode {fmt_ns(dec)} |")
    if sizes:
        n = sizes["record_established"]
        w(f"| record size, fresh session | {fmt_size(n)} | — | — | — | < 1 KiB | "
          f"{'yes' if n < 1024 else '**no**'} | after one round trip |")
    w("")
    w("## Cost against stored skipped keys (default build)")
    w("")
    w("| stored skipped keys | " + " | ".join(SCALING_IDS) + " | record size |")
    w("| ---: |" + " ---: |" * (len(SCALING_IDS) + 1))
    for k in SCALING_K:
        cells = [fmt_ns(med(d, p.format(k=k, k_ooo=k if k else 64))) for p in SCALING_IDS.values()]
        size = fmt_size(sizes[SIZE_KEYS[k]]) if sizes else "—"
        w(f"| {k:,} | " + " | ".join(cells) + f" | {size} |")
    w("")
    w("Out-of-order decryption needs a stored key: its 0 row is a session holding 64 keys. Each "
      "timed batch starts from a copy of a session with that many keys and uses up 64 of them "
      "in shuffled order. Record encode/decode grow with the keys by nature (the work grows).")
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
    w(f"- criterion: `{crit}` per benchmark (handshake group: 30 samples); paired ratios: "
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
    w("# or by hand, one build:")
    w("cargo bench --bench ratchet --bench handshake --bench record")
    w("RUSTFLAGS='--cfg poly1305_backend=\"soft\"' CARGO_TARGET_DIR=target/bench-soft \\")
    w("  cargo bench --bench ratchet --bench handshake --bench record")
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
    p.add_argument("--output", default=str(ROOT / "BENCHMARKS.md"))
    p.add_argument("criterion_args", nargs="*", help="passed to criterion after `--`")
    a = p.parse_args()
    variants = list(VARIANTS) if a.variants == "all" else a.variants.split(",")
    for v in variants:
        if v not in VARIANTS:
            fail(f"unknown variant {v!r}")
    if "default" not in variants:
        fail("the default build is required (the main tables come from it)")

    results, ran, sizes, paired = {}, {}, None, {}
    t0 = time.time()
    for v in variants:
        since = None
        if not a.no_run:
            before = "%.2f" % os.getloadavg()[0]
            since = run_variant(v, a.quick, a.criterion_args)
            ran[v] = {"load_before": before, "load_after": "%.2f" % os.getloadavg()[0]}
        results[v] = load_estimates(criterion_home(v), since)
        missing = sorted(required_ids() - results[v].keys())
        if missing:
            fail(f"{v} build: {len(missing)} estimates missing or stale: {', '.join(missing[:8])}"
                 + (" ..." if len(missing) > 8 else ""))
        if v == "default":
            paired = load_paired(criterion_home(v), since)
            want = {f"{op}|{floor}" for _, op, floor, limit, _ in main_rows() if limit}
            if not a.no_run and want - paired.keys():
                fail(f"paired ratios missing: {', '.join(sorted(want - paired.keys()))}")
            sizes = load_sizes(criterion_home(v), since)
            if sizes is None:
                fail(f"{SIZES_FILE} missing or stale in {criterion_home(v)}")

    args_line = " ".join(
        (["--quick"] if a.quick else [])
        + ([f"--variants {','.join(variants)}"] if variants != ["default"] else [])
    )
    text = render(results, paired, sizes, ran, a.quick, args_line)
    Path(a.output).write_text(text)
    print(f"wrote {a.output} ({len(results['default'])} estimates, {time.time() - t0:.0f} s)")


if __name__ == "__main__":
    main()
