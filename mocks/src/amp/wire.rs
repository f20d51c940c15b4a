//! Remote-write bodies read without copying: a `WriteRequest` as label and sample slices
//! borrowed from the decompressed buffer, instead of a `String` per label name and value.
//!
//! The fast path understands exactly the common shape: time series with labels and float
//! samples, nothing else. Anything else (metadata, exemplars, native histograms, unknown
//! fields, unexpected wire types, invalid UTF-8, truncation) makes it step aside, and the
//! body is decoded with prost through `pipecheck_prompb`, so every error and every edge case
//! is prost's own. A test checks that whenever the fast path answers, prost agrees.

use std::ops::Range;

use pipecheck_prompb::{DecodeError, WriteRequest};
use prost::Message;

/// One series of a [`View`]: ranges into its `labels` and `samples`.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesView {
    pub labels: Range<usize>,
    pub samples: Range<usize>,
    /// The series carries native histograms (which the mock does not store).
    pub histograms: bool,
}

/// A decoded `WriteRequest`: every series' labels (as sent, unsorted) and samples.
#[derive(Debug, Default, PartialEq)]
pub struct View<'a> {
    pub labels: Vec<(&'a str, &'a str)>,
    pub samples: Vec<(i64, f64)>,
    pub series: Vec<SeriesView>,
}

impl<'a> View<'a> {
    pub fn labels_of(&self, s: &SeriesView) -> &[(&'a str, &'a str)] {
        &self.labels[s.labels.clone()]
    }

    pub fn samples_of(&self, s: &SeriesView) -> &[(i64, f64)] {
        &self.samples[s.samples.clone()]
    }

    /// The fast path; `None` when the body needs prost (see the module docs).
    pub fn parse(raw: &'a [u8]) -> Option<Self> {
        let mut view = View::default();
        let mut r = Reader { buf: raw, pos: 0 };
        while !r.done() {
            match r.key()? {
                (1, LEN) => {
                    let ts = r.bytes()?;
                    view.series(ts)?;
                }
                _ => return None,
            }
        }
        Some(view)
    }

    fn series(&mut self, buf: &'a [u8]) -> Option<()> {
        let labels = self.labels.len();
        let samples = self.samples.len();
        let mut r = Reader { buf, pos: 0 };
        while !r.done() {
            match r.key()? {
                (1, LEN) => {
                    let mut l = Reader {
                        buf: r.bytes()?,
                        pos: 0,
                    };
                    let (mut name, mut value) = ("", "");
                    while !l.done() {
                        match l.key()? {
                            (1, LEN) => name = std::str::from_utf8(l.bytes()?).ok()?,
                            (2, LEN) => value = std::str::from_utf8(l.bytes()?).ok()?,
                            _ => return None,
                        }
                    }
                    self.labels.push((name, value));
                }
                (2, LEN) => {
                    let mut s = Reader {
                        buf: r.bytes()?,
                        pos: 0,
                    };
                    let (mut value, mut ts) = (0.0, 0);
                    while !s.done() {
                        match s.key()? {
                            (1, FIXED64) => value = f64::from_bits(s.fixed64()?),
                            (2, VARINT) => ts = s.varint()? as i64,
                            _ => return None,
                        }
                    }
                    self.samples.push((ts, value));
                }
                _ => return None,
            }
        }
        self.series.push(SeriesView {
            labels: labels..self.labels.len(),
            samples: samples..self.samples.len(),
            histograms: false,
        });
        Some(())
    }

    /// The same view of a request prost decoded.
    pub fn of(req: &'a WriteRequest) -> Self {
        let mut view = View::default();
        for ts in &req.timeseries {
            let labels = view.labels.len();
            let samples = view.samples.len();
            view.labels.extend(
                ts.labels
                    .iter()
                    .map(|l| (l.name.as_str(), l.value.as_str())),
            );
            view.samples
                .extend(ts.samples.iter().map(|s| (s.timestamp, s.value)));
            view.series.push(SeriesView {
                labels: labels..view.labels.len(),
                samples: samples..view.samples.len(),
                histograms: !ts.histograms.is_empty(),
            });
        }
        view
    }
}

const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LEN: u8 = 2;
const FIXED32: u8 = 5;

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    #[inline(always)]
    fn done(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// A varint as prost reads it: at most ten bytes, the tenth at most 1.
    #[inline(always)]
    fn varint(&mut self) -> Option<u64> {
        // Tags and short lengths: one byte.
        let first = *self.buf.get(self.pos)?;
        if first < 0x80 {
            self.pos += 1;
            return Some(u64::from(first));
        }
        let mut v: u64 = 0;
        for i in 0..10 {
            let b = *self.buf.get(self.pos)?;
            self.pos += 1;
            if i == 9 && b > 1 {
                return None;
            }
            v |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                return Some(v);
            }
        }
        None
    }

    #[inline(always)]
    fn key(&mut self) -> Option<(u32, u8)> {
        let k = self.varint()?;
        let field = u32::try_from(k >> 3).ok()?;
        (field != 0 && k <= u64::from(u32::MAX)).then_some((field, (k & 7) as u8))
    }

    #[inline(always)]
    fn bytes(&mut self) -> Option<&'a [u8]> {
        let len = usize::try_from(self.varint()?).ok()?;
        let end = self.pos.checked_add(len)?;
        let out = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(out)
    }

    /// Steps over a value of wire type `wire`.
    fn skip(&mut self, wire: u8) -> Option<()> {
        match wire {
            VARINT => {
                self.varint()?;
            }
            FIXED64 | FIXED32 => {
                let n = if wire == FIXED64 { 8 } else { 4 };
                let end = self.pos.checked_add(n)?;
                (end <= self.buf.len()).then_some(())?;
                self.pos = end;
            }
            LEN => {
                self.bytes()?;
            }
            _ => return None,
        }
        Some(())
    }

    #[inline(always)]
    fn fixed64(&mut self) -> Option<u64> {
        let b = self.buf.get(self.pos..self.pos + 8)?;
        self.pos += 8;
        Some(u64::from_le_bytes(b.try_into().ok()?))
    }
}

/// How many series, labels and samples a body holds, counted by walking its tags without
/// decoding anything. Empty messages cost two bytes on the wire and tens in memory: a
/// 100 MiB body of empty series (4.6 MiB with snappy) once decoded to gigabytes, so the
/// decoded size is judged from this count before either decoder allocates.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Census {
    pub series: usize,
    pub labels: usize,
    pub samples: usize,
}

impl Census {
    /// `None` when the tags do not walk (the decoders then report what is wrong).
    pub fn of(raw: &[u8]) -> Option<Census> {
        let mut c = Census::default();
        let mut r = Reader { buf: raw, pos: 0 };
        while !r.done() {
            let (field, wire) = r.key()?;
            if (field, wire) != (1, LEN) {
                r.skip(wire)?;
                continue;
            }
            c.series += 1;
            let mut ts = Reader {
                buf: r.bytes()?,
                pos: 0,
            };
            while !ts.done() {
                let (field, wire) = ts.key()?;
                match (field, wire) {
                    (1, LEN) => c.labels += 1,
                    (2, LEN) => c.samples += 1,
                    _ => {}
                }
                ts.skip(wire)?;
            }
        }
        Some(c)
    }

    /// Bytes the decoded view holds at least: per series its ranges, per label two
    /// borrowed strings, per sample a timestamp and a value.
    pub fn decoded_bytes(&self) -> usize {
        self.series
            .saturating_mul(std::mem::size_of::<SeriesView>())
            .saturating_add(self.labels.saturating_mul(32))
            .saturating_add(self.samples.saturating_mul(16))
    }
}

/// The snappy half of `pipecheck_prompb::decode`, with its errors: the decompressed
/// length is read from the header first, so an oversized body is refused before it is
/// inflated.
pub fn decompress(body: &[u8], max_decompressed: usize) -> Result<Vec<u8>, DecodeError> {
    let len = snap::raw::decompress_len(body).map_err(DecodeError::Snappy)?;
    if len > max_decompressed {
        return Err(DecodeError::TooLarge {
            actual: len,
            limit: max_decompressed,
        });
    }
    snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(DecodeError::Snappy)
}

/// The protobuf half of `pipecheck_prompb::decode`.
pub fn decode_prost(raw: &[u8]) -> Result<WriteRequest, DecodeError> {
    WriteRequest::decode(raw).map_err(DecodeError::Protobuf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pipecheck_prompb::{Exemplar, Histogram, Label, MetricMetadata, Sample, TimeSeries};

    fn request() -> WriteRequest {
        WriteRequest {
            timeseries: vec![
                TimeSeries {
                    labels: vec![Label::new("__name__", "up"), Label::new("job", "a")],
                    samples: vec![
                        Sample {
                            value: 1.5,
                            timestamp: 1_700_000_000_000,
                        },
                        Sample {
                            value: 0.0,
                            timestamp: -5,
                        },
                    ],
                    ..Default::default()
                },
                TimeSeries {
                    labels: vec![Label::new("b", ""), Label::new("", "x")],
                    samples: vec![Sample {
                        value: f64::from_bits(pipecheck_prompb::STALE_NAN_BITS),
                        timestamp: 0,
                    }],
                    ..Default::default()
                },
                TimeSeries::default(),
            ],
            metadata: vec![],
        }
    }

    /// The fast path, when it answers, says what prost says.
    fn agrees(raw: &[u8]) -> bool {
        match View::parse(raw) {
            None => false,
            Some(fast) => {
                let owned = decode_prost(raw).expect("prost accepts what the fast path accepts");
                let slow = View::of(&owned);
                assert_eq!(fast.labels, slow.labels);
                assert_eq!(fast.series, slow.series);
                let bits = |v: &View| -> Vec<(i64, u64)> {
                    v.samples.iter().map(|&(t, x)| (t, x.to_bits())).collect()
                };
                assert_eq!(bits(&fast), bits(&slow));
                true
            }
        }
    }

    #[test]
    fn reads_the_common_shape_like_prost() {
        let raw = request().encode_to_vec();
        assert!(agrees(&raw));
        assert_eq!(View::parse(&raw).unwrap().series.len(), 3);
        assert!(agrees(&[]));
    }

    #[test]
    fn steps_aside_for_everything_else() {
        let mut with_meta = request();
        with_meta.metadata.push(MetricMetadata {
            r#type: 1,
            metric_family_name: "up".into(),
            help: "h".into(),
            unit: String::new(),
        });
        let mut with_exemplar = request();
        with_exemplar.timeseries[0].exemplars.push(Exemplar {
            labels: vec![],
            value: 1.0,
            timestamp: 1,
        });
        let mut with_histogram = request();
        with_histogram.timeseries[0].histograms.push(Histogram {
            count: None,
            sum: 1.0,
            schema: 0,
            zero_threshold: 0.0,
            zero_count: None,
            negative_spans: vec![],
            negative_deltas: vec![],
            negative_counts: vec![],
            positive_spans: vec![],
            positive_deltas: vec![],
            positive_counts: vec![],
            reset_hint: 0,
            timestamp: 1,
            custom_values: vec![],
        });
        for r in [with_meta, with_exemplar, with_histogram] {
            let raw = r.encode_to_vec();
            assert!(View::parse(&raw).is_none());
            assert!(decode_prost(&raw).is_ok());
        }
        let v = decode_prost(&request_with_histogram()).unwrap();
        assert!(View::of(&v).series[0].histograms);
        // Invalid UTF-8 in a label value: prost's error, not the fast path's guess.
        let mut raw = request().encode_to_vec();
        let at = raw.windows(2).position(|w| w == b"up").unwrap();
        raw[at] = 0xff;
        assert!(View::parse(&raw).is_none());
        assert!(decode_prost(&raw).is_err());
    }

    fn request_with_histogram() -> Vec<u8> {
        let mut r = request();
        r.timeseries[0].histograms.push(Histogram {
            count: None,
            sum: 0.0,
            schema: 0,
            zero_threshold: 0.0,
            zero_count: None,
            negative_spans: vec![],
            negative_deltas: vec![],
            negative_counts: vec![],
            positive_spans: vec![],
            positive_deltas: vec![],
            positive_counts: vec![],
            reset_hint: 0,
            timestamp: 0,
            custom_values: vec![],
        });
        r.encode_to_vec()
    }

    #[test]
    fn mutated_bodies_never_disagree_with_prost() {
        let raw = request().encode_to_vec();
        // A small deterministic generator: every byte flipped in a few ways, every
        // truncation, and pseudo-random multi-byte damage.
        let mut answered = 0;
        for i in 0..raw.len() {
            for x in [0x01u8, 0x80, 0xff, 0x07, 0x10] {
                let mut m = raw.clone();
                m[i] ^= x;
                answered += usize::from(agrees(&m));
            }
            answered += usize::from(agrees(&raw[..i]));
        }
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..20_000 {
            let mut m = raw.clone();
            for _ in 0..3 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let at = (seed % m.len() as u64) as usize;
                m[at] = (seed >> 32) as u8;
            }
            answered += usize::from(agrees(&m));
        }
        assert!(answered > 0, "the fast path should accept some mutations");
    }

    #[test]
    fn the_census_counts_without_decoding_and_matches_the_view() {
        let req = request();
        let raw = req.encode_to_vec();
        let c = Census::of(&raw).unwrap();
        let v = View::of(&req);
        assert_eq!(
            (c.series, c.labels, c.samples),
            (v.series.len(), v.labels.len(), v.samples.len())
        );
        // Empty series, two bytes each: 20 decoded bytes or more per byte.
        let empty = [0x0a_u8, 0x00].repeat(1000);
        let c = Census::of(&empty).unwrap();
        assert_eq!(c.series, 1000);
        assert!(c.decoded_bytes() >= 20 * empty.len());
        // Truncated tags do not walk.
        assert_eq!(Census::of(&[0x0a, 0x05, 0x00]), None);
    }

    #[test]
    fn decompression_keeps_prompbs_errors() {
        let body = pipecheck_prompb::encode(&request());
        assert!(matches!(
            decompress(&body, 4),
            Err(DecodeError::TooLarge { .. })
        ));
        for garbage in [
            &b"\xff\xff\xff\xff\xff"[..],
            b"\x05\xff\xff",
            b"\x03\x08abc",
            b"",
        ] {
            // Where decompression fails, it fails as prompb's decode does.
            if let Err(ours) = decompress(garbage, 1 << 20) {
                let theirs = pipecheck_prompb::decode(garbage, 1 << 20).unwrap_err();
                assert_eq!(ours.to_string(), theirs.to_string());
            }
        }
        let raw = decompress(&body, 1 << 20).unwrap();
        // (Compared encoded: the request holds a NaN.)
        assert_eq!(
            decode_prost(&raw).unwrap().encode_to_vec(),
            pipecheck_prompb::decode(&body, 1 << 20)
                .unwrap()
                .encode_to_vec()
        );
    }
}
