//! Remote-write bodies, built before the clock starts: protobuf written directly (the
//! `prompb` field numbers; a test checks the result decodes with `pipecheck_prompb`), then
//! snappy block-compressed. Building millions of series through prost structs would make
//! the client, not the servers, the thing measured.

use bytes::Bytes;

/// One encoded remote-write request and how many samples it carries.
#[derive(Clone)]
pub struct Batch {
    pub body: Bytes,
    pub samples: usize,
}

#[derive(Default)]
pub struct RequestBuilder {
    raw: Vec<u8>,
    scratch: Vec<u8>,
    samples: usize,
}

fn varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

fn bytes_field(buf: &mut Vec<u8>, tag: u8, data: &[u8]) {
    buf.push(tag);
    varint(buf, data.len() as u64);
    buf.extend_from_slice(data);
}

impl RequestBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// A series: labels sorted by name (`__name__` first), samples in time order.
    pub fn series(&mut self, labels: &[(&str, &str)], samples: &[(i64, f64)]) {
        let mut ts = std::mem::take(&mut self.scratch);
        ts.clear();
        let mut label = Vec::with_capacity(64);
        for (k, v) in labels {
            label.clear();
            bytes_field(&mut label, 0x0a, k.as_bytes());
            bytes_field(&mut label, 0x12, v.as_bytes());
            bytes_field(&mut ts, 0x0a, &label);
        }
        let mut sample = Vec::with_capacity(20);
        for &(t, v) in samples {
            sample.clear();
            sample.push(0x09);
            sample.extend_from_slice(&v.to_le_bytes());
            sample.push(0x10);
            varint(&mut sample, t as u64);
            bytes_field(&mut ts, 0x12, &sample);
        }
        bytes_field(&mut self.raw, 0x0a, &ts);
        self.scratch = ts;
        self.samples += samples.len();
    }

    pub fn finish(self) -> Batch {
        let body = snap::raw::Encoder::new()
            .compress_vec(&self.raw)
            .expect("snappy compression of a buffer cannot fail");
        Batch {
            body: Bytes::from(body),
            samples: self.samples,
        }
    }
}

/// Decimal strings `0..n`, made once and shared by every request that names series.
pub fn numbers(n: usize) -> Vec<String> {
    (0..n).map(|i| i.to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_as_the_prompb_types() {
        let mut b = RequestBuilder::new();
        b.series(
            &[("__name__", "up"), ("job", "a")],
            &[(1_700_000_000_000, 1.5), (1_700_000_000_001, -2.0)],
        );
        b.series(&[("__name__", "x")], &[(5, 0.0)]);
        let batch = b.finish();
        assert_eq!(batch.samples, 3);
        let req = pipecheck_prompb::decode(&batch.body, 1 << 20).unwrap();
        assert_eq!(req.timeseries.len(), 2);
        let s = &req.timeseries[0];
        assert_eq!(s.labels[1].name, "job");
        assert_eq!(s.labels[1].value, "a");
        assert_eq!(s.samples[1].timestamp, 1_700_000_000_001);
        assert_eq!(s.samples[1].value, -2.0);
        assert_eq!(req.timeseries[1].samples[0].timestamp, 5);
    }
}
