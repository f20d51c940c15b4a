//! Hostile inputs made from valid ones, for proptest: bit flips, truncation, duplicated
//! and deleted spans, inserted random or nasty bytes (huge varints and lengths, invalid
//! UTF-8, NULs, nesting, out-of-range numbers, stray escapes), and deeply nested JSON.
//! Shared by the hostile-input tests of the mocks (`mocks/tests/hostile.rs`) and of the
//! harness's parsers (`tests/hostile_parsers.rs`), each including it with `#[path]`.

// Each test target uses the part it needs.
#![allow(dead_code)]

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::Config;

/// `default_cases` per property, or `PROPTEST_CASES` for a deep run; failures are not
/// persisted (proptest prints the minimal failing input instead).
pub fn config(default_cases: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_cases);
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

#[derive(Debug, Clone)]
pub enum Edit {
    /// Flip one bit.
    Flip(Index, u8),
    Truncate(Index),
    /// Repeat the bytes between two positions in place.
    Duplicate(Index, Index),
    Delete(Index, Index),
    Insert(Index, Vec<u8>),
}

/// Byte strings that break parsers: huge varints and lengths, invalid UTF-8, nesting,
/// numbers out of range, escapes, NULs.
pub const NASTY: &[&[u8]] = &[
    b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",
    b"\xff\xff\xff\xff\x0f",
    b"\x80",
    b"\xc3\x28",
    b"\xed\xa0\x80",
    b"\xf4\x90\x80\x80",
    b"\x00",
    b"[[[[[[[[[[[[[[[[",
    b"{\"a\":{\"a\":{\"a\":",
    b"\"",
    b"\\u0000",
    b"\\ud800",
    b"1e999999",
    b"-9223372036854775809",
    b"18446744073709551616",
    b"NaN",
    b"null",
    b"%",
    b"%zz",
    b"&&==&",
    b"\r\n",
];

pub fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<Index>(), 0u8..8).prop_map(|(i, b)| Edit::Flip(i, b)),
        any::<Index>().prop_map(Edit::Truncate),
        (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Edit::Duplicate(a, b)),
        (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Edit::Delete(a, b)),
        (any::<Index>(), prop::collection::vec(any::<u8>(), 1..12))
            .prop_map(|(i, b)| Edit::Insert(i, b)),
        (any::<Index>(), prop::sample::select(NASTY))
            .prop_map(|(i, b)| Edit::Insert(i, b.to_vec())),
    ]
}

pub fn apply(mut v: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for e in edits {
        let pos = |i: &Index| {
            if v.is_empty() {
                0
            } else {
                i.index(v.len() + 1)
            }
        };
        let span = |a: &Index, b: &Index| {
            let (a, b) = (pos(a), pos(b));
            (a.min(b), a.max(b))
        };
        match e {
            Edit::Flip(i, bit) if !v.is_empty() => {
                let at = i.index(v.len());
                v[at] ^= 1 << bit;
            }
            Edit::Flip(..) => {}
            Edit::Truncate(i) => v.truncate(pos(i)),
            Edit::Duplicate(a, b) => {
                let (a, b) = span(a, b);
                let copy = v[a..b].to_vec();
                v.splice(b..b, copy);
            }
            Edit::Delete(a, b) => {
                let (a, b) = span(a, b);
                v.drain(a..b);
            }
            Edit::Insert(i, bytes) => {
                let at = pos(i);
                v.splice(at..at, bytes.iter().copied());
            }
        }
    }
    v
}

/// `valid` with one to four edits.
pub fn mutated(valid: Vec<u8>) -> BoxedStrategy<Vec<u8>> {
    prop::collection::vec(edit(), 1..5)
        .prop_map(move |edits| apply(valid.clone(), &edits))
        .boxed()
}

/// One of `valid`, mutated.
pub fn mutated_one_of(valid: Vec<Vec<u8>>) -> BoxedStrategy<Vec<u8>> {
    prop::sample::select(valid).prop_flat_map(mutated).boxed()
}

/// JSON nested `depth` deep, arrays or objects: parsers that recurse must give up, not
/// overflow the stack.
pub fn deep_json() -> impl Strategy<Value = Vec<u8>> {
    (1usize..100_000, any::<bool>()).prop_map(|(depth, arrays)| {
        let (open, close) = if arrays { ("[", "]") } else { ("{\"a\":", "}") };
        let mut s = open.repeat(depth);
        s.push('1');
        s.push_str(&close.repeat(depth));
        s.into_bytes()
    })
}
