//! Hostile remote-write bodies for `decode`: mutated valid bodies (the snappy block, or
//! the protobuf inside it) and snappy headers that claim any length. `decode` must return
//! a value or an error, never panic, and refuse a claimed length over the limit before
//! inflating anything. `PROPTEST_CASES` raises the case count.

use pipecheck_prompb::{DecodeError, Label, Sample, TimeSeries, WriteRequest, decode, encode};
use proptest::prelude::*;
use prost::Message;

#[path = "../../tests/support/mutate.rs"]
mod mutate;

const LIMIT: usize = 1 << 20;

fn request() -> impl Strategy<Value = WriteRequest> {
    let series = (
        prop::collection::vec(("[a-z_]{1,8}", "[ -~]{0,8}"), 1..4),
        prop::collection::vec((any::<i64>(), any::<f64>()), 0..4),
    )
        .prop_map(|(labels, samples)| TimeSeries {
            labels: labels.into_iter().map(|(k, v)| Label::new(k, v)).collect(),
            samples: samples
                .into_iter()
                .map(|(timestamp, value)| Sample { value, timestamp })
                .collect(),
            ..Default::default()
        });
    prop::collection::vec(series, 0..4).prop_map(|timeseries| WriteRequest {
        timeseries,
        metadata: vec![],
    })
}

fn varint(mut n: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

proptest! {
    #![proptest_config(mutate::config(256))]

    #[test]
    fn decode_answers_mutated_snappy(body in request().prop_flat_map(|r| mutate::mutated(encode(&r)))) {
        let _ = decode(&body, LIMIT);
    }

    #[test]
    fn decode_answers_mutated_protobuf(raw in request().prop_flat_map(|r| mutate::mutated(r.encode_to_vec()))) {
        let body = snap::raw::Encoder::new().compress_vec(&raw).expect("snappy");
        match decode(&body, LIMIT) {
            // What prost accepts must survive a round trip (compared as bytes: NaN != NaN).
            Ok(req) => {
                let again = decode(&encode(&req), LIMIT).map(|r| r.encode_to_vec());
                prop_assert_eq!(again.ok(), Some(req.encode_to_vec()));
            }
            Err(e) => prop_assert!(matches!(e, DecodeError::Protobuf(_)), "{e}"),
        }
    }

    #[test]
    fn claimed_lengths_over_the_limit_are_refused_first(
        claimed in (LIMIT as u64 + 1)..u64::from(u32::MAX),
        junk in prop::collection::vec(any::<u8>(), 0..32),
    ) {
        let mut body = varint(claimed);
        body.extend(junk);
        match decode(&body, LIMIT) {
            Err(DecodeError::TooLarge { actual, limit }) => {
                prop_assert_eq!((actual as u64, limit), (claimed, LIMIT));
            }
            other => prop_assert!(false, "{other:?}"),
        }
    }
}
