//! Kubernetes resource quantities: cpu such as `"500m"` or `"2"`, memory such
//! as `"512Mi"`, `"4Gi"` or `"1G"`.
//!
//! A quantity is a decimal number (optionally with a fraction or an exponent
//! such as `1e3`) followed by at most one suffix: a binary one (`Ki`, `Mi`,
//! `Gi`, `Ti`, `Pi`, `Ei`) or a decimal one (`n`, `u`, `m`, `k`, `M`, `G`, `T`,
//! `P`, `E`). Negative values are rejected because no resource request can be
//! negative.

use std::fmt;

/// Error for a value that is not a valid quantity of the expected kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} quantity `{value}`: {reason}")]
pub struct QuantityError {
    /// `cpu` or `memory`.
    pub kind: QuantityKind,
    /// The rejected text.
    pub value: String,
    /// What is wrong with it and what was expected.
    pub reason: &'static str,
}

/// Which resource a quantity measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuantityKind {
    /// CPUs, such as `"500m"` (half a CPU).
    Cpu,
    /// Bytes, such as `"64Mi"`.
    Memory,
}

impl fmt::Display for QuantityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            QuantityKind::Cpu => "cpu",
            QuantityKind::Memory => "memory",
        })
    }
}

/// Nano-units (10^-9) per unit.
const NANO: u128 = 1_000_000_000;

/// Parses a cpu quantity into billionths of a CPU, the unit of Docker's
/// `NanoCpus`: `"500m"` is 500 000 000, `"2"` is 2 000 000 000.
///
/// # Errors
///
/// Fails when the text is not a quantity, is zero or negative, or is too large
/// for a `u64`.
pub fn parse_cpu_nanos(value: &str) -> Result<u64, QuantityError> {
    let nanos = parse_nano_units(value, QuantityKind::Cpu)?;
    to_u64(nanos, value, QuantityKind::Cpu)
}

/// Parses a memory quantity into bytes: `"64Mi"` is 67 108 864, `"1G"` is
/// 1 000 000 000. A fraction of a byte rounds up, as Kubernetes does.
///
/// # Errors
///
/// Fails when the text is not a quantity, is zero or negative, or is too large
/// for a `u64`.
pub fn parse_memory_bytes(value: &str) -> Result<u64, QuantityError> {
    let nanos = parse_nano_units(value, QuantityKind::Memory)?;
    to_u64(nanos.div_ceil(NANO), value, QuantityKind::Memory)
}

fn to_u64(number: u128, value: &str, kind: QuantityKind) -> Result<u64, QuantityError> {
    u64::try_from(number).map_err(|_| QuantityError {
        kind,
        value: value.to_owned(),
        reason: "too large",
    })
}

/// Parses a quantity into nano-units, exactly, with integer arithmetic.
fn parse_nano_units(value: &str, kind: QuantityKind) -> Result<u128, QuantityError> {
    let error = |reason| QuantityError {
        kind,
        value: value.to_owned(),
        reason,
    };
    const EXPECTED: &str = "expected a number with an optional suffix, such as 500m, 2, 64Mi or 1G";

    let number_len = value
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(value.len());
    let (number, suffix) = value.split_at(number_len);
    if number.is_empty() || number == "." || number.matches('.').count() > 1 {
        return Err(error(EXPECTED));
    }
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.len() + fraction.len() > 30 {
        return Err(error("too many digits"));
    }

    // mantissa * 10^scale is the number before the suffix.
    let digits = format!("{whole}{fraction}");
    let mantissa: u128 = digits.parse().map_err(|_| error(EXPECTED))?;
    let mut scale = -(fraction.len() as i32);

    let multiplier: u128 = match suffix {
        "" => 1,
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        "Ti" => 1 << 40,
        "Pi" => 1 << 50,
        "Ei" => 1 << 60,
        _ => {
            let (decimal_scale, rest) = decimal_suffix(suffix).ok_or_else(|| error(EXPECTED))?;
            if !rest.is_empty() {
                return Err(error(EXPECTED));
            }
            scale += decimal_scale;
            1
        }
    };

    // Convert to nano-units: shift the decimal scale by 9.
    scale += 9;
    let scaled = if scale >= 0 {
        10u128
            .checked_pow(scale as u32)
            .and_then(|factor| mantissa.checked_mul(factor))
            .and_then(|n| n.checked_mul(multiplier))
            .ok_or_else(|| error("too large"))?
    } else {
        let divisor = 10u128
            .checked_pow((-scale) as u32)
            .ok_or_else(|| error("too many fractional digits"))?;
        let product = mantissa
            .checked_mul(multiplier)
            .ok_or_else(|| error("too large"))?;
        product.div_ceil(divisor)
    };
    if scaled == 0 {
        return Err(error("must be greater than zero"));
    }
    Ok(scaled)
}

/// Returns the power of ten of a decimal suffix or exponent, and what follows
/// it.
fn decimal_suffix(suffix: &str) -> Option<(i32, &str)> {
    let power = match suffix {
        "n" => -9,
        "u" => -6,
        "m" => -3,
        "k" => 3,
        "M" => 6,
        "G" => 9,
        "T" => 12,
        "P" => 15,
        "E" => 18,
        _ => {
            let exponent = suffix.strip_prefix(['e', 'E'])?;
            let digits = exponent.strip_prefix('+').unwrap_or(exponent);
            if digits.is_empty() || digits.len() > 3 {
                return None;
            }
            let is_negative = digits.starts_with('-');
            let magnitude = digits.trim_start_matches('-');
            if magnitude.is_empty() || !magnitude.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let power: i32 = magnitude.parse().ok()?;
            return Some((if is_negative { -power } else { power }, ""));
        }
    };
    Some((power, ""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_quantities() {
        assert_eq!(parse_cpu_nanos("500m"), Ok(500_000_000));
        assert_eq!(parse_cpu_nanos("2"), Ok(2_000_000_000));
        assert_eq!(parse_cpu_nanos("0.5"), Ok(500_000_000));
        assert_eq!(parse_cpu_nanos("1.25"), Ok(1_250_000_000));
        assert_eq!(parse_cpu_nanos("100n"), Ok(100));
        assert_eq!(parse_cpu_nanos("250000u"), Ok(250_000_000));
        assert_eq!(
            parse_cpu_nanos("1e3m"),
            Err(QuantityError {
                kind: QuantityKind::Cpu,
                value: "1e3m".into(),
                reason: "expected a number with an optional suffix, such as 500m, 2, 64Mi or 1G",
            })
        );
    }

    #[test]
    fn memory_quantities() {
        assert_eq!(parse_memory_bytes("64Mi"), Ok(67_108_864));
        assert_eq!(parse_memory_bytes("4Gi"), Ok(4 * 1024 * 1024 * 1024));
        assert_eq!(parse_memory_bytes("1G"), Ok(1_000_000_000));
        assert_eq!(parse_memory_bytes("512M"), Ok(512_000_000));
        assert_eq!(parse_memory_bytes("128974848"), Ok(128_974_848));
        assert_eq!(parse_memory_bytes("129e6"), Ok(129_000_000));
        assert_eq!(parse_memory_bytes("1.5Ki"), Ok(1536));
        assert_eq!(parse_memory_bytes("1k"), Ok(1000));
        assert_eq!(parse_memory_bytes("1E"), Ok(1_000_000_000_000_000_000));
    }

    #[test]
    fn fraction_of_a_byte_rounds_up() {
        assert_eq!(parse_memory_bytes("1500m"), Ok(2));
        assert_eq!(parse_memory_bytes("0.1"), Ok(1));
    }

    #[test]
    fn invalid_quantities_name_the_value() {
        for bad in [
            "", "abc", "-1", "1.2.3", "5 Mi", "5mi", "5Mb", "0", "0m", "1e", "1e-", ".", "1Ki1",
        ] {
            let err = parse_memory_bytes(bad).unwrap_err();
            assert_eq!(err.value, bad, "for {bad:?}");
            assert!(err.to_string().contains(&format!("`{bad}`")), "for {bad:?}");
        }
    }

    #[test]
    fn too_large_is_an_error_not_a_wrap() {
        assert_eq!(parse_memory_bytes("100Ei").unwrap_err().reason, "too large");
        assert!(parse_cpu_nanos("99999999999999999999").is_err());
    }
}
