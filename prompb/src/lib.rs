//! Prometheus remote write 1.0 on the wire: the `prompb` messages (written here with
//! prost derives, field numbers from prometheus/prometheus `prompb/types.proto` and
//! `remote.proto`) and the snappy *block* format the spec requires (framed is forbidden).
//!
//! Both the harness (which writes canaries) and the mock AMP (which decodes them) use
//! this crate, so the two sides cannot drift apart on the format.

use prost::Message;

/// `WriteRequest { repeated TimeSeries timeseries = 1; reserved 2; repeated MetricMetadata metadata = 3; }`
#[derive(Clone, PartialEq, Message)]
pub struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
    #[prost(message, repeated, tag = "3")]
    pub metadata: Vec<MetricMetadata>,
}

#[derive(Clone, PartialEq, Message)]
pub struct TimeSeries {
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
    #[prost(message, repeated, tag = "3")]
    pub exemplars: Vec<Exemplar>,
    #[prost(message, repeated, tag = "4")]
    pub histograms: Vec<Histogram>,
}

#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Message)]
pub struct Label {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

impl Label {
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            value: value.into(),
        }
    }
}

/// A float sample; `timestamp` is in milliseconds since the epoch.
#[derive(Clone, PartialEq, Message)]
pub struct Sample {
    #[prost(double, tag = "1")]
    pub value: f64,
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

#[derive(Clone, PartialEq, Message)]
pub struct Exemplar {
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    #[prost(double, tag = "2")]
    pub value: f64,
    #[prost(int64, tag = "3")]
    pub timestamp: i64,
}

#[derive(Clone, PartialEq, Message)]
pub struct MetricMetadata {
    #[prost(enumeration = "MetricType", tag = "1")]
    pub r#type: i32,
    #[prost(string, tag = "2")]
    pub metric_family_name: String,
    #[prost(string, tag = "4")]
    pub help: String,
    #[prost(string, tag = "5")]
    pub unit: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum MetricType {
    Unknown = 0,
    Counter = 1,
    Gauge = 2,
    Histogram = 3,
    Gaugehistogram = 4,
    Summary = 5,
    Info = 6,
    Stateset = 7,
}

/// Native histogram. Decoded so that a request carrying one is understood, not
/// misread; the mock stores float samples only and reports native ones as unsupported.
#[derive(Clone, PartialEq, Message)]
pub struct Histogram {
    #[prost(oneof = "histogram::Count", tags = "1, 2")]
    pub count: Option<histogram::Count>,
    #[prost(double, tag = "3")]
    pub sum: f64,
    #[prost(sint32, tag = "4")]
    pub schema: i32,
    #[prost(double, tag = "5")]
    pub zero_threshold: f64,
    #[prost(oneof = "histogram::ZeroCount", tags = "6, 7")]
    pub zero_count: Option<histogram::ZeroCount>,
    #[prost(message, repeated, tag = "8")]
    pub negative_spans: Vec<BucketSpan>,
    #[prost(sint64, repeated, tag = "9")]
    pub negative_deltas: Vec<i64>,
    #[prost(double, repeated, tag = "10")]
    pub negative_counts: Vec<f64>,
    #[prost(message, repeated, tag = "11")]
    pub positive_spans: Vec<BucketSpan>,
    #[prost(sint64, repeated, tag = "12")]
    pub positive_deltas: Vec<i64>,
    #[prost(double, repeated, tag = "13")]
    pub positive_counts: Vec<f64>,
    #[prost(int32, tag = "14")]
    pub reset_hint: i32,
    #[prost(int64, tag = "15")]
    pub timestamp: i64,
    #[prost(double, repeated, tag = "16")]
    pub custom_values: Vec<f64>,
}

pub mod histogram {
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Count {
        #[prost(uint64, tag = "1")]
        CountInt(u64),
        #[prost(double, tag = "2")]
        CountFloat(f64),
    }
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum ZeroCount {
        #[prost(uint64, tag = "6")]
        ZeroCountInt(u64),
        #[prost(double, tag = "7")]
        ZeroCountFloat(f64),
    }
}

#[derive(Clone, PartialEq, Message)]
pub struct BucketSpan {
    #[prost(sint32, tag = "1")]
    pub offset: i32,
    #[prost(uint32, tag = "2")]
    pub length: u32,
}

/// The staleness marker: a NaN with these exact bits (remote write spec).
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

pub fn is_stale_marker(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("snappy block decompression failed")]
    Snappy(#[source] snap::Error),
    #[error("protobuf decoding of the WriteRequest failed")]
    Protobuf(#[source] prost::DecodeError),
    #[error("decompressed body of {actual} bytes is over the limit of {limit} bytes")]
    TooLarge { actual: usize, limit: usize },
}

/// Encodes a WriteRequest as a remote-write body: protobuf, then snappy block format.
pub fn encode(req: &WriteRequest) -> Vec<u8> {
    let raw = req.encode_to_vec();
    snap::raw::Encoder::new()
        .compress_vec(&raw)
        .expect("snappy block compression of an in-memory buffer cannot fail")
}

/// Decodes a remote-write body. The decompressed length is read from the snappy header
/// first, so an oversized body is refused before it is inflated.
pub fn decode(body: &[u8], max_decompressed: usize) -> Result<WriteRequest, DecodeError> {
    let len = snap::raw::decompress_len(body).map_err(DecodeError::Snappy)?;
    if len > max_decompressed {
        return Err(DecodeError::TooLarge {
            actual: len,
            limit: max_decompressed,
        });
    }
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(DecodeError::Snappy)?;
    WriteRequest::decode(raw.as_slice()).map_err(DecodeError::Protobuf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_request() -> WriteRequest {
        WriteRequest {
            timeseries: vec![TimeSeries {
                labels: vec![Label::new("__name__", "up"), Label::new("job", "a")],
                samples: vec![Sample {
                    value: 1.5,
                    timestamp: 1_700_000_000_000,
                }],
                ..Default::default()
            }],
            metadata: vec![],
        }
    }

    #[test]
    fn round_trips_through_snappy_block_format() {
        let req = sample_request();
        let body = encode(&req);
        assert_eq!(decode(&body, 1 << 20).unwrap(), req);
    }

    #[test]
    fn refuses_framed_snappy() {
        let raw = sample_request().encode_to_vec();
        let mut framed = snap::write::FrameEncoder::new(Vec::new());
        std::io::Write::write_all(&mut framed, &raw).unwrap();
        let framed = framed.into_inner().unwrap();
        assert!(decode(&framed, 1 << 20).is_err());
    }

    #[test]
    fn refuses_oversized_body_before_inflating() {
        let body = encode(&sample_request());
        assert!(matches!(
            decode(&body, 4),
            Err(DecodeError::TooLarge { .. })
        ));
    }

    #[test]
    fn stale_marker_is_recognised() {
        assert!(is_stale_marker(f64::from_bits(STALE_NAN_BITS)));
        assert!(!is_stale_marker(f64::NAN));
    }
}
