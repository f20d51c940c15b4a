//! Numeric bodies of PromQL functions, ported from Prometheus v3.9 (`promql/functions.go`,
//! `promql/quantile.go`) with the same order of floating-point operations, so results
//! match to the bit.

/// Samples of one series inside a range window `(start, end]`, stale markers removed.
pub(super) type Window<'a> = &'a [(i64, f64)];

/// Kahan-Babuška-Neumaier summation step (`kahanSumInc`).
pub(super) fn kahan_sum_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if t.is_infinite() {
        0.0
    } else if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

/// `time.Duration.Seconds()` for a whole number of milliseconds.
pub(super) fn duration_seconds(ms: i64) -> f64 {
    (ms / 1000) as f64 + ((ms % 1000) * 1_000_000) as f64 / 1e9
}

/// `extrapolatedRate`: rate, increase (counters) and delta (gauges). The window must be
/// `(range_end - range_ms, range_end]`.
pub(super) fn extrapolated_rate(
    w: Window,
    range_end: i64,
    range_ms: i64,
    is_counter: bool,
    is_rate: bool,
) -> Option<f64> {
    if w.len() < 2 {
        return None;
    }
    let range_start = range_end - range_ms;
    let n_minus_one = w.len() - 1;
    let (first_t, first_v) = w[0];
    let (last_t, last_v) = w[n_minus_one];
    let mut result = last_v - first_v;
    if is_counter {
        let mut prev = first_v;
        for &(_, v) in &w[1..] {
            if v < prev {
                result += prev;
            }
            prev = v;
        }
    }
    let mut duration_to_start = (first_t - range_start) as f64 / 1000.0;
    let mut duration_to_end = (range_end - last_t) as f64 / 1000.0;
    let sampled_interval = (last_t - first_t) as f64 / 1000.0;
    let average_between_samples = sampled_interval / n_minus_one as f64;
    let threshold = average_between_samples * 1.1;
    if duration_to_start >= threshold {
        duration_to_start = average_between_samples / 2.0;
    }
    if is_counter {
        // A counter cannot go below zero: do not extrapolate past its zero point.
        let mut duration_to_zero = duration_to_start;
        if result > 0.0 && first_v >= 0.0 {
            duration_to_zero = sampled_interval * (first_v / result);
        }
        if duration_to_zero < duration_to_start {
            duration_to_start = duration_to_zero;
        }
    }
    if duration_to_end >= threshold {
        duration_to_end = average_between_samples / 2.0;
    }
    let mut factor = (sampled_interval + duration_to_start + duration_to_end) / sampled_interval;
    if is_rate {
        factor /= duration_seconds(range_ms);
    }
    Some(result * factor)
}

/// `instantValue`: irate (`is_rate`) and idelta from the last two samples.
pub(super) fn instant_value(w: Window, is_rate: bool) -> Option<f64> {
    if w.len() < 2 {
        return None;
    }
    let (t0, v0) = w[w.len() - 2];
    let (t1, v1) = w[w.len() - 1];
    let sampled_interval = t1 - t0;
    if sampled_interval == 0 {
        return None;
    }
    let mut result = v1;
    // Gauge, counter without reset, or counter with NaN value; on a reset keep v1.
    if !is_rate || v1 >= v0 || v1.is_nan() || v0.is_nan() {
        result = v1 - v0;
    }
    if is_rate {
        result /= sampled_interval as f64 / 1000.0;
    }
    Some(result)
}

/// `avg_over_time`: Kahan-compensated sum, switching to an incremental mean on overflow.
pub(super) fn avg_over_time(w: Window) -> f64 {
    let mut sum = w[0].1;
    let mut count = 1.0;
    let mut mean = 0.0;
    let mut c = 0.0;
    let mut incremental = false;
    for (i, &(_, f)) in w[1..].iter().enumerate() {
        count = (i + 2) as f64;
        if !incremental {
            let (new_sum, new_c) = kahan_sum_inc(f, sum, c);
            if !new_sum.is_infinite() {
                sum = new_sum;
                c = new_c;
                continue;
            }
            incremental = true;
            mean = sum / (count - 1.0);
            c /= count - 1.0;
        }
        let q = (count - 1.0) / count;
        (mean, c) = kahan_sum_inc(f / count, q * mean, q * c);
    }
    if incremental {
        mean + c
    } else {
        sum / count + c / count
    }
}

pub(super) fn sum_over_time(w: Window) -> f64 {
    let (mut sum, mut c) = (0.0, 0.0);
    for &(_, f) in w {
        (sum, c) = kahan_sum_inc(f, sum, c);
    }
    if sum.is_infinite() { sum } else { sum + c }
}

/// `compareOverTime` for max (`want_max`) and min: NaN is replaced by any later value.
pub(super) fn extreme_over_time(w: Window, want_max: bool) -> f64 {
    let mut best = w[0].1;
    for &(_, f) in w {
        let better = if want_max { f > best } else { f < best };
        if better || best.is_nan() {
            best = f;
        }
    }
    best
}

/// `varianceOverTime` (population variance, Kahan-compensated Welford).
pub(super) fn variance_over_time(w: Window) -> f64 {
    let mut count = 0.0;
    let (mut mean, mut c_mean) = (0.0, 0.0);
    let (mut aux, mut c_aux) = (0.0, 0.0);
    for &(_, f) in w {
        count += 1.0;
        let delta = f - (mean + c_mean);
        (mean, c_mean) = kahan_sum_inc(delta / count, mean, c_mean);
        (aux, c_aux) = kahan_sum_inc(delta * (f - (mean + c_mean)), aux, c_aux);
    }
    (aux + c_aux) / count
}

pub(super) fn changes(w: Window) -> f64 {
    let mut n = 0;
    for pair in w.windows(2) {
        let (prev, cur) = (pair[0].1, pair[1].1);
        if cur != prev && !(cur.is_nan() && prev.is_nan()) {
            n += 1;
        }
    }
    n as f64
}

pub(super) fn resets(w: Window) -> f64 {
    w.windows(2).filter(|p| p[1].1 < p[0].1).count() as f64
}

/// `quantile` (the aggregation and `quantile_over_time`): NaN sorts first, linear
/// interpolation between the two closest ranks.
pub(super) fn quantile(q: f64, mut values: Vec<f64>) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    values.sort_by(|a, b| match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        _ => a.partial_cmp(b).expect("not NaN"),
    });
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = f64::max(0.0, rank.floor());
    let upper = f64::min(n - 1.0, lower + 1.0);
    let weight = rank - rank.floor();
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
}

/// Go's `sort.Search`.
fn go_search(n: usize, f: impl Fn(usize) -> bool) -> usize {
    let (mut i, mut j) = (0, n);
    while i < j {
        let h = (i + j) / 2;
        if !f(h) {
            i = h + 1;
        } else {
            j = h;
        }
    }
    i
}

/// Prometheus' `almost.Equal` (stale markers are never buckets here).
fn almost_equal(a: f64, b: f64, epsilon: f64) -> bool {
    const MIN_NORMAL: f64 = f64::MIN_POSITIVE; // 0x0010000000000000
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < MIN_NORMAL {
        return diff < epsilon * MIN_NORMAL;
    }
    diff / f64::min(abs_sum, f64::MAX) < epsilon
}

/// `BucketQuantile` over classic buckets `(upper bound, cumulative count)`.
pub(super) fn bucket_quantile(q: f64, buckets: &mut Vec<(f64, f64)>) -> f64 {
    if q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    // Go sorts with a comparator that calls NaN bounds equal to everything; order them last
    // here (a NaN `le` is not a real histogram).
    buckets.sort_by(|a, b| {
        a.0.partial_cmp(&b.0)
            .unwrap_or_else(|| a.0.is_nan().cmp(&b.0.is_nan()))
    });
    match buckets.last() {
        Some(&(ub, _)) if ub == f64::INFINITY => {}
        _ => return f64::NAN,
    }
    // coalesceBuckets: equal upper bounds are summed.
    let mut merged: Vec<(f64, f64)> = Vec::with_capacity(buckets.len());
    for &(ub, count) in buckets.iter() {
        match merged.last_mut() {
            Some(last) if last.0 == ub => last.1 += count,
            _ => merged.push((ub, count)),
        }
    }
    *buckets = merged;
    // ensureMonotonicAndIgnoreSmallDeltas with tolerance 1e-12.
    let mut prev = buckets[0].1;
    for b in buckets.iter_mut().skip(1) {
        let curr = b.1;
        if curr == prev {
            continue;
        }
        if almost_equal(prev, curr, 1e-12) || curr < prev {
            b.1 = prev;
            continue;
        }
        prev = curr;
    }
    if buckets.len() < 2 {
        return f64::NAN;
    }
    let observations = buckets[buckets.len() - 1].1;
    if observations == 0.0 {
        return f64::NAN;
    }
    let mut rank = q * observations;
    let b = go_search(buckets.len() - 1, |i| buckets[i].1 >= rank);
    if b == buckets.len() - 1 {
        return buckets[buckets.len() - 2].0;
    }
    if b == 0 && buckets[0].0 <= 0.0 {
        return buckets[0].0;
    }
    let mut bucket_start = 0.0;
    let bucket_end = buckets[b].0;
    let mut count = buckets[b].1;
    if b > 0 {
        bucket_start = buckets[b - 1].0;
        count -= buckets[b - 1].1;
        rank -= buckets[b - 1].1;
    }
    bucket_start + (bucket_end - bucket_start) * (rank / count)
}

/// Go's `strconv.ParseFloat(s, 64)` for `le` values: decimal forms, `Inf`/`Infinity`/`NaN`
/// in any case with an optional sign; out-of-range values are errors, as in Go. Hex floats
/// and underscores, which Go also reads, are treated as unparsable (no `le` uses them).
pub(super) fn go_parse_float(s: &str) -> Option<f64> {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    let lower = body.to_ascii_lowercase();
    if lower == "nan" && body.len() != s.len() {
        return None; // Go takes no sign before NaN
    }
    let special = matches!(lower.as_str(), "inf" | "infinity" | "nan");
    if !special
        && !body
            .bytes()
            .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'))
    {
        return None;
    }
    let v: f64 = s.parse().ok()?;
    if v.is_infinite() && !special {
        return None; // ErrRange
    }
    Some(v)
}

/// Go's `math.normalize`: subnormals scaled into the normal range.
fn normalize(x: f64) -> (f64, i64) {
    if x.abs() < f64::MIN_POSITIVE {
        (x * (1u64 << 52) as f64, -52)
    } else {
        (x, 0)
    }
}

/// Go's `math.Frexp`: `x = frac * 2^exp` with `|frac|` in [0.5, 1).
fn frexp(x: f64) -> (f64, i64) {
    if x == 0.0 || x.is_nan() || x.is_infinite() {
        return (x, 0);
    }
    let (x, mut exp) = normalize(x);
    let mut bits = x.to_bits();
    exp += ((bits >> 52) & 0x7ff) as i64 - 1023 + 1;
    bits &= !(0x7ffu64 << 52);
    bits |= 1022u64 << 52;
    (f64::from_bits(bits), exp)
}

/// Go's `math.Ldexp`: `frac * 2^exp` with a single rounding.
fn ldexp(frac: f64, exp: i64) -> f64 {
    if frac == 0.0 || frac.is_nan() || frac.is_infinite() {
        return frac;
    }
    let (frac, e) = normalize(frac);
    let mut exp = exp.saturating_add(e);
    let mut bits = frac.to_bits();
    exp = exp.saturating_add(((bits >> 52) & 0x7ff) as i64 - 1023);
    if exp < -1075 {
        return 0f64.copysign(frac);
    }
    if exp > 1023 {
        return f64::INFINITY.copysign(frac);
    }
    let mut m = 1.0;
    if exp < -1022 {
        exp += 53;
        m = 1.0 / (1u64 << 53) as f64;
    }
    bits &= !(0x7ffu64 << 52);
    bits |= ((exp + 1023) as u64) << 52;
    m * f64::from_bits(bits)
}

/// Go's `math.isOddInt`.
fn is_odd_int(v: f64) -> bool {
    // Every float from 2^53 up is an even integer.
    v.fract() == 0.0 && v.abs() < 9_007_199_254_740_992.0 && (v.trunc() as i64) & 1 == 1
}

/// Go's `math.Pow` (pure-Go algorithm, used on amd64 and arm64). Integer exponents are an
/// exact port (repeated squaring on the mantissa, Go 1.25 and earlier); a fractional
/// exponent other than ±0.5 goes through `exp(yf * ln(x))`, whose last bit may differ
/// from Go's `Exp`/`Log`.
pub(super) fn go_pow(x: f64, y: f64) -> f64 {
    if y == 0.0 || x == 1.0 {
        return 1.0;
    }
    if x.is_nan() || y.is_nan() {
        return f64::NAN;
    }
    if x == 0.0 {
        if y < 0.0 {
            return if is_odd_int(y) {
                f64::INFINITY.copysign(x)
            } else {
                f64::INFINITY
            };
        }
        return if is_odd_int(y) { x } else { 0.0 };
    }
    if y.is_infinite() {
        return if x == -1.0 {
            1.0
        } else if (x.abs() < 1.0) == (y == f64::INFINITY) {
            0.0
        } else {
            f64::INFINITY
        };
    }
    if x.is_infinite() {
        if x == f64::NEG_INFINITY {
            return go_pow(1.0 / x, -y);
        }
        return if y < 0.0 { 0.0 } else { f64::INFINITY };
    }
    if y == 0.5 {
        return x.sqrt();
    }
    if y == -0.5 {
        return 1.0 / x.sqrt();
    }
    let (mut yi, mut yf) = (y.abs().trunc(), y.abs().fract());
    if yf != 0.0 && x < 0.0 {
        return f64::NAN;
    }
    if yi >= 9_223_372_036_854_775_808.0 {
        return if x == -1.0 {
            1.0
        } else if (x.abs() < 1.0) == (y > 0.0) {
            0.0
        } else {
            f64::INFINITY
        };
    }
    let mut a1 = 1.0;
    let mut ae: i64 = 0;
    if yf != 0.0 {
        if yf > 0.5 {
            yf -= 1.0;
            yi += 1.0;
        }
        a1 = (yf * x.ln()).exp();
    }
    let (mut x1, mut xe) = frexp(x);
    let mut i = yi as i64;
    while i != 0 {
        if !(-(1 << 12)..=(1 << 12)).contains(&xe) {
            ae += xe;
            break;
        }
        if i & 1 == 1 {
            a1 *= x1;
            ae += xe;
        }
        x1 *= x1;
        xe <<= 1;
        if x1 < 0.5 {
            x1 += x1;
            xe -= 1;
        }
        i >>= 1;
    }
    if y < 0.0 {
        a1 = 1.0 / a1;
        ae = -ae;
    }
    ldexp(a1, ae)
}

/// A binary heap driven by a "less" function, with Go's `container/heap` operations, so
/// that `topk`/`bottomk` keep the same series as Prometheus among equal values.
pub(super) struct GoHeap<T> {
    pub items: Vec<T>,
    less: fn(&T, &T) -> bool,
}

impl<T> GoHeap<T> {
    pub fn new(less: fn(&T, &T) -> bool) -> Self {
        Self {
            items: Vec::new(),
            less,
        }
    }

    pub fn push(&mut self, x: T) {
        self.items.push(x);
        self.up(self.items.len() - 1);
    }

    /// `heap.Fix(h, 0)` after replacing the root.
    pub fn fix_root(&mut self) {
        if !self.down(0) {
            self.up(0);
        }
    }

    fn up(&mut self, mut j: usize) {
        while j > 0 {
            let i = (j - 1) / 2;
            if !(self.less)(&self.items[j], &self.items[i]) {
                break;
            }
            self.items.swap(i, j);
            j = i;
        }
    }

    fn down(&mut self, i0: usize) -> bool {
        let n = self.items.len();
        let mut i = i0;
        loop {
            let j1 = 2 * i + 1;
            if j1 >= n {
                break;
            }
            let mut j = j1;
            let j2 = j1 + 1;
            if j2 < n && (self.less)(&self.items[j2], &self.items[j1]) {
                j = j2;
            }
            if !(self.less)(&self.items[j], &self.items[i]) {
                break;
            }
            self.items.swap(i, j);
            i = j;
        }
        i > i0
    }

    /// `sort.Sort(sort.Reverse(h))`. Go's pdqsort sorts up to 12 elements by insertion, so
    /// small k (the usual case) gets Go's exact order of ties from the same insertion sort;
    /// a larger heap is sorted in O(n log n) (`topk(1e18, …)` over 100k series was
    /// quadratic), ties in heap order, as Go leaves them unspecified.
    pub fn into_reverse_sorted(mut self) -> Vec<T> {
        let less = self.less;
        if self.items.len() > 12 {
            // `less` with NaNs is not a strict order (NaN is less than everything, itself
            // included): as a total order, NaN first, then by `less`.
            let order = |a: &T, b: &T| match (less(a, b), less(b, a)) {
                (true, false) => std::cmp::Ordering::Less,
                (false, true) => std::cmp::Ordering::Greater,
                _ => std::cmp::Ordering::Equal,
            };
            self.items.sort_by(|a, b| order(b, a));
            return self.items;
        }
        for i in 1..self.items.len() {
            let mut j = i;
            while j > 0 && less(&self.items[j - 1], &self.items[j]) {
                self.items.swap(j, j - 1);
                j -= 1;
            }
        }
        self.items
    }
}
