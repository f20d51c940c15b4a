//! Grafana's credential formats, as the mock AMG issues them and the mock Grafana checks
//! them (amg-grafana-exact.md "Tokens").
//!
//! - Service-account token (Grafana `pkg/components/satokengen`): `glsa_`, 32
//!   alphanumerics, `_`, 8 hex digits, the hex being the **little-endian** bytes of the
//!   IEEE CRC32 of `glsa_<secret>`. That AMG's `key` is such a token is inferred from
//!   third-party configurations.
//! - Legacy API key (`pkg/components/apikeygen`): standard base64 of
//!   `{"k":"<32 alphanumerics>","n":"<key name>","id":<org id>}`, so it starts `eyJrIjoi`.

/// IEEE CRC32 (the polynomial Go's `crc32.ChecksumIEEE` uses), bitwise: the mock hashes a
/// few dozen bytes per token, so no table is needed.
pub fn crc32_ieee(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

const ALNUM: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// `n` random ASCII letters and digits (from v4 UUIDs' random bytes; the slight modulo
/// bias does not matter for a mock's secrets).
pub fn random_alnum(n: usize) -> String {
    let mut out = String::with_capacity(n);
    while out.len() < n {
        for b in uuid::Uuid::new_v4().as_bytes() {
            if out.len() == n {
                break;
            }
            out.push(ALNUM[usize::from(*b) % ALNUM.len()] as char);
        }
    }
    out
}

/// A service-account token around `secret` (32 alphanumerics).
pub fn service_account_token_from(secret: &str) -> String {
    let key = format!("glsa_{secret}");
    let crc = crc32_ieee(key.as_bytes());
    format!("{key}_{}", hex::encode(crc.to_le_bytes()))
}

/// A fresh service-account token.
pub fn new_service_account_token() -> String {
    service_account_token_from(&random_alnum(32))
}

/// Whether `token` is a well-formed service-account token whose checksum matches (what
/// Grafana's `satokengen.Decode` checks before looking the token up).
pub fn is_valid_service_account_token(token: &str) -> bool {
    let Some(rest) = token.strip_prefix("glsa_") else {
        return false;
    };
    let Some((secret, checksum)) = rest.rsplit_once('_') else {
        return false;
    };
    secret.len() == 32
        && secret.bytes().all(|b| b.is_ascii_alphanumeric())
        && checksum.len() == 8
        && service_account_token_from(secret).ends_with(&format!("_{checksum}"))
}

/// A fresh legacy API key named `name` in org 1.
pub fn new_api_key(name: &str) -> String {
    let body = serde_json::json!({ "k": random_alnum(32), "n": name, "id": 1 });
    // Go's encoder writes these three keys in this order; serde_json's map is sorted, so
    // write the document by hand to keep `eyJrIjoi` (`{"k":"`) at the front.
    let doc = format!(r#"{{"k":{},"n":{},"id":1}}"#, body["k"], body["n"]);
    base64_std(doc.as_bytes())
}

/// Standard base64 with padding (RFC 4648 §4), as Go's `base64.StdEncoding`.
pub fn base64_std(data: &[u8]) -> String {
    const TABLE: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(TABLE[(n >> 18) as usize & 63] as char);
        out.push(TABLE[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 {
            TABLE[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if chunk.len() > 2 {
            TABLE[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_the_ieee_check_value() {
        assert_eq!(crc32_ieee(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32_ieee(b""), 0);
    }

    #[test]
    fn service_account_token_has_grafanas_shape_and_checksum() {
        let t = new_service_account_token();
        let re = regex::Regex::new(r"^glsa_[A-Za-z0-9]{32}_[0-9a-f]{8}$").unwrap();
        assert!(re.is_match(&t), "{t}");
        assert!(is_valid_service_account_token(&t));
        // The checksum is the little-endian CRC32 of `glsa_<secret>`.
        let secret = "a".repeat(32);
        let crc = crc32_ieee(format!("glsa_{secret}").as_bytes());
        let le = format!(
            "{:02x}{:02x}{:02x}{:02x}",
            crc & 0xff,
            (crc >> 8) & 0xff,
            (crc >> 16) & 0xff,
            crc >> 24
        );
        assert_eq!(
            service_account_token_from(&secret),
            format!("glsa_{secret}_{le}")
        );
        // A flipped secret character no longer matches its checksum.
        let mut bad = t.clone().into_bytes();
        bad[5] = if bad[5] == b'a' { b'b' } else { b'a' };
        assert!(!is_valid_service_account_token(
            &String::from_utf8(bad).unwrap()
        ));
        assert!(!is_valid_service_account_token("glsa_short_00000000"));
        assert!(!is_valid_service_account_token("eyJrIjoi"));
    }

    #[test]
    fn api_key_is_base64_json_starting_like_grafanas() {
        let k = new_api_key("run-1");
        assert!(k.starts_with("eyJrIjoi"), "{k}");
        assert_eq!(base64_std(b"f"), "Zg==");
        assert_eq!(base64_std(b"fo"), "Zm8=");
        assert_eq!(base64_std(b"foo"), "Zm9v");
        assert_eq!(base64_std(b"foobar"), "Zm9vYmFy");
    }
}
